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


class MailSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001 - aiosmtpd's hook
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for(self, predicate, timeout: float = 120.0) -> list:
        """The messages matching `predicate(recipients, message)`, once at least one arrived."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(r, m) for r, m in list(self.messages) if predicate(r, m)]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no such e-mail after {timeout:.0f} s; received: {[m['Subject'] for _, m in self.messages]}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    """One SMTP server for the session; the running system's Airflow sends its mail there."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def system(tmp_path_factory, smtp_server):
    """The running system (supervisord, PostgreSQL, Redis, Solr, CKAN, Airflow), once per session,
    with a lake, inbox and catalog of this session and Airflow's SMTP pointed at `smtp_server`.

    A system this session started is stopped at the end (data kept); one that was already running,
    e.g. a developer's, is left running (its services restart with the session's settings)."""
    import shutil
    from unittest import mock

    from common.settings import PROJECT_ROOT
    from stack import down, status

    root = tmp_path_factory.mktemp("system")
    catalog_dir = root / "catalog"
    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", catalog_dir)
    env = {
        "KCDATA_LAKE": str(root / "lake"), "KCDATA_INBOX": str(root / "inbox"), "KCDATA_CATALOG_DIR": str(catalog_dir),
        "AIRFLOW__SMTP__SMTP_HOST": "127.0.0.1", "AIRFLOW__SMTP__SMTP_PORT": str(smtp_server.port),
        "AIRFLOW__SMTP__SMTP_STARTTLS": "False", "AIRFLOW__SMTP__SMTP_SSL": "False",
        "AIRFLOW__SMTP__SMTP_MAIL_FROM": "kcdata@bureau.example.gov.cn",
    }
    was_running = status().running
    with mock.patch.dict(os.environ, env):  # only while the services are given their settings
        from kcdata.system import up

        client = up(report=lambda _: None)
    yield SystemHandle(root=root, catalog_dir=catalog_dir, api=client, smtp=smtp_server, env=env)
    if not was_running:
        down()


class SystemHandle:
    """What a test of the running system needs: its folders, a signed-in Airflow client, the mail."""

    def __init__(self, root: Path, catalog_dir: Path, api, smtp: MailSink, env: dict[str, str]) -> None:
        self.root, self.catalog_dir, self.api, self.smtp, self.env = root, catalog_dir, api, smtp, env

    def paths(self):
        from unittest import mock

        from common.settings import get_paths

        with mock.patch.dict(os.environ, self.env):
            return get_paths()


@pytest.fixture(scope="session")
def portal(system):
    """(ckan_url, api_token) of the local CKAN portal of the running system.

    Always the local stack, never `KCDATA_CKAN_URL`: these tests create and purge datasets."""
    from stack import connection

    return connection(local=True)
