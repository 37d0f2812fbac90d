"""Shared fixtures. Airflow is pointed at a throw-away home before anything imports it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="kcdata-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")

from kcdata.airflow_env import configure  # noqa: E402

configure(_AIRFLOW_HOME)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh lake, inbox and catalog store under tmp_path; returns the Paths."""
    from common.settings import get_paths

    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path / "inbox"))
    monkeypatch.delenv("KCDATA_CATALOG_URL", raising=False)
    return get_paths()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (once per test session)."""
    from kcdata.airflow_env import migrate_metadata_db

    migrate_metadata_db()
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def portal():
    """(ckan_url, api_token) of the local CKAN portal, after `stack.up()` (fast when running).

    Always the local stack, never `KCDATA_CKAN_URL`: these tests create and purge datasets.
    A stack this session started is stopped at the end (data kept); one that was already
    running, e.g. a developer's, is left running.
    """
    from stack import connection, down, status, up

    was_running = status().running
    up()
    yield connection(local=True)
    if not was_running:
        down()
