"""irm-models: predict what a regular customer will order, in context."""

__version__ = "0.1.0"
