"""The running system, as departments and engineers meet it: a delivery marked complete flows by
itself through Airflow's scheduler (AssetWatcher → the chain: ingest → dbt → open view → publish) onto the
local CKAN; bad deliveries are refused and the department is e-mailed; racing deliveries and the
CLI racing the scheduler lose and duplicate nothing. No DAG is triggered by hand here."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import ckanapi

from catalog.entries import get_resource
from orchestration.topology import CHAIN

AIR = "KC-STHJ-001"


def _in_env(system, fn, *args, **kwargs):
    with mock.patch.dict(os.environ, system.env):
        return fn(*args, **kwargs)


def _store(system):
    from catalog.store import open_store

    return open_store(system.paths().catalog_url)


def _resource(system, code: str):
    return _in_env(system, get_resource, code)


def _sample(system, code: str, tmp: Path, rows: int, seed: int) -> Path:
    from samples.generate import generate_resource

    return generate_resource(_resource(system, code), tmp, rows=rows, bad_share=0.03, seed=seed).path


def _submit(system, code: str, file: Path) -> Path:
    from connectors.inbox import submit_delivery

    return submit_delivery(_resource(system, code), file, system.paths())


def _wait(what: str, check, timeout: float = 240.0, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not after {timeout:.0f} s")


def _versions(system, code: str) -> list:
    _, versions, _ = _store(system).resource(code)
    return versions


def test_a_marked_delivery_reaches_ckan_with_no_trigger_by_hand(system, portal, tmp_path):
    resource = _resource(system, AIR)
    _store(system).record_approval(resource, "approve", "审核员 Reviewer Li", note="test: approved before delivery")
    file = _sample(system, AIR, tmp_path, rows=600, seed=81)
    delivered = _submit(system, AIR, file)
    assert Path(f"{delivered}.ready").exists() or Path(f"{delivered}.queued").exists()

    version = _wait("a version in the catalog", lambda: next(iter(_versions(system, AIR)), None))
    assert version.rows_in == 600
    assert version.rows_accepted + version.rows_quarantined == 600
    assert version.produced_by["dag_id"] == CHAIN
    assert version.produced_by["run_type"].endswith("asset_triggered")
    assert not delivered.exists()  # archived once landed

    url, token = portal
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    from portal.mapping import dataset_name

    def published():
        try:
            ds = ckan.action.package_show(id=dataset_name(resource))
        except (ckanapi.NotFound, ckanapi.NotAuthorized):  # not there yet, or retracted by an earlier run
            return None
        return ds if ds.get("fingerprint", "").endswith(version.fingerprint) else None

    dataset = _wait("the dataset on CKAN", published, timeout=300, every=3)
    assert dataset["resource_code"] == AIR
    # one run carried it from the marker to the portal
    made = system.api.wait_for_run(CHAIN, version.produced_by["run_id"], timeout=300)
    states = {t["task_id"]: t["state"] for t in system.api.task_instances(CHAIN, made.run_id)}
    assert {t: states[t] for t in ("ingest", "transform", "publish")} == dict.fromkeys(
        ("ingest", "transform", "publish"), "success"), states


def test_unmarked_file_is_never_read(system, tmp_path):
    from connectors.inbox import READY_SUFFIX

    paths = system.paths()
    folder = paths.inbox / "patent_grants"
    folder.mkdir(parents=True, exist_ok=True)
    half = folder / "still_copying.csv"
    half.write_text("专利号,")  # a department's upload, cut off mid-way, no marker
    before = len(_versions(system, "KC-ZSCQ-001"))
    run_id = system.api.trigger(CHAIN, conf={"tables": ["patent_grants"]})  # a reconciliation run now, as the clock would
    system.api.wait_for_run(CHAIN, run_id, timeout=300)
    assert half.exists() and not Path(f"{half}{READY_SUFFIX}").exists()
    assert len(_versions(system, "KC-ZSCQ-001")) == before
    half.unlink()


def test_same_resource_delivered_twice_at_once_and_cli_racing_the_scheduler(system, tmp_path):
    """Two deliveries of one resource at once, and `kcdata ingest` run by an engineer on the same
    inbox while the scheduler works: every row accounted for once, no traceback anywhere."""
    code, table = "KC-JTYS-001", "traffic_flow"
    a = _sample(system, code, tmp_path / "a", rows=700, seed=1)
    b = _sample(system, code, tmp_path / "b", rows=500, seed=2)
    _submit(system, code, a)
    _submit(system, code, b)
    cli = subprocess.run([str(Path(sys.executable).parent / "kcdata"), "ingest", code], env={**os.environ, **system.env},
                         capture_output=True, text=True, timeout=600)
    assert cli.returncode in (0, 1), cli.stdout + cli.stderr
    assert "Traceback" not in cli.stdout + cli.stderr

    def both_versions():
        vs = _versions(system, code)
        return vs if sorted(v.rows_in for v in vs) == [500, 700] else None

    versions = _wait("two versions, one per delivery", both_versions, timeout=300)
    for v in versions:
        assert v.rows_accepted + v.rows_quarantined == v.rows_in
    assert len({v.fingerprint for v in versions}) == 2
    inbox = system.paths().inbox / table
    assert [p.name for p in inbox.iterdir() if not p.name.startswith(".")] == []
    _wait("the chain's runs to finish", lambda: all(r.finished for r in system.api.runs(CHAIN)) or None)


def _finished_run(system, dag_id: str) -> object:
    run_id = system.api.trigger(dag_id)  # a tick of the pull's clock
    return system.api.wait_for_run(dag_id, run_id, timeout=300)


def test_http_source_polled_twice_without_change_makes_one_version(system, stations_api):
    """A pulled source (HTTP API, bearer token from an Airflow connection, page pagination): the
    pull lands it and the chain it starts makes the version; an unchanged second poll lands
    nothing and starts no chain run; a change makes a version."""
    from orchestration.topology import pull_dag_id

    code = "KC-STHJ-901"
    dag_id = pull_dag_id(_resource(system, code).update_cycle.value)
    first = _finished_run(system, dag_id)
    assert first.state == "success"
    versions = _wait("the version the chain made of the pull", lambda: _versions(system, code), timeout=300)
    assert [v.rows_in for v in versions] == [120] and versions[0].rows_accepted == 120

    chain_runs = len(system.api.runs(CHAIN))
    second = _finished_run(system, dag_id)
    assert second.state == "success"
    (pulled,) = [o for o in system.api.xcom(dag_id, second.run_id, "pull") if o["code"] == code]
    assert pulled["landed"] == 0  # nothing new: no announcement, no chain run
    time.sleep(5)
    assert len(system.api.runs(CHAIN)) == chain_runs and len(_versions(system, code)) == 1

    stations_api.records.append({"station_code": "ZSC121", "station_name": "新站", "district": "黄埔区"})
    third = _finished_run(system, dag_id)
    assert third.state == "success"
    _wait("a second version", lambda: sorted(v.rows_in for v in _versions(system, code)) == [120, 121], timeout=300)


def test_refused_delivery_emails_the_department_and_the_bureau(system, tmp_path):
    """A delivery the inbox cannot read is refused, recorded, archived, and the department's
    contact and the bureau get one e-mail, in Chinese with the English beside it, with the reason."""
    code, table = "KC-WSJK-001", "clinics"
    bad = tmp_path / "clinics_2026-11.json"
    bad.write_text('{"this is": "not an array of records", ', encoding="utf-8")
    _submit(system, code, bad)
    refused = _wait("the refusal in the catalog", lambda: _store(system).refused_deliveries(code), timeout=240)
    assert refused[0].produced_by["dag_id"] == CHAIN and table in refused[0].source_file
    mails = system.smtp.wait_for(lambda to, m: code in m["Subject"] and "clinics_2026-11.json" in m.get_content(), timeout=240)
    recipients, message = mails[-1]
    resource = _resource(system, code)
    assert resource.provider.contact.email in recipients
    assert "sjglj@huangpu.gov.cn.example" in recipients
    body = message.get_content()
    assert code in message["Subject"] and "clinics_2026-11.json" in body
    assert refused[0].message_zh.split("：")[0][:8] in body and refused[0].message_en[:20] in body


def test_overdue_resource_is_marked_and_alerted_once(system):
    """Move the freshness check's clock past a deadline: the resource shows as overdue and one
    alert goes out; the next check sends nothing new."""
    before = len(system.smtp.messages)
    future = "2031-06-01T00:00:00"
    run = system.api.wait_for_run("govern__freshness", system.api.trigger("govern__freshness", {"now": future}), timeout=300)
    assert run.state == "success"
    overdue = system.smtp.wait_for(lambda to, m: "逾期" in m["Subject"] or "overdue" in m["Subject"].lower(), timeout=60)
    assert overdue
    sent = len(system.smtp.messages) - before
    assert sent >= 1
    again = system.api.wait_for_run("govern__freshness", system.api.trigger("govern__freshness", {"now": future}), timeout=300)
    assert again.state == "success"
    time.sleep(2)
    assert len(system.smtp.messages) - before == sent  # once per overdue period
    out = subprocess.run([str(Path(sys.executable).parent / "kcdata"), "catalog", "list"], env={**os.environ, **system.env},
                         capture_output=True, text=True, timeout=120)
    assert "overdue" in out.stdout or "逾期" in out.stdout, out.stdout[-2000:]


def test_a_mixed_batch_ends_with_each_resources_own_outcome(system, portal, tmp_path):
    """Four departments mark deliveries at the same moment and one chain run takes them: a good
    one (approved: it reaches CKAN), a file the inbox cannot read (refused, e-mailed), a version
    held back by validation (e-mailed once), and a resource the lake cannot take (it fails). Each
    ends with its own outcome, the run ends failed naming the one that failed, and its delivery
    waits, still marked, until a later run takes it."""
    import shutil

    from common.lake import Zone
    from connectors.inbox import READY_SUFFIX, marked_tables
    from portal.mapping import dataset_name
    from samples.generate import generate_resource

    # none of the four is referenced by or references another resource: dbt builds them alone
    good, held, refused, failing = AIR, "KC-CSGL-001", "KC-RLZY-001", "KC-CSGL-002"
    paths, store = system.paths(), _store(system)
    resources = {code: _resource(system, code) for code in (good, held, refused, failing)}
    store.record_approval(resources[good], "approve", "审核员 Reviewer Li", note="test: a mixed batch")
    files = {good: generate_resource(resources[good], tmp_path, rows=300, bad_share=0.0, seed=55).path,
             held: generate_resource(resources[held], tmp_path, rows=300, bad_share=0.4, seed=6).path,
             failing: generate_resource(resources[failing], tmp_path, rows=300, bad_share=0.0, seed=7).path}
    files[refused] = tmp_path / "人才登记.docx"
    files[refused].write_bytes(b"PK\x03\x04 a word document, not data")
    before = {code: len(_versions(system, code)) for code in resources}
    raw = paths.table_dir(Zone.raw, resources[failing].table)
    moved = raw.with_name(raw.name + ".aside")
    if raw.exists():
        raw.rename(moved)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text("not a folder")  # the lake cannot take this resource's batches
    try:
        delivered = {}
        for code, file in files.items():  # the files first, then the four markers at once
            folder = paths.inbox / resources[code].table
            folder.mkdir(parents=True, exist_ok=True)
            delivered[code] = Path(shutil.copyfile(file, folder / file.name))
        for path in delivered.values():
            Path(f"{path}{READY_SUFFIX}").touch()
        taken = _wait("the good delivery's version", lambda: _versions(system, good)[before[good]:], timeout=600)
        run = system.api.wait_for_run(CHAIN, taken[0].produced_by["run_id"], timeout=600)  # the run that took them
        states = {t["task_id"]: t["state"] for t in system.api.task_instances(CHAIN, run.run_id)}
        assert run.state == "failed" and states["report"] == "failed", states
        assert {t: states[t] for t in ("ingest", "notify", "transform", "publish")} == dict.fromkeys(
            ("ingest", "notify", "transform", "publish"), "success"), states

        # the good delivery: a version, on the portal
        (version,) = _versions(system, good)[before[good]:]
        assert version.validation_passed and version.produced_by["run_id"] == run.run_id
        ckan = ckanapi.RemoteCKAN(portal[0])
        assert ckan.action.package_show(id=dataset_name(resources[good]))["fingerprint"].endswith(version.fingerprint)
        # the held-back version: recorded, not passed, its department told once
        (kept,) = _versions(system, held)[before[held]:]
        assert not kept.validation_passed
        told = system.smtp.wait_for(lambda to, m: held in m["Subject"] and f"第 {kept.version} 版" in m.get_content(), timeout=120)
        assert len(told) == 1
        # the refused file: recorded and e-mailed, no version
        assert any(r.code == "unsupported-file-type" and r.produced_by["run_id"] == run.run_id
                   for r in store.refused_deliveries(refused))
        system.smtp.wait_for(lambda to, m: refused in m["Subject"] and "人才登记.docx" in m.get_content(), timeout=120)
        # the failing resource: no version, its delivery waits in its inbox, still marked
        assert len(_versions(system, failing)) == before[failing]
        assert delivered[failing].exists() and resources[failing].table in marked_tables(paths)
    finally:
        raw.unlink()
        if moved.exists():
            moved.rename(raw)

    # mended, a run for it takes the delivery that waited
    again = system.api.wait_for_run(CHAIN, system.api.trigger(CHAIN, conf={"tables": [resources[failing].table]}), timeout=600)
    assert again.state == "success"
    assert len(_versions(system, failing)) == before[failing] + 1 and not delivered[failing].exists()
