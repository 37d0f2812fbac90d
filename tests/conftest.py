"""Shared fixtures. Airflow is pointed at a throw-away home before anything imports it."""
from __future__ import annotations

import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest_plugins = ("tiers",)  # each test's tier (unit, integration, system) from its fixtures: tests/tiers.py

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="kcdata-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")

from tiers import shared_stack  # noqa: E402

from orchestration.airflow_env import configure  # noqa: E402

configure(_AIRFLOW_HOME)


def _share_the_system_keys() -> None:
    """In-process stages and the running system's services use one set of keys (common/keys.py):
    the system's keys file, made now if this is a fresh machine. Tests of rotation use their own."""
    from common.keys import KEYS_FILE_VARIABLE, ensure_keys_file
    from stack.layout import get_layout

    keys = get_layout().keys_file
    ensure_keys_file(keys)
    os.environ[KEYS_FILE_VARIABLE] = str(keys)


_share_the_system_keys()


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh lake, inbox and catalog store under tmp_path; returns the Paths."""
    from common.settings import get_paths

    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path / "inbox"))
    monkeypatch.delenv("KCDATA_CATALOG_URL", raising=False)
    return get_paths()


@pytest.fixture(scope="session")
def s3_store():
    """(bucket, AWS variables) of a real S3 server, once per session: the running system's
    SeaweedFS, started alone when the system is not running (`stack.ensure_s3`, stopped at the
    end unless the stack is shared: tiers.shared_stack); or the S3 store the environment names
    (`AWS_ENDPOINT_URL` with its keys, and `TEST_S3_BUCKET`)."""
    if os.environ.get("AWS_ENDPOINT_URL") and os.environ.get("TEST_S3_BUCKET"):
        yield os.environ["TEST_S3_BUCKET"], {}
        return
    from stack import down, ensure_s3, status
    from stack.seaweedfs import BUCKET

    was_running = status().running
    env = ensure_s3()
    yield BUCKET, env
    if not was_running and not status().running and not shared_stack():
        down()


@pytest.fixture
def s3_lake(s3_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh lake under a unique prefix of the bucket, a local inbox, work folder and catalog."""
    from common.settings import get_paths

    bucket, env = s3_store
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KCDATA_LAKE", f"s3://{bucket}/test-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("KCDATA_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("KCDATA_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    return get_paths()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (once per test session)."""
    from orchestration.airflow_env import migrate_metadata_db

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


