"""Fixtures of the catalog web's tests, shared by every tests/web module.

`web_data` runs the real pipeline once per session (land + validate sample files, dbt, open
views) into a temporary lake and SQLite catalog store, so pages have versions, quarantine,
lineage and open views to show. `web_server` serves that state with the real `python -m web`
(uvicorn) on a free port; `page` drives Debian's Chromium through Playwright (`browser`, tests/conftest.py).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import pytest

# The repository root first on the path: an editable install made before web/ existed does not
# map the `web` package (re-run `pip install -e .` to fix that), and pytest puts tests/ on the
# path, where tests/web would otherwise be taken for it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.settings import PROJECT_ROOT  # noqa: E402

ARTIFACTS = PROJECT_ROOT / ".artifacts" / "web"
AIRFLOW_URL = "http://airflow.test:8080"
PORTAL_URL = "http://127.0.0.1:5000"
PASSWORD = "correct horse battery staple"

AIR = "KC-STHJ-001"  # hourly air quality: two passing versions, an open view, published on the portal
TALENT = "KC-RLZY-001"  # talent registry: personal items, 有条件共享, 不予开放 (no open view)
ENTERPRISES = "KC-SCJG-001"  # enterprise registrations: a version made by an Airflow run
TRAFFIC = "KC-JTYS-001"  # traffic flow: one version held back (too many quarantined rows)
RUN = {"dag_id": "ingest__enterprise_registrations", "run_id": "asset_triggered__2026-11-23T08:00:00+00:00", "run_type": "asset_triggered"}


@dataclass
class WebData:
    root: Path
    env: dict[str, str]
    accounts: dict[str, str] = field(default_factory=dict)  # username -> department ('' for an admin)

    def store(self):
        from catalog.store import CatalogStore

        return CatalogStore(self.env["KCDATA_CATALOG_URL"])

    def session_token(self, username: str) -> str:
        """A signed-in browser session of `username`, opened in the store as the login page would."""
        from catalog.accounts import get_account, open_session

        store = self.store()
        return open_session(store, get_account(store, username), client="127.0.0.1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ingest(root: Path) -> None:
    """The pipeline without Airflow, as `kcdata ingest` / `transform` / `open-view` run it."""
    from catalog.entries import get_resource, load_catalog
    from catalog.store import open_store
    from connectors.file_drop import land_file
    from expectations.validate import validate_batch
    from flow.pipeline import land_and_validate, open_views, record, transform
    from samples.generate import generate_resource

    store = open_store()
    store.sync_resources(load_catalog())
    for code, bad_share, seed in ((AIR, 0.02, 1), (AIR, 0.04, 2), (TALENT, 0.02, 1), (TRAFFIC, 0.30, 1)):
        resource = get_resource(code)
        sample = generate_resource(resource, root / "deliveries" / f"{code}-{seed}", rows=120, bad_share=bad_share, seed=seed)
        land_and_validate(resource, sample.path)
    # a version made by an Airflow run (the DAG's task passes its run to `record`)
    resource = get_resource(ENTERPRISES)
    sample = generate_resource(resource, root / "deliveries" / ENTERPRISES, rows=120, bad_share=0.02, seed=1)
    landed = land_file(resource, sample.path)
    record(store, resource, landed, validate_batch(resource, landed.fingerprint), run=RUN)
    transform()
    open_views()
    air = store.latest_version(AIR)
    store.record_approval(get_resource(AIR), "approve", "生态环境分局审核员 reviewer", note="web test")
    store.record_publication(AIR, ckan_id="0000-air", ckan_name="kc-sthj-001", url=f"{PORTAL_URL}/dataset/kc-sthj-001",
                             state="published", version=air.version, fingerprint=air.fingerprint)
    _scores(store)


@dataclass
class _Score:
    """A metadata-quality measurement in the shape catalog.metadata_scores records (the scorer's Score)."""

    points: int
    max: int
    rating: str
    dimensions: dict

    def indicators_json(self) -> list[dict]:
        return [{"dimension": "findability", "indicator": "keywords", "points": 30, "max": 30, "passed": True, "detail": ""}]


def _scores(store) -> None:
    """Two measurements of the enterprises' metadata, a day apart: a rising trend."""
    from catalog.metadata_scores import record_score

    dims = {"findability": {"points": 80, "max": 100}, "reusability": {"points": 100, "max": 125}}
    for day, points, rating in ((22, 250, "sufficient"), (23, 310, "good")):
        record_score(store, ENTERPRISES, _Score(points, 405, rating, dims), f"{PORTAL_URL}/catalog.ttl",
                     at=datetime(2026, 11, day, 8, tzinfo=timezone.utc))


def _accounts(data: WebData) -> None:
    from catalog.accounts import create_account

    store = data.store()
    for username, role, department in (
        ("hr_user", "department_user", "human_resources"),
        ("transport_user", "department_user", "transport"),
        ("bureau_admin", "bureau_admin", None),
    ):
        create_account(store, username, PASSWORD, role, department, display_name=username.replace("_", " "))
        data.accounts[username] = department or ""


@pytest.fixture(scope="session")
def web_data(tmp_path_factory, no_system_home) -> WebData:
    """A lake and catalog store made by the real pipeline from small sample files (about 30 s)."""
    root = tmp_path_factory.mktemp("web")
    env = {
        "KCDATA_LAKE": str(root / "lake"),
        "KCDATA_INBOX": str(root / "inbox"),
        "KCDATA_CATALOG_URL": f"sqlite:///{root / 'lake' / 'catalog.db'}",
        "KCDATA_CATALOG_DIR": str(PROJECT_ROOT / "catalog" / "resources"),
        "KCDATA_AIRFLOW_URL": AIRFLOW_URL,
        "KCDATA_CKAN_URL": PORTAL_URL,
        "KCDATA_SYSTEM_HOME": no_system_home,
    }
    data = WebData(root, env)
    with mock.patch.dict(os.environ, env):
        _ingest(root)
        _accounts(data)
    return data


@pytest.fixture
def web_env(web_data: WebData, monkeypatch: pytest.MonkeyPatch) -> WebData:
    """The session's lake and store as this test's environment (for in-process calls)."""
    for key, value in web_data.env.items():
        monkeypatch.setenv(key, value)
    return web_data


@dataclass
class WebServer:
    url: str
    data: WebData
    log: Path


@contextmanager
def serve(data: WebData, log: Path) -> Iterator[WebServer]:
    """`python -m web` (uvicorn) on a free 127.0.0.1 port over `data`, until the block ends."""
    import httpx

    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "web", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                cwd=PROJECT_ROOT, env={**os.environ, **data.env, "PYTHONUNBUFFERED": "1"}, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the web server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not answer within 60 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield WebServer(url, data, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def web_server(web_data: WebData, tmp_path_factory) -> Iterator[WebServer]:
    """The catalog web over the session's data; stopped at the end."""
    with serve(web_data, tmp_path_factory.mktemp("web-server") / "web.log") as server:
        yield server


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def signed_in_page(browser, web_server: WebServer):
    """`signed_in_page(username)`: a page whose browser carries that account's session cookie."""
    contexts = []

    def open_as(username: str):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        context.add_cookies([{"name": "kcdata_session", "value": web_server.data.session_token(username), "url": web_server.url}])
        contexts.append(context)
        return context.new_page()

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifact():
    """`artifact(name)`: where a test keeps a screenshot for people to look at (.artifacts/web/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return lambda name: ARTIFACTS / name


# ==== accounts (engineer "accounts"): sign-in, approvals, sharing, department problems ==========
# A site of its own, so these tests may approve, reject and share without changing what the
# other web tests see: a copy of the catalog in which patent grants are declared 不予共享 (the
# sample catalog has none), clinics delivered twice (one file quarantining rows, one refused
# whole), and one account per role. Nothing here starts or reaches the running system.

ACCOUNTS_PASSWORD = "correct horse battery staple"
CLINICS = "KC-WSJK-001"  # health: 无条件开放, 无条件共享
PATENTS = "KC-ZSCQ-001"  # intellectual property: declared 不予共享 in this site's catalog copy
ACCOUNTS_ROLES = {
    "health_user": ("department_user", "health"),
    "health_reviewer": ("department_reviewer", "health"),
    "transport_user": ("department_user", "transport"),
    "hr_reviewer": ("department_reviewer", "human_resources"),
    "admin": ("bureau_admin", None),
}


@pytest.fixture(scope="session")
def no_system_home(tmp_path_factory) -> str:
    """Approvals ask a running system for a publish run; the web tests' servers must never reach
    the one on this machine, so they get a state folder of their own (nothing runs there). Set in
    their environment only: the session's own `system` fixture keeps the real one."""
    return str(tmp_path_factory.mktemp("no-system"))


def _catalog_copy(target: Path) -> Path:
    import shutil

    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", target)
    entry = target / "intellectual_property" / "patent_grants.yaml"
    text = entry.read_text(encoding="utf-8")
    before = next(line for line in text.splitlines() if line.startswith("share:"))
    entry.write_text(text.replace(before, "share: {type: 不予共享, condition: 测试：不予共享}"), encoding="utf-8")
    return target


def _accounts_data(root: Path) -> None:
    from catalog.accounts import create_account
    from catalog.entries import get_resource, load_catalog
    from catalog.store import open_store
    from common.problems import Refusal
    from flow.pipeline import land_and_validate
    from samples.generate import generate_resource

    store = open_store()
    store.sync_resources(load_catalog())
    clinics = get_resource(CLINICS)
    land_and_validate(clinics, generate_resource(clinics, root / "deliveries", rows=120, bad_share=0.03, seed=7).path)
    broken = root / "deliveries" / "clinics_broken.json"
    broken.write_text('{"this is": "not a list of records"', encoding="utf-8")
    try:
        land_and_validate(clinics, broken)
    except Refusal:
        pass
    for username, (role, department) in ACCOUNTS_ROLES.items():
        create_account(store, username, ACCOUNTS_PASSWORD, role, department, display_name=username.replace("_", " "))


@pytest.fixture(scope="session")
def accounts_site(tmp_path_factory, no_system_home) -> Iterator[WebServer]:
    """`python -m web` over the accounts tests' own lake, store and catalog copy."""

    root = tmp_path_factory.mktemp("accounts-site")
    env = {
        "KCDATA_LAKE": str(root / "lake"),
        "KCDATA_INBOX": str(root / "inbox"),
        "KCDATA_CATALOG_URL": f"sqlite:///{root / 'lake' / 'catalog.db'}",
        "KCDATA_CATALOG_DIR": str(_catalog_copy(root / "catalog")),
        "KCDATA_AIRFLOW_URL": AIRFLOW_URL,
        "KCDATA_CKAN_URL": PORTAL_URL,
        "KCDATA_SYSTEM_HOME": no_system_home,
    }
    data = WebData(root, env, {u: d or "" for u, (_, d) in ACCOUNTS_ROLES.items()})
    with mock.patch.dict(os.environ, env):
        _accounts_data(root)
    with serve(data, root / "web.log") as server:
        yield server


@pytest.fixture
def accounts_env(accounts_site: WebServer, monkeypatch: pytest.MonkeyPatch) -> WebData:
    """The accounts site's lake, store and catalog as this test's environment (in-process checks)."""
    for key, value in accounts_site.data.env.items():
        monkeypatch.setenv(key, value)
    return accounts_site.data


@pytest.fixture
def sign_in_as(browser, accounts_site: WebServer):
    """`sign_in_as(username)`: a fresh browser page signed in through the /login form."""
    contexts = []

    def open_as(username: str, password: str = ACCOUNTS_PASSWORD):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{accounts_site.url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_load_state()
        return page

    yield open_as
    for context in contexts:
        context.close()
