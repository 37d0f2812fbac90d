"""Task processes start warm: the scheduler and Celery workers load Great Expectations and dbt once,
and every task process they fork has them (orchestration/warm_imports.py); other Airflow processes
stay light."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stack.layout import PROJECT_ROOT

SETTINGS_DIR = PROJECT_ROOT / "orchestration" / "airflow_settings"
PROBE = """
import json, os, sys
sys.argv = {argv!r}
import airflow_local_settings
print(json.dumps({{"great_expectations": "great_expectations" in sys.modules, "dbt": "dbt.cli.main" in sys.modules,
                  "env": os.environ.get("WARM_IMPORTS", "")}}))
"""


def _airflow_process(argv: list[str]) -> dict:
    """What an Airflow process started as `argv` has loaded once Airflow imported its local settings."""
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SETTINGS_DIR), "PATH": "/usr/bin:/bin", "GX_ANALYTICS_ENABLED": "False"},
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_processes_that_fork_tasks_preload_the_heavy_libraries() -> None:
    from orchestration.warm_imports import forks_tasks

    loaded = _airflow_process(["airflow", "scheduler", "--skip-serve-logs"])  # one real start: the imports cost ~10 s
    assert loaded["great_expectations"] and loaded["dbt"], loaded
    assert "great_expectations" in loaded["env"].split(","), loaded  # the task processes can say so in their log
    assert forks_tasks(["airflow", "celery", "worker", "--without-gossip"])  # a Celery worker preloads the same way


@pytest.mark.parametrize("argv", [["airflow", "api-server"], ["airflow", "dag-processor"], ["airflow", "triggerer"],
                                  ["airflow", "dags", "list"], ["airflow", "celery", "flower"]])
def test_other_airflow_processes_stay_light(argv: list[str]) -> None:
    loaded = _airflow_process(argv)
    assert not loaded["great_expectations"] and not loaded["dbt"] and not loaded["env"], loaded


def test_every_airflow_service_finds_the_local_settings(tmp_path) -> None:
    from stack import airflow
    from stack import secrets as sec
    from stack.layout import Layout

    layout = Layout(tmp_path)
    sec.save(layout.system_env, {})
    sec.save(layout.secrets_file, {sec.PG_AIRFLOW_PASSWORD: "x"})
    assert airflow.environment(layout)["PYTHONPATH"] == str(SETTINGS_DIR)
