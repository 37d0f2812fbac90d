"""The running system on Airflow's CeleryExecutor: two workers as separate processes, a Redis
broker and PostgreSQL result backend, the lake on the system's S3 store (SeaweedFS) and the catalog
store in its PostgreSQL, as a distributed deployment runs; deliveries of two departments land in
parallel, each on its own worker, and their rows reach the lake.

Its own module, with its own system: it brings the system up with `KCDATA_EXECUTOR=celery` (one
task slot per worker, so that two tasks at once must run on two workers), and afterwards puts it
back as it found it (stopped, or running with the default LocalExecutor). It publishes to the
session's CKAN under resource codes of its own (KC-XXXX-9nn, from a copy of the catalog), so it never
touches a dataset of another test, and purges its datasets at the end.
"""
from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import pyarrow.parquet as pq
import pytest

CODES = ("KC-STHJ-901", "KC-JTYS-901")  # the sample entries' codes as this module's catalog copy has them


def _own_codes(catalog_dir) -> list[str]:
    """Give every entry of the catalog copy in `catalog_dir` a code of its own (KC-XXXX-0nn becomes
    KC-XXXX-9nn, references too): its datasets on the shared portal are this module's alone, and
    publishing or retracting here never reaches a dataset another test published. The codes."""
    codes = []
    for entry in sorted(catalog_dir.rglob("*.yaml")):
        text = re.sub(r"\bKC-([A-Z]{2,6})-0(\d{2})\b", r"KC-\1-9\2", entry.read_text(encoding="utf-8"))
        entry.write_text(text, encoding="utf-8")
        codes += re.findall(r"^code: (KC-[A-Z]{2,6}-9\d{2})$", text, flags=re.MULTILINE)
    return codes


def _purge_datasets(codes: list[str]) -> None:
    """Remove this module's datasets from the portal for good (CKAN's purge, not its soft delete)."""
    from portal.client import CkanTarget, Portal
    from stack import connection
    from stack.layout import CKAN_PORT, HOST
    from stack.proc import port_open

    if not port_open(HOST, CKAN_PORT):
        return
    admin = Portal(CkanTarget(*connection(local=True)))
    for code in codes:
        if admin.show("package_show", id=code.lower()) is not None:
            admin.call("dataset_purge", id=code.lower())


@pytest.fixture(scope="module")
def celery_system(request, system, tmp_path_factory, reconcile_cron):
    """The session's running system, restarted on the CeleryExecutor (it runs after every other
    module of the system tier: tests/tiers.py), and afterwards put back as it was when a later test
    needs it or this session did not start it; else stopped."""
    from tiers import needed_after_this_module, wait_for_the_other_tests  # tests/tiers.py

    from common.settings import PROJECT_ROOT
    from stack import down, ensure_s3, get_layout, status
    from stack import secrets as sec
    from stack.postgres import CATALOG_ROLE, catalog_url, psql
    from stack.seaweedfs import BUCKET
    from system import running

    root = tmp_path_factory.mktemp("celery")
    catalog_dir = root / "catalog"
    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", catalog_dir)
    codes = _own_codes(catalog_dir)
    was_running = status().running  # the session's system, or one it found running
    before = sec.load(get_layout().system_env)  # the settings a running system was started with
    started = time.monotonic()
    _purge_datasets(codes)  # left by a session that was stopped before its end
    store = ensure_s3()
    database = f"kcdata_catalog_{uuid.uuid4().hex[:8]}"
    psql(get_layout(), f"CREATE DATABASE {database} OWNER {CATALOG_ROLE} ENCODING 'UTF8' TEMPLATE template0;")
    env = {"KCDATA_LAKE": f"s3://{BUCKET}/celery-{uuid.uuid4().hex[:8]}", "KCDATA_INBOX": str(root / "inbox"),
           "KCDATA_CATALOG_DIR": str(catalog_dir), "KCDATA_CATALOG_URL": catalog_url(get_layout()).rsplit("/", 1)[0] + f"/{database}",
           "KCDATA_EXECUTOR": "celery", "KCDATA_CELERY_WORKERS": "2", "KCDATA_CELERY_CONCURRENCY": "1",
           # a killed worker's task is retried 20 s after its last heartbeat (60 s by default): the kills below wait less
           "KCDATA_CELERY_HEARTBEAT_TIMEOUT": "20", "KCDATA_RECONCILE_CRON": reconcile_cron}
    with mock.patch.dict(os.environ, env):
        client = running.up(report=lambda _: None)
    print(f"system up on the CeleryExecutor in {time.monotonic() - started:.0f} s")
    yield root, {**env, **store}, client
    _purge_datasets(codes)
    psql(get_layout(), f"DROP DATABASE IF EXISTS {database} WITH (FORCE);")  # this session's catalog
    # back as it was: a running system with the settings it ran with (another module's lake and
    # inbox), a stopped one stopped with the default executor (what a shell without KCDATA_EXECUTOR runs)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KCDATA_EXECUTOR", "KCDATA_CELERY_"))}
    put_back = was_running and (needed_after_this_module(request, "system") or not system.started_here)
    with mock.patch.dict(os.environ, {**clean, **before} if put_back else clean, clear=True):
        if put_back:
            running.up(report=lambda _: None)
        else:
            wait_for_the_other_tests()  # the other process's S3 tests use the store `down` stops
            down()
            sec.save(get_layout().system_env, running.settings())


