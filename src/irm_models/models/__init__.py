"""The models: the LightGBM ranker, the baselines it is measured against, its MLflow wrapper."""

MODEL = "lightgbm"  # the ranker's name in metrics.json, the MLflow metrics and the gate
