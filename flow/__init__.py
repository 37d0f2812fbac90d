"""The flow: the stages wired as plain functions (land, validate, record, transform, open views,
approvals, alerts, deliveries). It never imports Airflow, orchestration or the service stack:
credentials, run links and "start a run" are handed in by the caller (DAG tasks, the CLI, the web)."""
