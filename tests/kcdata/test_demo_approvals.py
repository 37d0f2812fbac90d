"""Demo approvals (`kcdata run`) cover generated sample data only, never a department's real files.

A version is sample data when its fingerprint (SHA-256 of its source file) is the hash the sample
manifest recorded. The demo reviewer's approvals are stored as sample_only; the gate lets them
cover that one version, and a person's decision is never overridden.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from catalog.entries import get_resource
from catalog.store import Edge, open_store
from common.checksums import sha256_file
from flow.pipeline import land_and_validate
from portal.gate import Mode, decide
from portal.publisher import gate_decision
from samples.generate import generate_resource, manifest_path, sample_fingerprints
from system.demo import DEMO_REVIEWER, approve_for_demo

CODE = "KC-WSJK-001"  # clinics: 无条件开放, delivered as JSON
ROWS = 300
NOT_SAMPLE = "demo approval covers sample data only, not this version"

# A department's own delivery: a hand-made CSV with the catalog's Chinese headers (clean rows).
CLINICS_CSV = (
    "医疗机构登记号,机构名称,机构类别,地址,核定床位数,联系电话,经度,纬度,许可证有效期至\n"
    "PDY00000001,知识城社区卫生服务中心,社区卫生服务中心,黄埔区知识城九佛街道凤湖路1号,40,020-32000001,113.512345,23.391234,2028-06-30\n"
    "PDY00000002,凤凰湖门诊部,门诊部,黄埔区知识城凤凰湖大道8号,0,020-32000002,113.498765,23.402345,2027-12-31\n"
    "PDY00000003,九龙镇诊所,诊所,黄埔区九龙镇九龙大道66号,0,,113.531234,23.356789,2029-03-31\n"
)


@pytest.fixture
def clinics():
    return get_resource(CODE)


def _sample(resource, paths) -> Path:
    """Generate the resource's sample into the inbox, as `kcdata run` does."""
    return generate_resource(resource, paths.inbox, rows=ROWS).path


def _real_csv(paths) -> Path:
    path = paths.inbox / "clinics" / "clinics_2026-11.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLINICS_CSV, encoding="utf-8")
    return path


def _edited_copy(sample: Path) -> Path:
    """The sample with a few cells changed by hand, saved under another name: real data now."""
    objects = json.loads(sample.read_text(encoding="utf-8"))
    for i, obj in enumerate(objects[:3]):
        obj["机构名称"] = f"知识城第{i + 1}人民医院"
    path = sample.with_name("clinics_2026-12.json")
    path.write_text(json.dumps(objects, ensure_ascii=False), encoding="utf-8")
    return path


def _ours(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(f"{CODE}:")]


# -- the manifest proves which file is sample data ------------------------------------------------------


def test_manifest_records_the_sample_files_sha256(lake, clinics):
    assert sample_fingerprints(lake.inbox, clinics.table) == set()  # nothing generated yet
    result = generate_resource(clinics, lake.inbox, rows=50)
    assert result.manifest == manifest_path(lake.inbox, clinics.table)
    assert sample_fingerprints(lake.inbox, clinics.table) == {sha256_file(result.path)}
    assert pq.read_schema(result.manifest).metadata[b"kcdata.sample_sha256"] == sha256_file(result.path).encode()
    assert sample_fingerprints(lake.inbox, "no_such_table") == set()


def test_a_manifest_without_the_key_proves_nothing(lake, clinics):
    result = generate_resource(clinics, lake.inbox, rows=50)
    pq.write_table(pq.read_table(result.manifest).replace_schema_metadata(None), result.manifest)
    assert sample_fingerprints(lake.inbox, clinics.table) == set()


# -- the gate -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "approval", "covers", "mode", "reasons"),
    [
        ("KC-WSJK-001", "approve", True, Mode.data, []),
        ("KC-YJGL-001", "approve", True, Mode.metadata, []),
        ("KC-WSJK-001", "approve", False, Mode.none, [NOT_SAMPLE]),
        ("KC-YJGL-001", "approve", False, Mode.none, [NOT_SAMPLE]),
        ("KC-WSJK-001", "withdraw", False, Mode.none, ["approval withdrawn"]),
        ("KC-WSJK-001", None, False, Mode.none, ["not approved by a department reviewer"]),
    ],
)
def test_gate_refuses_an_approval_that_does_not_cover_the_latest_version(code, approval, covers, mode, reasons):
    decision = decide(get_resource(code), True, approval, approval_covers_latest=covers)
    assert decision.mode is mode
    assert decision.reasons == reasons


def test_gate_keeps_its_positional_signature():
    assert decide(get_resource(CODE), True, "approve").mode is Mode.data
    assert decide(get_resource(CODE), True, "approve", False).mode is Mode.none


def _fake_version(store, resource, fingerprint: str) -> int:
    landed = {
        "source_file": "/in/c.json", "fingerprint": fingerprint, "encoding": "utf-8", "raw_path": "/lake/raw/x",
        "landed_at": "2026-11-01T08:00:00+00:00",
    }
    outcome = {
        "rows": 10, "accepted": 10, "quarantined": 0, "passed": True, "gx_success": True, "by_rule": {},
        "validated_path": "/lake/validated/x", "quarantine_path": "/lake/quarantine/x", "validated_at": "2026-11-01T08:00:05Z",
    }
    return store.record_version(resource, landed, outcome, [], [Edge("land", f"file:///{fingerprint}", f"lake://{fingerprint}")]).version


