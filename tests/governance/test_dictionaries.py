"""The treatments are shown wherever the data dictionary is: the portal's dictionary CSV, its data
files and DataStore types, the dataset notes, the 编制指南 workbook and the catalog web's page."""
from __future__ import annotations

import base64
import csv
import io
from datetime import datetime

import duckdb
import pytest
from governance_entries import BATCH, ROWS, VISITS, entry, item, write_curated  # tests/governance/governance_entries.py
from openpyxl import load_workbook

from catalog.entries import get_resource
from catalog.spreadsheet_export import write_workbook
from common.keys import PSEUDONYM_KEY
from expectations.suite import rules_signature
from governance.open_view import build_open_view
from portal.files import write_files
from portal.mapping import VersionFacts, dataset_dict, datastore_fields
from web.resource_view import dictionary


@pytest.fixture
def published(lake, tmp_path, monkeypatch):
    """The portal files of the treated visits resource, by name."""
    monkeypatch.setenv(PSEUDONYM_KEY, base64.b64encode(bytes(range(32))).decode())
    visits = entry(VISITS, key=["visit_no"])
    write_curated(lake, visits, ROWS)
    view = build_open_view(visits, BATCH, rules_signature(visits), lake)
    return visits, view, {f.name: f for f in write_files(visits, view, tmp_path / "out", with_data=True)}


def test_the_portal_dictionary_states_sensitivity_and_treatment(published):
    _, _, files = published
    rows = {r["字段 column"]: r for r in csv.DictReader(files["data-dictionary.csv"].path.read_text(encoding="utf-8-sig").splitlines())}
    assert set(rows) == {"visit_no", "visitor", "mobile", "id_no", "inspector", "visited_at", "lon", "age", "household"}
    assert rows["mobile"]["敏感性 sensitivity"] == "个人信息 personal"
    assert rows["mobile"]["处理方式 treatment"] == "掩码 mask (138****1234)"
    assert rows["mobile"]["规则 rule"] == ""  # the validation pattern no longer describes a masked number
    assert rows["id_no"]["处理方式 treatment"] == "掩码 mask (4401121990********)"
    assert rows["age"]["类型 type"] == "C" and rows["age"]["处理方式 treatment"] == "分段 generalise to bands of 10 (30–39)"
    assert rows["visited_at"]["类型 type"] == "C" and rows["visited_at"]["处理方式 treatment"].startswith("泛化到月")
    assert rows["visit_no"]["处理方式 treatment"] == "原样公开 keep"


def test_the_data_files_carry_the_treated_values_with_their_published_types(published):
    _, _, files = published
    lines = list(csv.DictReader(files["data.csv"].path.read_text(encoding="utf-8-sig").splitlines()))
    assert (lines[0]["visitor"], lines[0]["mobile"], lines[0]["age"], lines[0]["visited_at"]) == ("张*", "138****1234", "30–39", "2026-03")
    assert "diagnosis" not in lines[0] and "remark" not in lines[0]
    described = {name: kind for name, kind, *_ in duckdb.sql(f"DESCRIBE SELECT * FROM '{files['data.parquet'].path}'").fetchall()}
    assert described["age"] == "VARCHAR" and described["visited_at"] == "VARCHAR" and described["household"] == "BIGINT"


def test_datastore_types_follow_the_output_type(published):
    visits, view, _ = published
    fields = {f["id"]: f for f in datastore_fields(visits, view.columns)}
    assert fields["age"]["type"] == "text" and fields["visited_at"]["type"] == "text"
    assert fields["household"]["type"] == "int" and fields["lon"]["type"] == "numeric"
    assert "处理方式 treatment: 掩码 mask (张*)" in fields["visitor"]["info"]["notes"]


def test_the_dataset_notes_list_how_each_item_is_protected():
    inspections = get_resource("KC-YJGL-001")
    facts = VersionFacts(1, "f" * 64, 10, 10, 10, 0, datetime(2026, 11, 1), [])
    notes = dataset_dict(inspections, facts, "org", "http://127.0.0.1:5000")["notes"]
    assert "检查人员 inspector：假名化 pseudonymise (HMAC-SHA256" in notes
    enterprises = dataset_dict(get_resource("KC-SCJG-001"), facts, "org", "http://127.0.0.1:5000")["notes"]
    assert "法定代表人 legal_representative：掩码 mask (张*)" in enterprises
    assert "联系电话 contact_phone：掩码 mask (138****1234)" in enterprises
    assert "统一社会信用代码 uscc" not in enterprises  # kept items are not listed


def test_the_workbook_and_the_catalog_web_show_the_treatment():
    talent = get_resource("KC-RLZY-001")
    buffer = io.BytesIO()
    write_workbook([talent], None, buffer)
    sheet = list(load_workbook(io.BytesIO(buffer.getvalue()))["信息项"].iter_rows(values_only=True))
    header, rows = sheet[0], {r[2]: r for r in sheet[1:]}
    at = header.index("开放处理方式")
    assert rows["birth_date"][at] == "泛化到年 generalise to year (1990)" and rows["id_card_no"][at] == "不公开 drop (withheld)"

    web = {d["code"]: d for d in dictionary(talent)}
    assert web["mobile"]["treatment"] == "掩码 mask (138****1234)" and web["mobile"]["treated"]
    assert web["birth_date"]["published_type"] == "整数型 integer"
    assert web["employer_uscc"]["treatment"] == "原样公开 keep" and not web["employer_uscc"]["treated"]


def test_an_undeclared_item_is_flagged_in_the_web_dictionary():
    draft = entry([item("v"), item("phone", sensitivity=None)])
    web = {d["code"]: d for d in dictionary(draft)}
    assert web["phone"]["sensitivity"] == "未声明 undeclared" and web["phone"]["personal"]
    assert web["phone"]["treatment"].startswith("未声明敏感性，不可发布")
