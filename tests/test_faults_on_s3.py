"""Faults on an S3 lake: a process killed in the middle of a stage, and the S3 server restarted.

Each stage runs as its own `kcdata` process, as a worker would run a task, and is killed with
SIGKILL at the worst moment we can see from outside: as the stage's first object appears in the
bucket (part of its output committed, the rest not). Then the stage runs again in another
process with an empty work folder, as a retry on another worker would. The lake and the catalog
must end exactly as after an undisturbed run: the same batches, rows and versions, no duplicate,
and never a batch a reader would take before it is whole.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TABLE = "air_quality_hourly"
CODE = "KC-STHJ-001"
ROWS = 40_000


def _kcdata(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).with_name("kcdata")), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _objects(lake: str) -> list[str]:
    from common.lake_store import s3_filesystem

    return sorted(s3_filesystem().find(lake))


def _visible(lake: str) -> dict[str, int]:
    """What a reader sees: every batch and curated file with a data file, and its rows."""
    import pyarrow.parquet as pq

    out = {}
    for key in _objects(lake):
        if key.endswith(".parquet") and "/.tmp-" not in key:
            relative = key[len(lake.removeprefix("s3://")):].lstrip("/")
            out[relative] = pq.read_metadata(f"s3://{key}").num_rows  # whole: its footer reads
    return out


def _versions(catalog_url: str) -> dict[str, tuple[int, int, int]]:
    from catalog.store import open_store

    return {c: (v.version, v.rows_accepted, v.rows_quarantined) for c, v in open_store(catalog_url).latest_versions().items()}


def _kill_when(proc: subprocess.Popen, lake: str, appears: str, timeout: float = 240) -> bool:
    """SIGKILL `proc` as soon as an object whose key contains `appears` is in the bucket; False
    when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if any(appears in key for key in _objects(lake)):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"nothing matching {appears!r} appeared in {timeout} s")


def _lake_env(bucket: str, aws: dict[str, str], root: Path) -> dict[str, str]:
    """The environment of a fresh lake under `root`, with the delivery waiting in its inbox."""
    import uuid

    from catalog.entries import get_resource
    from samples.generate import generate_resource

    env = {**os.environ, **aws,
           "KCDATA_LAKE": f"s3://{bucket}/faults-{uuid.uuid4().hex[:10]}", "KCDATA_INBOX": str(root / "inbox"),
           "KCDATA_WORK": str(root / "work-a"), "KCDATA_CATALOG_URL": f"sqlite:///{root / 'catalog.db'}"}
    generate_resource(get_resource(CODE), Path(env["KCDATA_INBOX"]), rows=ROWS, bad_share=0.02, seed=5)
    return env


def _run(env: dict[str, str], *args: str) -> str:
    proc = _kcdata(*args, env=env)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


CHAIN = (("ingest", CODE), ("transform",), ("open-view",))
KILL_AT = {  # stage -> the object whose appearance we kill it at (part of its output committed)
    "ingest": f"/quarantine/{TABLE}/batch=",
    "transform": "/curated/",
    "open-view": f"/open/{TABLE}/",
}


@pytest.fixture(scope="module", autouse=True)
def store_in_this_process(s3_store):
    """This process reads the bucket too (what a reader sees): the store's AWS variables."""
    from unittest import mock

    with mock.patch.dict(os.environ, s3_store[1]):
        yield


@pytest.fixture(scope="module")
def undisturbed(s3_store, tmp_path_factory):
    """The chain run without a fault: what a reader sees, and the catalog versions, after each stage."""
    env = _lake_env(*s3_store, tmp_path_factory.mktemp("undisturbed"))
    after = {}
    for args in CHAIN:
        _run(env, *args)
        after[args[0]] = (_visible(env["KCDATA_LAKE"]), _versions(env["KCDATA_CATALOG_URL"]))
    return env, after


def test_each_stage_killed_midway_and_retried_elsewhere_ends_as_an_undisturbed_run(undisturbed, s3_store, tmp_path):
    """One chain in which every stage is killed, then retried: after each retry the lake and the
    catalog are as after that stage of the undisturbed run, and the chain ends as it did. (One
    chain, not one per stage: a stage's retry is the next stage's undisturbed predecessor.)"""
    _, after = undisturbed
    disturbed = _lake_env(*s3_store, tmp_path)
    for command in CHAIN:
        stage = command[0]
        killed = {**disturbed, "KCDATA_WORK": str(tmp_path / f"work-{stage}-a")}
        assert _kill_when(_kcdata(*command, env=killed), disturbed["KCDATA_LAKE"], KILL_AT[stage]), f"{stage} ended before the kill"
        half = _visible(disturbed["KCDATA_LAKE"])  # every data file a reader can see is whole (its footer reads)
        retry = {**disturbed, "KCDATA_WORK": str(tmp_path / f"work-{stage}-b")}  # another worker, an empty work folder
        _run(retry, *command)  # ingest: the inbox file was archived once landed; the retry validates what landed

        assert _visible(disturbed["KCDATA_LAKE"]) == after[stage][0], (stage, sorted(half))
        assert _versions(disturbed["KCDATA_CATALOG_URL"]) == after[stage][1], stage
    assert _visible(disturbed["KCDATA_LAKE"]) == after["open-view"][0]  # the rest of the chain after each retry: the same


@pytest.fixture
def undisturbed_ingest(s3_store, tmp_path):
    """What a reader sees, and the catalog versions, after an undisturbed ingest alone (the restart
    test runs in another process than the chain's test, so it makes its own reference)."""
    env = _lake_env(*s3_store, tmp_path / "undisturbed")
    _run(env, *CHAIN[0])
    return _visible(env["KCDATA_LAKE"]), _versions(env["KCDATA_CATALOG_URL"])


@pytest.fixture
def restartable_s3_store(s3_store):
    """The S3 store, for a test that stops and starts it: the system tier puts that test after
    every other test that uses the running system, and it waits until the other tests (which may
    run at the same time, in another process) have ended (tests/tiers.py)."""
    from tiers import wait_for_the_other_tests

    wait_for_the_other_tests()
    return s3_store


def test_the_s3_server_restarted_during_a_run_fails_it_clearly_and_loses_nothing(restartable_s3_store, undisturbed_ingest, tmp_path):
    from stack import get_layout, supervisor
    from stack.proc import wait_until
    from stack.seaweedfs import NAME, bucket_ready

    s3_store = restartable_s3_store
    if not s3_store[1]:
        pytest.skip("the S3 store is not the system's own: this test cannot restart it")
    disturbed = _lake_env(*s3_store, tmp_path)
    proc = _kcdata("ingest", CODE, env=disturbed)
    time.sleep(4)  # the process has started and is reading the delivery
    layout = get_layout()
    supervisor.stop(layout, NAME)
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        supervisor.start(layout, NAME)
    wait_until(lambda: bucket_ready(layout), what="SeaweedFS", timeout=60)
    if proc.returncode != 0:  # it failed: clearly, naming the store, without a traceback
        assert "Traceback" not in out and "S3 store" in out, out
    _run(disturbed, "ingest", CODE)
    assert _visible(disturbed["KCDATA_LAKE"]) == undisturbed_ingest[0]
    assert _versions(disturbed["KCDATA_CATALOG_URL"]) == undisturbed_ingest[1]
