"""Data in and out of the contract: the contract, ingest, source files, the synthetic café
and the adapters of real datasets."""
