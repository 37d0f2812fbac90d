"""The open view built end to end from curated rows in a throw-away lake: every treatment applied,
pseudonyms that join across builds and resources, a changed treatment making a new view, and the
resources that must get none (undeclared sensitivity, core data)."""
from __future__ import annotations

import base64
import shutil
from pathlib import Path

import duckdb
import pytest
from governance_entries import BATCH, ROWS, VISITS, entry, item, write_curated  # tests/governance/governance_entries.py

from catalog.entries import load_catalog, load_resource
from catalog.model import Grade, OpenType
from common.errors import KcdataError
from common.keys import PSEUDONYM_KEY
from common.lake import Zone
from common.settings import PROJECT_ROOT
from expectations.suite import rules_signature
from governance.open_view import build_open_view, may_open
from portal.gate import Mode, decide


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch):
    monkeypatch.setenv(PSEUDONYM_KEY, base64.b64encode(bytes(range(32))).decode())


def read(path: Path) -> tuple[dict[str, str], list[dict]]:
    con = duckdb.connect()
    try:
        types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}
        cursor = con.execute(f"SELECT * FROM '{path}'")
        names = [d[0] for d in cursor.description]
        return types, [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_the_open_view_applies_each_declared_treatment(lake):
    visits = entry(VISITS, key=["visit_no"])
    write_curated(lake, visits, ROWS)
    view = build_open_view(visits, BATCH, rules_signature(visits), lake)

    assert view.rows == 3
    assert view.dropped == ["diagnosis", "remark"]
    assert view.columns == [i["code"] for i in VISITS if i["code"] not in ("diagnosis", "remark")]
    types, rows = read(view.path)
    assert types["visited_at"] == "VARCHAR" and types["age"] == "VARCHAR" and types["lon"] == "DOUBLE"
    first, second, third = rows
    assert (first["visitor"], first["mobile"], first["id_no"]) == ("张*", "138****1234", "4401121990********")
    assert (second["visitor"], second["id_no"]) == ("欧阳*", "4401121985********")
    assert (first["visited_at"], first["lon"], first["age"], first["household"]) == ("2026-03", 113.45, "30–39", None)
    assert (second["lon"], second["age"], second["household"]) == (113.45, "60–69", 12)
    assert third["mobile"] is None and third["id_no"] is None and third["age"] is None
    assert first["inspector"] == third["inspector"] != second["inspector"]
    assert len(first["inspector"]) == 64
    published = {str(v) for r in rows for v in r.values()}
    for original in ("张三丰", "欧阳娜娜", "13812341234", "440112199003071234", "王检查", "李核查", "高血压", "备注"):
        assert not any(original in cell for cell in published), original


def test_pseudonyms_join_across_builds_and_resources(lake):
    visits = entry(VISITS, key=["visit_no"])
    write_curated(lake, visits, ROWS)
    first = read(build_open_view(visits, BATCH, rules_signature(visits), lake).path)[1]

    write_curated(lake, visits, ROWS[:1], batch="cd" * 32)  # a later version of the same resource
    again = read(build_open_view(visits, "cd" * 32, rules_signature(visits), lake).path)[1]
    assert again[0]["inspector"] == first[0]["inspector"]

    audits = entry([item("audit_no"), item("inspector", sensitivity="personal", treatment="pseudonymise")],
                   key=["audit_no"], code="KC-TEST-002", table="audits")
    write_curated(lake, audits, [("A1", "李核查"), ("A2", "王检查")])
    other = read(build_open_view(audits, BATCH, rules_signature(audits), lake).path)[1]
    assert {r["inspector"] for r in other} == {r["inspector"] for r in first}


def test_another_pseudonym_key_gives_other_pseudonyms(lake, monkeypatch):
    visits = entry(VISITS, key=["visit_no"])
    write_curated(lake, visits, ROWS)
    mine = read(build_open_view(visits, BATCH, rules_signature(visits), lake).path)[1]
    shutil.rmtree(lake.table_dir(Zone.open, visits.table))
    monkeypatch.setenv(PSEUDONYM_KEY, base64.b64encode(bytes(range(1, 33))).decode())
    theirs = read(build_open_view(visits, BATCH, rules_signature(visits), lake).path)[1]
    assert [r["inspector"] for r in mine] != [r["inspector"] for r in theirs]


def test_a_changed_treatment_makes_a_new_open_view(lake):
    pseudonymised = entry(VISITS, key=["visit_no"])
    write_curated(lake, pseudonymised, ROWS)
    before = build_open_view(pseudonymised, BATCH, rules_signature(pseudonymised), lake)

    masked = entry([{**i, "treatment": {"mask": "name"}} if i["code"] == "inspector" else i for i in VISITS], key=["visit_no"])
    assert rules_signature(masked) != rules_signature(pseudonymised)
    after = build_open_view(masked, BATCH, rules_signature(masked), lake)
    assert after.path != before.path and before.path.exists()
    assert [r["inspector"] for r in read(after.path)[1]] == ["王*", "李*", "王*"]

    dropped = entry([{**i, "treatment": "drop"} if i["code"] == "inspector" else i for i in VISITS], key=["visit_no"])
    assert rules_signature(dropped) not in (rules_signature(masked), rules_signature(pseudonymised))


def _catalog_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped catalog whose enterprise entry has `old` replaced by `new`."""
    catalog = Path(shutil.copytree(PROJECT_ROOT / "catalog" / "resources", tmp_path / "catalog"))
    path = catalog / "market_supervision" / "enterprise_registrations.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_an_item_without_sensitivity_loads_but_refuses_the_open_view_and_the_gate(lake, tmp_path):
    path = _catalog_with(tmp_path, "sensitivity: personal, treatment: {mask: phone},", "")
    draft = load_resource(path, path.parent.parent)  # a draft loads
    assert draft.item("contact_phone").sensitivity is None
    expected = f"{path}: item contact_phone has no sensitivity; declare public, internal, personal or sensitive_personal"

    write_curated(lake, draft, [])
    with pytest.raises(KcdataError) as refused:
        build_open_view(draft, BATCH, rules_signature(draft), lake)
    assert expected in str(refused.value)
    assert not lake.table_dir(Zone.open, draft.table).exists()

    decision = decide(draft, True, "approve")
    assert decision.mode is Mode.none and expected in decision.reasons


def test_the_shipped_entries_name_their_file_in_the_refusal():
    enterprises = next(r for r in load_catalog() if r.table == "enterprise_registrations")
    draft = enterprises.model_copy(deep=True)
    draft.item("contact_phone").sensitivity = None
    assert draft.publication_problems() == [
        "catalog/resources/market_supervision/enterprise_registrations.yaml: item contact_phone has no sensitivity; "
        "declare public, internal, personal or sensitive_personal"
    ]


def test_a_bad_treatment_in_an_entry_names_the_file_and_the_item(tmp_path):
    path = _catalog_with(tmp_path, "treatment: {mask: phone}", "treatment: keep")
    with pytest.raises(KcdataError, match=r"enterprise_registrations\.yaml.*item contact_phone: a personal item cannot be kept"):
        load_resource(path, path.parent.parent)


def test_core_data_gets_no_open_view_and_never_passes_the_gate(lake):
    core = entry([item("v")], key=["v"], grade="核心", open={"type": "不予开放"})
    assert not may_open(core)
    with pytest.raises(KcdataError, match=r"core data \(核心数据\) never leaves the lake"):
        build_open_view(core, BATCH, rules_signature(core), lake)
    # even if an entry slipped past validation as open, the gate and the open view still refuse
    slipped = core.model_copy(update={"open": core.open.model_copy(update={"type": OpenType.unconditional})})
    assert not may_open(slipped)
    decision = decide(slipped, True, "approve")
    assert decision.mode is Mode.none and "KC-TEST-001: core data (核心数据) never leaves the lake" in decision.reasons


def test_every_shipped_item_declares_its_sensitivity_and_no_core_data_is_open():
    for r in load_catalog():
        assert r.publication_problems() == [], r.code
        assert not (r.grade is Grade.core and r.open.type is not OpenType.none), r.code
        for i in r.items:
            assert not (i.personal and i.effective_treatment.kind.value == "keep"), (r.code, i.code)