def test_status_shows_the_workers_and_flower(celery_system):
    from stack import status

    state = status()
    workers = [c for c in state.components if c.name.startswith("airflow-celery-worker-")]
    assert [c.name for c in workers] == ["airflow-celery-worker-1", "airflow-celery-worker-2"]
    assert all(c.running and c.pid for c in workers), [(c.name, c.state, c.detail) for c in workers]
    assert len({c.pid for c in workers}) == 2  # separate processes
    flower = state["airflow-celery-flower"]
    assert flower.running and flower.port == 5555


PARALLEL_ROWS = 10_000  # each group's ingest lasts long enough that the second worker, started with the first, joins it


def test_work_queued_in_redis_survives_a_restart_then_two_deliveries_land_in_parallel_on_two_workers(celery_system, tmp_path):
    """Two departments mark deliveries at the same moment while every worker is down: the chain
    run's first task waits in Redis, Celery's broker; Redis is restarted; the workers come back and
    take it (queued work resumes, nothing is retried). The run takes both deliveries in two groups
    (KCDATA_CHAIN_WAYS=2) whose ingest tasks run at the same time, one on each worker, and each
    delivery lands once, its rows in the S3 lake and its version in the PostgreSQL catalog."""
    import redis

    from catalog.entries import forget_loaded_catalog, get_resource
    from catalog.store import open_store
    from common.lake import Zone
    from common.settings import get_paths
    from connectors.inbox import READY_SUFFIX
    from orchestration.topology import CHAIN
    from samples.generate import generate_resource
    from stack import get_layout, supervisor
    from stack.celery import REDIS_DB, worker_names
    from stack.layout import HOST, REDIS_PORT

    _root, env, api = celery_system
    layout = get_layout()
    workers = worker_names(env)
    broker = redis.Redis(host=HOST, port=REDIS_PORT, db=REDIS_DB)
    with mock.patch.dict(os.environ, env):
        forget_loaded_catalog()
        paths = get_paths()
        store = open_store(paths.catalog_url)
        resources = [get_resource(code) for code in CODES]
        versions_before = {r.code: len(store.resource(r.code)[1]) for r in resources}
        files = [generate_resource(r, tmp_path / r.table, rows=PARALLEL_ROWS, bad_share=0.02, seed=7).path for r in resources]
        api.wait_until_idle()
        try:
            for program in workers:
                supervisor.stop(layout, program)
            delivered = []
            for resource, file in zip(resources, files, strict=True):  # the files first, then both markers at once
                (paths.inbox / resource.table).mkdir(parents=True, exist_ok=True)
                delivered.append(Path(shutil.copyfile(file, paths.inbox / resource.table / file.name)))
            marked = datetime.now(timezone.utc)
            for file in delivered:
                Path(f"{file}{READY_SUFFIX}").touch()
            run_id, _ti = api.wait_for_task_state(CHAIN, marked, "plan", "queued")
            deadline = time.monotonic() + 60
            while broker.llen("default") < 1:  # Celery's queue (Airflow's default_queue) holds the task
                assert time.monotonic() < deadline, "the queued task never reached the broker"
                time.sleep(0.2)
            waiting = broker.llen("default")
            time.sleep(1.5)  # Redis appends to its log every second
            supervisor.stop(layout, "redis")
            supervisor.start(layout, "redis")
            assert broker.llen("default") == waiting, "Redis lost the queued work in its restart"
        finally:
            supervisor.start_together(layout, workers)
        run = api.wait_for_run(CHAIN, run_id, timeout=420)
        assert str(paths.lake).startswith("s3://") and paths.catalog_url.startswith("postgresql")
        versions = {r.code: store.resource(r.code)[1] for r in resources}
        lake = {}
        for resource in resources:  # the lake is in the S3 store
            validated = sorted(paths.table_dir(Zone.validated, resource.table).glob("*/data.parquet"))
            quarantined = sorted(paths.table_dir(Zone.quarantine, resource.table).glob("*/*.parquet"))
            lake[resource.code] = (len(validated), sum(pq.read_metadata(str(p)).num_rows for p in validated), len(quarantined))
    forget_loaded_catalog()

    assert run.state == "success"
    tis = api.task_instances(CHAIN, run_id)
    assert _tries(api, CHAIN, run_id)["plan"]["try_number"] == 1  # taken from the queue, not retried
    lands = [t for t in tis if t["task_id"] == "ingest"]
    hosts = {t["hostname"] for t in lands}
    timeline = [(t["map_index"], t["queued_when"], t["start_date"], t["end_date"], t["hostname"]) for t in lands]
    assert len(lands) == 2 and len(hosts) == 2 and all(h.startswith("worker-") for h in hosts), timeline
    # parallel: each group's ingest started before the other had finished
    start = [datetime.fromisoformat(t["start_date"]) for t in lands]
    end = [datetime.fromisoformat(t["end_date"]) for t in lands]
    assert start[0] < end[1] and start[1] < end[0], timeline
    all_hosts = {t["hostname"] for t in tis if t.get("hostname")}
    assert all_hosts <= {f"worker-{i}.{h.split('.', 1)[1]}" for i in (1, 2) for h in hosts}

    for resource in resources:  # each delivery once: one more version, every row accepted or quarantined
        assert len(versions[resource.code]) == versions_before[resource.code] + 1
        version = versions[resource.code][-1]
        batches, accepted, quarantined = lake[resource.code]
        assert version.rows_in == PARALLEL_ROWS
        assert version.rows_accepted + version.rows_quarantined == PARALLEL_ROWS
        assert batches, f"no validated batch of {resource.table}"
        assert accepted == version.rows_accepted > 0
        assert quarantined or version.rows_quarantined == 0


