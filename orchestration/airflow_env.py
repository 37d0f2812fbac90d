"""Point Airflow at this project (home, DAG folder, no examples, no internet) before it is imported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common.settings import PROJECT_ROOT


def configure(home: Path | None = None) -> Path:
    """Set the Airflow environment for local runs; explicit settings in the environment win."""
    home = Path(os.environ.get("AIRFLOW_HOME") or home or PROJECT_ROOT / ".airflow")
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    home.mkdir(parents=True, exist_ok=True)
    return home


def migrate_metadata_db() -> None:
    """`airflow db migrate` (idempotent; fast when already current)."""
    configure()
    exe = Path(sys.executable).parent / "airflow"
    env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(exe), "db", "migrate"], check=True, env=env, stdout=subprocess.DEVNULL)
