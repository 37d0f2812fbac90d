"""Concurrent work is safe: real `kcdata ingest` processes started at the same moment, as the
Airflow scheduler, the CLI and several workers would, never crash, never lose or duplicate a row
or a version, and a fresh catalog is migrated once.

Each scenario starts the processes together (they all import the stack, then race for the
catalog, the lake and the GX context), waits for all of them, then checks the catalog and the lake.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.entries import get_resource
from catalog.store import CatalogStore
from common.checksums import sha256_file
from samples.generate import generate_resource

KCDATA = Path(sys.executable).with_name("kcdata")
SAME = "KC-CSGL-002"  # street-light faults: CSV UTF-8, quick to validate
THREE = ("KC-WSJK-001", "KC-CSGL-002", "KC-STHJ-001")  # JSON, CSV UTF-8, CSV UTF-8 BOM
ROWS = 300


@dataclass(frozen=True)
class Sent:
    code: str
    path: Path
    rows: int
    fingerprint: str


def _sample(code: str, folder: Path, seed: int) -> Sent:
    """A departmental file of `code` made by the sample generator (different seed, different file)."""
    result = generate_resource(get_resource(code), folder, rows=ROWS, seed=seed)
    return Sent(code, result.path, result.rows, sha256_file(result.path))


def _ingest_at_once(processes, *jobs: tuple[str, Path]) -> list[subprocess.CompletedProcess]:
    """One `kcdata ingest CODE FILE` process per job, started at the same moment; waits for all."""
    results = processes(*[[str(KCDATA), "ingest", code, str(path)] for code, path in jobs])
    return [subprocess.CompletedProcess(list(job), r.returncode, r.stdout) for job, r in zip(jobs, results, strict=True)]


def _answered(results: list[subprocess.CompletedProcess]) -> None:
    """Every process ended with a message and exit 0 or 1; never a traceback, never exit 2."""
    for r in results:
        assert "Traceback" not in r.stdout, r.stdout
        assert r.returncode in (0, 1), f"{r.args}: exit {r.returncode}\n{r.stdout}"
        if r.returncode == 1:
            assert "error:" in r.stdout or "refused:" in r.stdout, r.stdout


def _accounted(store: CatalogStore, sent: list[Sent]) -> None:
    """Every file sent has exactly one version; accepted + quarantined = rows sent, in the catalog
    and in the lake; version numbers are 1..n without duplicates."""
    import pyarrow.parquet as pq

    for code in {s.code for s in sent}:
        _, versions, _ = store.resource(code)
        assert [v.version for v in versions] == list(range(1, len(versions) + 1)), [v.version for v in versions]
        mine = [s for s in sent if s.code == code]
        assert sorted(v.fingerprint for v in versions) == sorted(s.fingerprint for s in mine)
        by_fp = {v.fingerprint: v for v in versions}
        for s in mine:
            v = by_fp[s.fingerprint]
            assert v.rows_in == s.rows, (s.path, v.rows_in, s.rows)
            assert v.rows_accepted + v.rows_quarantined == s.rows
            accepted = pq.read_metadata(v.validated_path).num_rows
            quarantined = pq.read_metadata(v.quarantine_path).num_rows
            assert (accepted, quarantined) == (v.rows_accepted, v.rows_quarantined)


def test_same_resource_two_files_at_once_twice(lake, tmp_path, processes):
    sent: list[Sent] = []
    for round_ in (1, 2):
        pair = [_sample(SAME, tmp_path / f"r{round_}-{n}", seed=1000 * round_ + n) for n in (1, 2)]
        assert pair[0].fingerprint != pair[1].fingerprint
        _answered(_ingest_at_once(processes, *[(s.code, s.path) for s in pair]))
        sent += pair
    _accounted(CatalogStore(lake.catalog_url), sent)


def test_three_resources_at_once_into_a_fresh_catalog(lake, tmp_path, processes):
    assert not (lake.lake / "catalog.db").exists()
    sent = [_sample(code, tmp_path / code, seed=7) for code in THREE]
    _answered(_ingest_at_once(processes, *[(s.code, s.path) for s in sent]))
    store = CatalogStore(lake.catalog_url)
    assert {row.code for row, version in store.resources() if version is not None} == set(THREE)
    _accounted(store, sent)


def test_same_file_by_two_processes_is_one_version(lake, tmp_path, processes):
    one = _sample(SAME, tmp_path / "one", seed=11)
    results = _ingest_at_once(processes, (one.code, one.path), (one.code, one.path))
    _answered(results)
    assert [r.returncode for r in results] == [0, 0], [r.stdout for r in results]
    _accounted(CatalogStore(lake.catalog_url), [one])


# --- the lock itself ---------------------------------------------------------------------------

HOLD = """
import sys, time
from catalog.store import CatalogStore
with CatalogStore(sys.argv[1]).resource_lock(sys.argv[2], timeout=5):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(url: str, code: str) -> subprocess.Popen:
    """A process that takes `code`'s lock and sleeps with it (until killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, url, code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_waiting_is_bounded_and_a_killed_holder_holds_nothing(lake):
    from common.errors import KcdataError

    store = CatalogStore(lake.catalog_url)
    holder = _holder(lake.catalog_url, SAME)
    try:
        started = time.monotonic()
        with pytest.raises(KcdataError) as caught, store.resource_lock(SAME, timeout=1.0):
            pass
        assert time.monotonic() - started < 10
        message = str(caught.value)
        assert SAME in message and f"pid {holder.pid}" in message, message
        with store.resource_lock("KC-WSJK-001", timeout=1.0):  # other resources are not held up
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with store.resource_lock(SAME, timeout=5.0):  # the crash left the lock file behind, holding nothing
        with store.resource_lock(SAME, timeout=1.0):  # and it is re-entrant within one run
            pass


def test_an_up_to_date_store_does_no_ddl(lake):
    from sqlalchemy import create_engine, event

    from catalog.store import migrate

    CatalogStore(lake.catalog_url)  # a fresh store: migrated once
    engine = create_engine(lake.catalog_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    migrate(engine)
    writes = [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "INSERT", "UPDATE"))]
    assert statements and not writes, writes


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster of our own (initdb in a temporary folder, Unix socket only, no TCP),
    so this needs neither the portal stack nor a running server; skipped without PostgreSQL."""
    bindir = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are not installed")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="kcdata-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", 55000 + os.getpid() % 1000
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "kcdata", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        options = f"-k {folder} -p {port} -c listen_addresses='' -c fsync=off"
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"),
                        "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a throw-away PostgreSQL: {exc}")
    try:
        yield f"postgresql+psycopg://kcdata@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_catalog(throwaway_postgres, lake, monkeypatch) -> str:
    """A fresh, empty database on the throw-away cluster as the catalog store."""
    import secrets

    import sqlalchemy as sa

    name = f"catalog_{secrets.token_hex(4)}"
    admin = sa.create_engine(throwaway_postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    url = throwaway_postgres.replace("/postgres?", f"/{name}?")
    monkeypatch.setenv("KCDATA_CATALOG_URL", url)
    return url


def test_three_resources_at_once_into_a_fresh_postgresql_catalog(postgres_catalog, lake, tmp_path, processes):
    sent = [_sample(code, tmp_path / code, seed=7) for code in THREE]
    _answered(_ingest_at_once(processes, *[(s.code, s.path) for s in sent]))
    store = CatalogStore(postgres_catalog)
    assert {row.code for row, version in store.resources() if version is not None} == set(THREE)
    _accounted(store, sent)


def test_postgresql_lock_is_bounded_and_dies_with_its_holder(postgres_catalog):
    from common.errors import KcdataError

    store = CatalogStore(postgres_catalog)
    holder = _holder(postgres_catalog, SAME)
    try:
        with pytest.raises(KcdataError) as caught, store.resource_lock(SAME, timeout=1.0):
            pass
        assert SAME in str(caught.value) and f"pid {holder.pid}" in str(caught.value), str(caught.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with store.resource_lock(SAME, timeout=10.0):  # the server released it when the session died
        pass
