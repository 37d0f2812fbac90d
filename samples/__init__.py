"""Deterministic departmental sample files with a known share of bad rows.

`generate_resource` writes the file a department would drop into the inbox, plus a parquet
manifest saying which rows are bad and why, so the pipeline's quarantine can be checked exactly.
"""
from samples.generate import SampleResult, generate_resource

__all__ = ["SampleResult", "generate_resource"]