def test_sample_only_approval_is_stored_and_scoped_to_its_version(lake, clinics):
    """The store and gate_decision alone (no pipeline): the scope follows the version numbers."""
    store = open_store()
    _fake_version(store, clinics, "a" * 64)
    demo = store.record_approval(clinics, "approve", DEMO_REVIEWER, note="kcdata run: sample data", sample_only=True)
    assert (demo.sample_only, demo.version) == (True, 1)
    assert store.current_approval(CODE).sample_only is True
    assert gate_decision(store, clinics)[0].mode is Mode.data
    _fake_version(store, clinics, "b" * 64)
    assert gate_decision(store, clinics)[0].reasons == [NOT_SAMPLE]
    person = store.record_approval(clinics, "approve", "张三")
    assert person.sample_only is False
    assert gate_decision(store, clinics)[0].mode is Mode.data


# -- approve_for_demo with real ingests ------------------------------------------------------------------


def test_a_version_made_from_the_sample_gets_a_sample_only_approval(lake, clinics):
    version = land_and_validate(clinics, _sample(clinics, lake)).version
    lines = approve_for_demo()
    assert _ours(lines) == [f"{CODE}: version {version} (sample data) approved for the demo by {DEMO_REVIEWER}"]
    store = open_store()
    approval = store.current_approval(CODE)
    assert (approval.action, approval.by, approval.sample_only, approval.version) == ("approve", DEMO_REVIEWER, True, version)
    assert approval.note == "kcdata run: sample data"
    decision, latest = gate_decision(store, clinics)
    assert (decision.mode, decision.reasons, latest.version) == (Mode.data, [], version)
    approve_for_demo()  # again: nothing new on record
    assert len(store.approvals(CODE)) == 1


def test_a_users_own_file_is_not_approved(lake, clinics):
    generate_resource(clinics, lake.inbox, rows=ROWS)  # the sample manifest exists, but the version is not from it
    result = land_and_validate(clinics, _real_csv(lake))
    assert result.outcome.passed
    lines = approve_for_demo()
    assert _ours(lines) == [
        f"{CODE}: not approved: version {result.version} was not made from the generated sample files; "
        f"a department reviewer decides (kcdata catalog approve {CODE} --by NAME)"
    ]
    store = open_store()
    assert store.current_approval(CODE) is None
    decision, _ = gate_decision(store, clinics)
    assert decision.mode is Mode.none
    assert decision.reasons == ["not approved by a department reviewer"]


def test_without_any_sample_nothing_is_approved(lake, clinics):
    """`kcdata run --no-sample` on an inbox with no generated samples at all."""
    land_and_validate(clinics, _real_csv(lake))
    assert _ours(approve_for_demo()) and open_store().current_approval(CODE) is None


def test_demo_approval_does_not_carry_over_to_real_data(lake, clinics):
    sample = _sample(clinics, lake)
    assert land_and_validate(clinics, sample).version == 1
    approve_for_demo()
    store = open_store()
    assert gate_decision(store, clinics)[0].mode is Mode.data

    assert land_and_validate(clinics, _edited_copy(sample)).version == 2  # a user's real file arrives
    decision, latest = gate_decision(store, clinics)
    assert latest.version == 2 and decision.mode is Mode.none
    assert decision.reasons == [NOT_SAMPLE]
    lines = approve_for_demo()
    assert _ours(lines) == [
        f"{CODE}: not approved: version 2 was not made from the generated sample files; "
        f"a department reviewer decides (kcdata catalog approve {CODE} --by NAME)"
    ]
    assert [(a.by, a.version, a.sample_only) for a in store.approvals(CODE)] == [(DEMO_REVIEWER, 1, True)]
    assert gate_decision(store, clinics)[0].mode is Mode.none

    store.record_approval(clinics, "approve", "张三")  # a person looked at version 2
    decision, latest = gate_decision(store, clinics)
    assert (decision.mode, decision.reasons, latest.version) == (Mode.data, [], 2)
    assert _ours(approve_for_demo()) == []  # a person decided: the demo stays out
    assert store.current_approval(CODE).by == "张三"


def test_a_reviewers_withdraw_is_never_overridden(lake, clinics):
    land_and_validate(clinics, _sample(clinics, lake))
    store = open_store()
    store.record_approval(clinics, "withdraw", "李四", note="not yet")
    assert _ours(approve_for_demo()) == []
    assert (store.current_approval(CODE).action, store.current_approval(CODE).by) == ("withdraw", "李四")
    assert gate_decision(store, clinics)[0].reasons == ["approval withdrawn"]


def test_a_withdraw_after_the_demo_approval_also_stands(lake, clinics):
    land_and_validate(clinics, _sample(clinics, lake))
    approve_for_demo()
    store = open_store()
    store.record_approval(clinics, "withdraw", "李四")
    approve_for_demo()
    assert [(a.action, a.by) for a in store.approvals(CODE)] == [("approve", DEMO_REVIEWER), ("withdraw", "李四")]
    assert gate_decision(store, clinics)[0].mode is Mode.none


def test_resources_without_a_version_are_skipped_silently(lake):
    assert approve_for_demo() == []
    assert open_store().current_approval(CODE) is None
