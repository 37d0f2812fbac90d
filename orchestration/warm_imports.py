"""Heavy libraries loaded once by the Airflow processes that fork task processes.

On Linux an Airflow task process is a fork: of a LocalExecutor worker (itself forked from the
scheduler) or of a Celery worker's pool process. A library the forking process has already imported
is there in the task at no cost, so a task no longer pays Great Expectations' import (~4-6 s) and
dbt's (~2-4 s) each time it starts. Only third-party libraries are loaded: kcdata's own code is
imported by each task, so an edit takes effect at the next task without restarting anything.

Airflow imports `airflow_local_settings` (orchestration/airflow_settings/, on the services'
PYTHONPATH) in every process it starts; it calls `preload_when_forking_tasks()`, which does the work
only in the scheduler and in Celery workers.
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

PRELOADED = (
    "great_expectations",  # validation (the ingest task)
    "dbt.cli.main",  # dbt's runner (the transform task)
    "dbt.adapters.duckdb",
    "duckdb",
    "pyarrow.parquet",
    "pandas",
)
FORKING_COMMANDS = (("scheduler",), ("celery", "worker"))  # `airflow <command>` that fork task processes
PRELOADED_ENV = "WARM_IMPORTS"  # set by the forking process for its task processes (not a setting)


def forks_tasks(argv: Sequence[str]) -> bool:
    """Whether `argv` (an `airflow ...` command line) starts a process whose children run tasks."""
    args = list(argv[1:])
    return any(args[: len(command)] == list(command) for command in FORKING_COMMANDS)


def preload(modules: Sequence[str] = PRELOADED) -> list[str]:
    """Import `modules`; returns those imported. A library that fails to import is left to the task
    that needs it, which then reports the error where its user sees it."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the task that needs it reports the failure, in its own log
            continue
        loaded.append(name)
    return loaded


def preload_when_forking_tasks(argv: Sequence[str] | None = None) -> list[str]:
    """Preload in the scheduler and in Celery workers (nothing elsewhere: the API server, the
    dag-processor, the triggerer and CLI commands stay light). Records what was loaded in
    WARM_IMPORTS, which task processes inherit."""
    if not forks_tasks(sys.argv if argv is None else argv):
        return []
    loaded = preload()
    os.environ[PRELOADED_ENV] = ",".join(loaded)
    return loaded