KILL_ROWS = 100_000


def _kill_worker(hostname: str) -> str:
    """SIGKILL the whole process tree of the worker that reported `hostname` (worker-N.<host>), as a
    machine that dies would, and keep it down (supervisord would restart it); its program name."""
    import psutil

    from stack import get_layout, supervisor

    program = "airflow-celery-worker-" + hostname.split(".", 1)[0].removeprefix("worker-")
    layout = get_layout()
    root = psutil.Process(supervisor.info(layout)[program]["pid"])
    tree = [root, *root.children(recursive=True)]
    for proc in tree:
        proc.kill()
    psutil.wait_procs(tree, timeout=30)
    deadline = time.monotonic() + 60
    while supervisor.info(layout)[program]["statename"] != "STOPPED":
        assert time.monotonic() < deadline, f"{program} did not stay down"
        supervisor.stop(layout, program)  # the restart supervisord began, if any
        time.sleep(0.5)
    return program


def _start_worker(program: str) -> None:
    from stack import get_layout, supervisor

    supervisor.start(get_layout(), program)


def _kill_mid_task(api, dag_id: str, since: datetime, task_id: str, when=None) -> tuple[str, str]:
    """Kill the worker running `task_id` (once `when()` returns, if given), wait until the retry
    succeeded, bring the worker back; the run id and the killed worker's hostname."""
    run_id, ti = api.wait_for_task_state(dag_id, since, task_id, "running")
    if when is not None:
        when()
    program = _kill_worker(ti["hostname"])
    try:  # Airflow notices the silent task after its heartbeat timeout, then retries it
        api.wait_for_task_state(dag_id, since, task_id, "success", timeout=600)
    finally:
        _start_worker(program)
    return run_id, ti["hostname"]


