"""The transform stage: assemble the dbt project (hand-written models plus staging generated
from the catalog) and run it over the validated lake into curated Parquet."""