class StationsApi:
    """A real HTTP JSON API on 127.0.0.1, paginated by page number, needing a bearer token: the
    kind of source `kind: http_api` entries pull. `records` may be changed by a test."""

    TOKEN = "test-token-not-secret"

    def __init__(self) -> None:
        self.records = [{"station_code": f"ZSC{i:03d}", "station_name": f"测试站{i}", "district": "黄埔区"} for i in range(1, 121)]
        self.requests = 0

    def handler(self):
        import json
        from http.server import BaseHTTPRequestHandler
        from urllib.parse import parse_qs, urlsplit

        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                api.requests += 1
                url = urlsplit(self.path)
                if self.headers.get("Authorization") != f"Bearer {api.TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                query = parse_qs(url.query)
                page, size = int(query.get("page", ["1"])[0]), int(query.get("page_size", ["50"])[0])
                body = json.dumps({"data": api.records[(page - 1) * size: page * size]}, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


STATIONS_ENTRY = """\
code: KC-STHJ-901
table: monitoring_stations_api
name: 空气质量监测站名录（接口）
name_en: Air-quality monitoring stations (API)
category: 基础信息资源/生态环境/大气环境/监测站点
provider: ecology_environment
summary: 监测站名录，由生态环境分局的数据接口每日提供。
format: 服务接口
update_cycle: 每日
published_at: 2026-11-01
grade: 一般
share: {{type: 无条件共享, method: 共享平台接口}}
open: {{type: 无条件开放}}
key: [station_code]
source: {{kind: http_api, url: "http://127.0.0.1:{port}/v1/stations", records_path: data, connection: kcdata_stations_api,
         auth: {{style: bearer}}, pagination: {{style: page, size: 50}}}}
items:
  - {{name: 监测站编码, code: station_code, type: C, sensitivity: public, required: true, pattern: '^ZSC\\d{{3}}$'}}
  - {{name: 监测站名称, code: station_name, type: C, sensitivity: public, required: true}}
  - {{name: 所在区, code: district, type: C, sensitivity: public}}
"""


@pytest.fixture(scope="session")
def stations_api():
    """The HTTP source of the session's pulled test entry, served for the whole session."""
    import threading
    from http.server import ThreadingHTTPServer

    api = StationsApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()


@pytest.fixture(scope="session")
def reconcile_cron() -> str:
    """The reconciliation schedule of every running system of this session: once a day, 12 hours
    from now, so that no reconciliation run of every ingest DAG happens while a test watches. One
    value for the session: a system restarted with another cron would start the reconciliation run
    it just missed."""
    from orchestration.topology import reconcile_cron_far_from

    return reconcile_cron_far_from(datetime.now(timezone.utc))


@pytest.fixture(scope="session")
def system(tmp_path_factory, smtp_server, stations_api, reconcile_cron):
    """The running system (supervisord, PostgreSQL, Redis, Solr, CKAN, Airflow), once per session,
    with a lake, inbox and catalog of this session and Airflow's SMTP pointed at `smtp_server`.

    A system this session started is stopped at the end (data kept), unless another pytest process
    shares it (tiers.shared_stack: scripts/test.sh stops it after both); one that was already
    running, e.g. a developer's, is left running (its services restart with the session's settings)."""
    import json
    import shutil
    from unittest import mock

    from common.settings import PROJECT_ROOT
    from stack import down, status

    root = tmp_path_factory.mktemp("system")
    catalog_dir = root / "catalog"
    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", catalog_dir)
    (catalog_dir / "ecology_environment" / "monitoring_stations_api.yaml").write_text(
        STATIONS_ENTRY.format(port=stations_api.port), encoding="utf-8")
    env = {
        "KCDATA_LAKE": str(root / "lake"), "KCDATA_INBOX": str(root / "inbox"), "KCDATA_CATALOG_DIR": str(catalog_dir),
        "AIRFLOW__SMTP__SMTP_HOST": "127.0.0.1", "AIRFLOW__SMTP__SMTP_PORT": str(smtp_server.port),
        "AIRFLOW__SMTP__SMTP_STARTTLS": "False", "AIRFLOW__SMTP__SMTP_SSL": "False",
        "AIRFLOW__SMTP__SMTP_MAIL_FROM": "kcdata@bureau.example.gov.cn",
        # reconciliation runs once a day, 12 hours from now, so that a test sees the delivery events themselves
        "KCDATA_RECONCILE_CRON": reconcile_cron,
        # the pulled test entry's credentials, as an Airflow connection in the environment
        "AIRFLOW_CONN_KCDATA_STATIONS_API": json.dumps({"conn_type": "http", "password": StationsApi.TOKEN}),
    }
    was_running = status().running
    with mock.patch.dict(os.environ, env):  # only while the services are given their settings
        from system.running import up

        client = up(report=lambda _: None)
    yield SystemHandle(root=root, catalog_dir=catalog_dir, api=client, smtp=smtp_server, env=env, started_here=not was_running)
    if not was_running and not shared_stack():
        down()


class SystemHandle:
    """What a test of the running system needs: its folders, a signed-in Airflow client, the mail,
    and whether this session started it (and so stops it at its end)."""

    def __init__(self, root: Path, catalog_dir: Path, api, smtp: MailSink, env: dict[str, str], started_here: bool = False) -> None:
        self.root, self.catalog_dir, self.api, self.smtp, self.env = root, catalog_dir, api, smtp, env
        self.started_here = started_here

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


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright (no browser download), once per session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def processes():
    """`processes(*commands, timeout=...)`: programs of ours (`kcdata` commands, the benchmark) started
    at the same moment as processes of their own, each answered with its CompletedProcess (output
    merged). Whole programs racing for the store's locks: the integration tier (tests/tiers.py).
    Any still running at the end of the test is killed."""
    import subprocess

    started: list[subprocess.Popen] = []

    def run_at_once(*commands: list[str], timeout: float = 900, cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
        env = {**os.environ, "COLUMNS": "200", "GX_ANALYTICS_ENABLED": "False"}
        procs = [subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for command in commands]
        started.extend(procs)
        outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
        return [subprocess.CompletedProcess(command, proc.returncode, output)
                for command, proc, output in zip(commands, procs, outputs, strict=True)]

    yield run_at_once
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def mark_delivered():
    """`mark_delivered(inbox)`: the `.ready` marker beside every waiting file, as departments do."""
    return _mark_delivered


def _mark_delivered(inbox: Path) -> list[Path]:
    """Write the `.ready` marker beside every file waiting in `inbox/<table>/`, as departments do
    when a delivery is complete (the ingest DAGs land only marked files)."""
    from connectors.inbox import MARKER_SUFFIXES, READY_SUFFIX

    marked = []
    for path in sorted(Path(inbox).glob("*/*")):
        if path.parent.name.startswith("."):  # .manifests/ and other folders of ours
            continue
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(MARKER_SUFFIXES):
            Path(f"{path}{READY_SUFFIX}").touch()
            marked.append(path)
    return marked
