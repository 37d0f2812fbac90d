"""The running system on Airflow's CeleryExecutor: two workers as separate processes, a Redis
broker and PostgreSQL result backend, the lake on the system's S3 store (SeaweedFS) and the catalog
store in its PostgreSQL, as a distributed deployment runs; deliveries of two departments land in
parallel, each on its own worker, and their rows reach the lake.

Its own module, with its own system: it brings the system up with `KCDATA_EXECUTOR=celery` (one
task slot per worker, so that two tasks at once must run on two workers), and afterwards puts it
back as it found it (stopped, or running with the default LocalExecutor).
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import datetime, timezone
from unittest import mock

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.integration

CODES = ("KC-STHJ-001", "KC-JTYS-001")


@pytest.fixture(scope="module")
def celery_system(tmp_path_factory):
    from common.settings import PROJECT_ROOT
    from kcdata import system
    from stack import down, ensure_s3, get_layout, postgres, status
    from stack import secrets as sec
    from stack.postgres import CATALOG_ROLE, catalog_url, psql
    from stack.seaweedfs import BUCKET

    root = tmp_path_factory.mktemp("celery")
    catalog_dir = root / "catalog"
    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", catalog_dir)
    was_running = status().running
    before = sec.load(get_layout().system_env)  # the settings a running system was started with
    started = time.monotonic()
    if not postgres.ready():  # this session's catalog database is made in the system's PostgreSQL
        system.up(report=lambda _: None)
    store = ensure_s3()
    database = f"kcdata_catalog_{uuid.uuid4().hex[:8]}"
    psql(get_layout(), f"CREATE DATABASE {database} OWNER {CATALOG_ROLE} ENCODING 'UTF8' TEMPLATE template0;")
    env = {"KCDATA_LAKE": f"s3://{BUCKET}/celery-{uuid.uuid4().hex[:8]}", "KCDATA_INBOX": str(root / "inbox"),
           "KCDATA_CATALOG_DIR": str(catalog_dir), "KCDATA_CATALOG_URL": catalog_url(get_layout()).rsplit("/", 1)[0] + f"/{database}",
           "KCDATA_EXECUTOR": "celery", "KCDATA_CELERY_WORKERS": "2", "KCDATA_CELERY_CONCURRENCY": "1",
           "KCDATA_RECONCILE_CRON": "0 3 * * *"}
    with mock.patch.dict(os.environ, env):
        client = system.up(report=lambda _: None)
    print(f"system up on the CeleryExecutor in {time.monotonic() - started:.0f} s")
    yield root, {**env, **store}, client
    psql(get_layout(), f"DROP DATABASE IF EXISTS {database} WITH (FORCE);")  # this session's catalog
    # back as it was: a running system with the settings it ran with (another module's lake and
    # inbox), a stopped one stopped with the default executor (what a shell without KCDATA_EXECUTOR runs)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KCDATA_EXECUTOR", "KCDATA_CELERY_"))}
    with mock.patch.dict(os.environ, {**clean, **before} if was_running else clean, clear=True):
        if was_running:
            system.up(report=lambda _: None)
        else:
            down()
            sec.save(get_layout().system_env, system.settings())


def test_status_shows_the_workers_and_flower(celery_system):
    from stack import status

    state = status()
    workers = [c for c in state.components if c.name.startswith("airflow-celery-worker-")]
    assert [c.name for c in workers] == ["airflow-celery-worker-1", "airflow-celery-worker-2"]
    assert all(c.running and c.pid for c in workers), [(c.name, c.state, c.detail) for c in workers]
    assert len({c.pid for c in workers}) == 2  # separate processes
    flower = state["airflow-celery-flower"]
    assert flower.running and flower.port == 5555


def test_two_deliveries_run_in_parallel_on_two_workers_and_land(celery_system, tmp_path):
    from catalog.entries import forget_loaded_catalog, get_resource
    from catalog.store import open_store
    from common.lake import Zone
    from common.settings import get_paths
    from connectors.inbox import submit_delivery
    from kcdata.topology import ingest_dag_id
    from samples.generate import generate_resource

    root, env, api = celery_system
    with mock.patch.dict(os.environ, env):
        forget_loaded_catalog()
        paths = get_paths()
        resources = [get_resource(code) for code in CODES]
        files = [generate_resource(r, tmp_path / r.table, rows=800, bad_share=0.02, seed=7).path for r in resources]
        marked = datetime.now(timezone.utc)
        for resource, file in zip(resources, files, strict=True):
            submit_delivery(resource, file, paths)
        runs = [api.wait_for_run_after(ingest_dag_id(r.table), marked, timeout=420) for r in resources]
        assert str(paths.lake).startswith("s3://") and paths.catalog_url.startswith("postgresql")
        store = open_store(paths.catalog_url)
        versions = {r.code: store.latest_version(r.code) for r in resources}
    forget_loaded_catalog()

    assert [run.state for run in runs] == ["success", "success"]
    tis = {run.dag_id: {t["task_id"]: t for t in api.task_instances(run.dag_id, run.run_id)} for run in runs}
    lands = [tis[run.dag_id]["land"] for run in runs]
    hosts = {t["hostname"] for t in lands}
    assert len(hosts) == 2 and all(h.startswith("worker-") for h in hosts), hosts
    # parallel: each landing started before the other had finished
    start = [datetime.fromisoformat(t["start_date"]) for t in lands]
    end = [datetime.fromisoformat(t["end_date"]) for t in lands]
    assert start[0] < end[1] and start[1] < end[0]
    all_hosts = {t["hostname"] for run in tis.values() for t in run.values() if t.get("hostname")}
    assert all_hosts <= {f"worker-{i}.{h.split('.', 1)[1]}" for i in (1, 2) for h in hosts}

    for resource in resources:
        version = versions[resource.code]
        assert version is not None and version.rows_in == 800
        with mock.patch.dict(os.environ, env):  # the lake is in the S3 store
            validated = sorted(paths.table_dir(Zone.validated, resource.table).glob("*/data.parquet"))
            quarantined = sorted(paths.table_dir(Zone.quarantine, resource.table).glob("*/*.parquet"))
            rows = sum(pq.read_metadata(str(p)).num_rows for p in validated)
        assert validated, f"no validated batch of {resource.table}"
        assert rows == version.rows_accepted > 0
        assert version.rows_accepted + version.rows_quarantined == 800
        assert quarantined or version.rows_quarantined == 0

