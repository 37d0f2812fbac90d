"""Test tiers, set from the fixtures a test uses, never by hand (a pytest plugin of tests/conftest.py).

- `unit`: no service. Libraries run in the test's process on local files (DuckDB, Great
  Expectations, dbt-duckdb, SQLite, Airflow's DAG files parsed without its metadata DB) and
  a short subprocess that talks to nothing; FastAPI's in-process TestClient is no server either.
- `integration`: real services the test starts for itself: a throw-away PostgreSQL or MariaDB,
  an SMTP server, an HTTP server (a stub source, the catalog web), the S3 store (SeaweedFS),
  Airflow's migrated metadata DB.
- `system`: the running system (supervisord, PostgreSQL, Redis, Solr, CKAN, Airflow) or a browser.

A test's tier is the highest tier of the fixtures it uses, directly or through other fixtures.
A fixture that starts a service is listed in SERVICE_FIXTURES; a test that starts a service must
do it through such a fixture (one asked for with `request.getfixturevalue` is not seen: list the
fixture that asks). In a unit test every TCP connection is refused (`unit_tests_stay_offline`).
"""
from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

UNIT, INTEGRATION, SYSTEM = "unit", "integration", "system"
TIERS = (UNIT, INTEGRATION, SYSTEM)  # in rising order: the highest a test needs wins (markers: pyproject.toml)

SERVICE_FIXTURES: dict[str, str] = {
    # integration: a service of the test's own
    "airflow_db": INTEGRATION,  # Airflow's metadata DB, migrated; DAG runs through `dag.test`
    "s3_store": INTEGRATION,  # SeaweedFS (or the S3 store the environment names)
    "smtp_server": INTEGRATION,  # aiosmtpd on 127.0.0.1, for the session
    "smtp": INTEGRATION,  # tests/test_freshness_alerts.py: aiosmtpd on 127.0.0.1, for one test
    "stations_api": INTEGRATION,  # an HTTP JSON source on 127.0.0.1
    "http_source": INTEGRATION,  # tests/connectors/test_http_api.py: the paginated HTTP API stub
    "portal_stub": INTEGRATION,  # tests/portal/test_metadata_quality.py: pages and files over HTTP
    "postgres_server": INTEGRATION,  # a throw-away PostgreSQL cluster (initdb)
    "mariadb_server": INTEGRATION,  # a throw-away MariaDB server
    "db": INTEGRATION,  # tests/connectors: either of the two, by parameter (getfixturevalue hides which)
    "airflow_dag_processor": INTEGRATION,  # tests/test_scale_catalog.py: `airflow dag-processor` on its own DB
    "throwaway_postgres": INTEGRATION,  # tests/test_concurrency.py: a PostgreSQL cluster on a Unix socket
    "web_server": INTEGRATION,  # `python -m web` (uvicorn) over the web tests' data
    "accounts_site": INTEGRATION,  # the same, over the accounts tests' data
    "processes": INTEGRATION,  # whole programs of ours (`kcdata` commands, the benchmark) as processes at once
    # system: the running system, or a browser
    "system": SYSTEM,  # the session's running system (portal, published, ... use it)
    "celery_system": SYSTEM,  # the running system on the CeleryExecutor
    "restartable_s3_store": SYSTEM,  # tests/test_faults_on_s3.py: the running system's S3 store, which the test restarts
    "browser": SYSTEM,  # Chromium through Playwright
}


# fixtures of the running system itself (not only a browser): scripts/test.sh runs the tests that
# use one (marked `running_system`, automatically) in one process, every other test of the
# integration and system tiers in another, at the same time
RUNNING_SYSTEM = "running_system"
RUNNING_SYSTEM_FIXTURES = frozenset({"system", "celery_system", "restartable_s3_store"})

# fixtures that restart the running system (with other settings) or one of its services: their
# modules run after every other module of the system tier, so that the system is restarted (and
# put back) as late as possible, and no other test sees a service of it down
RESTARTS_THE_SYSTEM = frozenset({"celery_system", "restartable_s3_store"})


