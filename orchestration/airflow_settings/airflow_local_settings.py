"""Imported by name by every Airflow process of the running system (this folder is on their
PYTHONPATH, set by stack/airflow.py): the scheduler and Celery workers load the heavy libraries
their task processes would otherwise import each time (orchestration/warm_imports.py)."""
from orchestration.warm_imports import preload_when_forking_tasks

preload_when_forking_tasks()