def _delivery(code: str, rows: int, seed: int, tmp_path):
    """For one resource, in the system's settings: the lake paths, the resource, the catalog store,
    its number of versions now, and a generated delivery file of `rows` rows."""
    from catalog.entries import forget_loaded_catalog, get_resource
    from catalog.store import open_store
    from common.settings import get_paths
    from samples.generate import generate_resource

    forget_loaded_catalog()
    paths, resource = get_paths(), get_resource(code)
    store = open_store(paths.catalog_url)
    file = generate_resource(resource, tmp_path / resource.table, rows=rows, bad_share=0.02, seed=seed).path
    return paths, resource, store, len(store.resource(resource.code)[1]), file


def test_a_worker_killed_mid_task_is_retried_on_the_other_and_nothing_is_duplicated(celery_system, tmp_path):
    """The chain's ingest (landing and validating) and its dbt build each lose their worker half-way
    (SIGKILL of its whole process tree, then the worker stays down); Airflow notices the silent
    task, retries it on the other worker, and the lake and catalog end as an undisturbed run would:
    one raw batch and one version for the delivery, every row accepted or quarantined once, one
    curated row per key."""
    import pyarrow.compute as pc

    from catalog.entries import forget_loaded_catalog
    from common.lake import Zone
    from connectors.inbox import submit_delivery
    from orchestration.topology import CHAIN

    _root, env, api = celery_system
    with mock.patch.dict(os.environ, env):
        paths, resource, store, versions_before, file = _delivery(CODES[0], KILL_ROWS, 11, tmp_path)
        raw_before = len(list(paths.table_dir(Zone.raw, resource.table).glob("*/data.parquet")))
        api.wait_until_idle()
        marked = datetime.now(timezone.utc)
        submit_delivery(resource, file, paths)

        killed = {task_id: _kill_mid_task(api, CHAIN, marked, task_id) for task_id in ("ingest", "transform")}
        run = api.wait_for_run(CHAIN, killed["ingest"][0], timeout=300)

        versions = store.resource(resource.code)[1]
        raw_after = len(list(paths.table_dir(Zone.raw, resource.table).glob("*/data.parquet")))
        version = versions[-1]
        validated = [p for p in paths.table_dir(Zone.validated, resource.table).glob("*/data.parquet")
                     if p.parent.name.startswith(f"batch={version.fingerprint[:16]}")]
        accepted = sum(pq.read_metadata(str(p)).num_rows for p in validated)
        current = pq.read_table(str(paths.current_file(resource.table)), columns=resource.key)
    forget_loaded_catalog()

    assert run.state == "success" and killed["transform"][0] == run.run_id
    tis = _tries(api, CHAIN, run.run_id)
    for task_id, (_run_id, dead_host) in killed.items():
        ti = tis[task_id]
        assert ti["try_number"] >= 2, (task_id, ti["try_number"])
        assert ti["hostname"] != dead_host, f"{task_id} was retried on the worker that was killed ({dead_host})"
    # one delivery: one raw batch, one version, every row once
    assert raw_after == raw_before + 1
    assert len(versions) == versions_before + 1
    assert version.rows_in == KILL_ROWS
    assert version.rows_accepted + version.rows_quarantined == KILL_ROWS
    assert accepted == version.rows_accepted > 0
    keys = pc.binary_join_element_wise(*(pc.cast(current[k], "string") for k in resource.key), "|")
    assert len(pc.unique(keys)) == current.num_rows  # one curated row per key, none twice


def _tries(api, dag_id: str, run_id: str) -> dict[str, dict]:
    return {t["task_id"]: t for t in api.task_instances(dag_id, run_id)}


PUBLISH_ROWS = 60_000