def tier_of(fixturenames: Iterable[str]) -> str:
    """The highest tier among the service fixtures in `fixturenames` (unit when there is none)."""
    found = [SERVICE_FIXTURES[name] for name in fixturenames if name in SERVICE_FIXTURES]
    return max(found, key=TIERS.index, default=UNIT)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, refuse a tier written by hand, and run the tiers in rising
    order, module by module (a module runs whole, where its highest tier puts it; last, the
    modules that restart the running system)."""
    module_tier: dict[str, tuple[int, bool]] = {}
    for item in items:
        by_hand = [mark.name for mark in item.iter_markers() if mark.name in (*TIERS, RUNNING_SYSTEM)]
        if by_hand:
            raise pytest.UsageError(f"{item.nodeid}: tier {by_hand[0]!r} marked by hand; tests/tiers.py sets it from the fixtures")
        fixturenames = getattr(item, "fixturenames", ())
        tier = tier_of(fixturenames)
        item.add_marker(tier)
        if RUNNING_SYSTEM_FIXTURES & set(fixturenames):
            item.add_marker(RUNNING_SYSTEM)
        module = item.nodeid.split("::", 1)[0]
        module_tier[module] = max(module_tier.get(module, (0, False)), (TIERS.index(tier), bool(RESTARTS_THE_SYSTEM & set(fixturenames))))
    items.sort(key=lambda item: module_tier[item.nodeid.split("::", 1)[0]])  # stable: order within a tier kept


def needed_after_this_module(request: pytest.FixtureRequest, fixture: str) -> bool:
    """Whether a test that runs after this module's tests uses `fixture` (a module fixture that
    changed a shared service need not put it back for nobody)."""
    items = request.session.items
    last = max((i for i, item in enumerate(items) if item.module is request.module), default=len(items))
    return any(fixture in getattr(item, "fixturenames", ()) for item in items[last + 1:])


# scripts/test.sh runs the tests on the running system and the other tests of the integration and
# system tiers in two pytest processes at once (the first mostly wait on the running system, and
# the machine has a core to spare): both share one running system (the other tests' S3 store is
# its), which neither session stops (the script does, after both), and the tests that stop its S3
# store (the S3 fault, the Celery module's `down` at its end) wait until the other process has
# ended; restarting Airflow on the CeleryExecutor leaves the S3 store running, so it need not.
SHARED_STACK = "TEST_SHARED_STACK"  # "1" while two processes share the running system
OTHERS_DONE = "TEST_OTHERS_DONE"  # a file the script writes when the process of the other tests ends


def shared_stack() -> bool:
    """True while another pytest process of the same test run uses the running system."""
    return os.environ.get(SHARED_STACK) == "1"


def wait_for_the_other_tests(timeout: float = 3600) -> None:
    """Before the running system's S3 store is stopped (the S3 fault, the Celery module's `down`),
    wait until no test in the other process can be using it."""
    marker = os.environ.get(OTHERS_DONE)
    if not marker:
        return
    deadline = time.monotonic() + timeout
    while not Path(marker).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the other tests' process did not end within {timeout:.0f} s ({marker} missing)")
        time.sleep(2)


class NoNetworkInUnitTests(ConnectionRefusedError):
    """What a unit test gets for a TCP connection: refused, naming the rule. A ConnectionRefusedError,
    so that code probing for an optional service (`is a system running here?`) sees none and the
    test stays the same whether or not one runs on the machine; a test that needs the service fails
    with this message."""


@pytest.fixture(autouse=True)
def unit_tests_stay_offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a unit test, every TCP (IPv4/IPv6) connection is refused without being tried. Unix
    sockets (asyncio, multiprocessing) stay allowed. Not seen: connections made by child processes
    or by C libraries (libpq)."""
    if request.node.get_closest_marker(UNIT) is None:
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise NoNetworkInUnitTests(errno.ECONNREFUSED, f"{request.node.nodeid} is a unit test (no service fixture, tests/tiers.py): "
                                                           f"no TCP connection to {address!r}")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return errno.ECONNREFUSED
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
