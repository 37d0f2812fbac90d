"""Connectors: pull departmental data and land it as immutable raw Parquet batches."""