def _half_published(admin, name: str, fingerprint: str, timeout: float = 300) -> dict:
    """Wait until the portal shows `name` half-way through its publish: the dataset made and at
    least one file uploaded, its `fingerprint` (the marker a publish sets last) not yet this
    version's. What it showed then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = admin.show("package_show", id=name)
        if shown is not None and shown.get("resources"):
            assert shown.get("fingerprint") != fingerprint, f"{name} was published before its worker could be killed"
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{name} never appeared on the portal within {timeout:.0f} s")


def test_a_worker_killed_mid_publish_leaves_one_whole_dataset_on_the_portal(celery_system, tmp_path):
    """A reviewer approves a 60,000-row resource; its publish loses its worker half-way (the dataset
    made, some files uploaded, the DataStore not yet loaded). The retry, on the other worker, ends as
    an undisturbed publish would: one dataset, each file once, the DataStore holding every row of
    the open view once, and the files an anonymous user downloads match the signed manifest."""
    from catalog.audit import Actor
    from catalog.entries import forget_loaded_catalog
    from common.lake import OpenView, Zone
    from connectors.inbox import submit_delivery
    from flow.approvals import act
    from orchestration.topology import CHAIN, PUBLISH
    from portal.client import CkanTarget, Portal
    from portal.fetch import fetch_dataset, parse_ref
    from portal.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE, verify_folder
    from portal.mapping import dataset_name
    from stack import connection
    from system.running import request_publish

    _root, env, api = celery_system
    target = CkanTarget(*connection(local=True))
    admin = Portal(target)
    with mock.patch.dict(os.environ, env):
        paths, resource, store, versions_before, file = _delivery(CODES[1], PUBLISH_ROWS, 31, tmp_path)
        name = dataset_name(resource)
        api.wait_until_idle()
        marked = datetime.now(timezone.utc)
        submit_delivery(resource, file, paths)
        chain = api.wait_for_run_after(CHAIN, marked, timeout=420)  # not approved yet: it publishes nothing
        version = store.latest_version(resource.code)
        view = OpenView.describe(paths.batch_file(Zone.open, resource.table, version.fingerprint, version.rules),
                                 [i.code for i in resource.items])
        assert admin.show("package_show", id=name) is None, f"{name} was on the portal before its approval"

        approved = datetime.now(timezone.utc)
        outcome = act(resource, "approve", "Celery test reviewer", actor=Actor("cli:celery-test"), request_publish=request_publish)
        assert outcome.run_id, "the approval started no publish run"
        half: dict = {}
        run_id, dead_host = _kill_mid_task(api, PUBLISH, approved, "publish",
                                           when=lambda: half.update(_half_published(admin, name, version.fingerprint)))
        run = api.wait_for_run(PUBLISH, run_id, timeout=300)
        versions = store.resource(resource.code)[1]
        publication = store.publication(resource.code)
        shown = admin.call("package_show", id=name)
        csv = next(r for r in shown["resources"] if r["name"] == "data.csv")
        datastore_rows = admin.call("datastore_search", resource_id=csv["id"], limit=0)["total"]
        found = admin.call("package_search", q=f'name:"{name}"', include_private=True, include_drafts=True)["count"]
        folder = fetch_dataset(parse_ref(name, target.url), tmp_path / "download")  # anonymously, as the public
        verdict = verify_folder(folder)
    forget_loaded_catalog()
    print(f"publish killed with {len(half['resources'])} of {len(shown['resources'])} files up; "
          f"{datastore_rows:,} rows in the DataStore after the retry")

    assert chain.state == "success" and run.state == "success"
    assert run_id == outcome.run_id
    ti = _tries(api, PUBLISH, run_id)["publish"]
    assert ti["try_number"] >= 2 and ti["hostname"] != dead_host, (ti["try_number"], ti["hostname"], dead_host)
    assert len(half["resources"]) < len(shown["resources"]), "the worker was killed after every file was up"
    # one dataset, each file once, marked as this version's, and the catalog says so
    assert found == 1
    names = [r["name"] for r in shown["resources"]]
    assert sorted(names) == sorted({*(f.name for f in verdict.manifest.files), MANIFEST, SIGNATURE, PUBLIC_KEY}), names
    assert shown["state"] == "active" and shown["fingerprint"] == version.fingerprint
    assert (publication.state, publication.version, publication.fingerprint) == ("published", version.version, version.fingerprint)
    assert len(versions) == versions_before + 1  # publishing made no version
    # every row of the open view once, in the DataStore and in the files the public downloads
    assert datastore_rows == view.rows > 0
    assert verdict.ok, verdict.problems
    assert {f.name: f.rows for f in verdict.manifest.files}["data.csv"] == view.rows
