"""Pure parts of publishing: the gate's rules, the catalog -> CKAN mapping (golden), CSV safety."""
from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from catalog.entries import get_resource
from governance.open_view import OpenView, public_items
from portal.files import write_files
from portal.gate import Mode, decide
from portal.mapping import VersionFacts, dataset_dict

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("code", "passed", "approval", "mode", "reason"),
    [
        ("KC-WSJK-001", True, "approve", Mode.data, None),
        ("KC-YJGL-001", True, "approve", Mode.metadata, None),  # 有条件开放: metadata + dictionary only
        ("KC-RLZY-001", True, "approve", Mode.none, "open type is 不予开放"),
        ("KC-WSJK-001", False, "approve", Mode.none, "latest version failed validation"),
        ("KC-WSJK-001", None, "approve", Mode.none, "no validated version yet"),
        ("KC-WSJK-001", True, None, Mode.none, "not approved by a department reviewer"),
        ("KC-WSJK-001", True, "withdraw", Mode.none, "approval withdrawn"),
    ],
)
def test_publication_gate(code, passed, approval, mode, reason):
    decision = decide(get_resource(code), passed, approval)
    assert decision.mode is mode
    assert (reason in decision.reasons) if reason else decision.reasons == []


def test_personal_items_are_never_in_the_open_view():
    enterprises = get_resource("KC-SCJG-001")
    assert "legal_representative" not in public_items(enterprises)
    assert "contact_phone" not in public_items(enterprises)
    assert "uscc" in public_items(enterprises)


def test_dataset_metadata_matches_golden():
    resource = get_resource("KC-YJGL-001")
    facts = VersionFacts(3, "f" * 64, 7500, 8000, 7600, 400, datetime(2026, 11, 1, 8, 30), ["inspector"])
    got = dataset_dict(resource, facts, "org-id", "http://127.0.0.1:5000")
    path = GOLDEN / "kc-yjgl-001.dataset.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert got == json.loads(path.read_text(encoding="utf-8"))


def test_csv_cells_that_excel_would_run_are_neutralised(tmp_path):
    clinics = get_resource("KC-WSJK-001")
    view_path = tmp_path / "open.parquet"
    duckdb.sql(
        """COPY (SELECT * FROM (VALUES
             ('PDY00000001', '=HYPERLINK("http://x")', '诊所', '+86 街', 5, '020-31234567', 113.5, 23.4, DATE '2028-01-01'),
             ('PDY00000002', '@SUM(A1)', '诊所', '-1号', -0, '020-31234568', 113.5, 23.4, DATE '2028-01-01')
           ) t(institution_code, institution_name, institution_type, address, beds, phone, longitude, latitude, license_valid_until))
           TO '""" + str(view_path) + "' (FORMAT parquet)"
    )
    view = OpenView(view_path, 2, [i.code for i in clinics.items], [])
    files = {f.name: f for f in write_files(clinics, view, tmp_path / "out", with_data=True)}
    raw = files["data.csv"].path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["医疗机构登记号", "机构名称", "机构类别"]
    assert rows[1][1] == "'=HYPERLINK(\"http://x\")" and rows[1][3] == "'+86 街"
    assert rows[2][1] == "'@SUM(A1)" and rows[2][3] == "'-1号"
    assert rows[2][4] == "0"  # numbers are never touched
    assert set(files) == {"data.csv", "data.parquet", "data-dictionary.csv"}
    assert {f.name for f in write_files(clinics, view, tmp_path / "meta", with_data=False)} == {"data-dictionary.csv"}


def test_whole_numbers_are_written_without_a_decimal_point(tmp_path):
    """An integer item stored as a double (3.0) and a whole decimal (113.0) read 3 and 113 in the
    CSV; the Parquet keeps integer items as integers; the dictionary's ranges read 0–5000."""
    clinics = get_resource("KC-WSJK-001")
    view_path = tmp_path / "open.parquet"
    duckdb.sql(
        """COPY (SELECT * FROM (VALUES
             ('PDY00000001', '甲诊所', '诊所', '一号', 3.0::DOUBLE, '020-31234567', 113.0::DOUBLE, 23.25::DOUBLE, DATE '2028-01-01')
           ) t(institution_code, institution_name, institution_type, address, beds, phone, longitude, latitude, license_valid_until))
           TO '""" + str(view_path) + "' (FORMAT parquet)"
    )
    view = OpenView(view_path, 1, [i.code for i in clinics.items], [])
    files = {f.name: f for f in write_files(clinics, view, tmp_path / "out", with_data=True)}
    row = list(csv.DictReader(files["data.csv"].path.read_text(encoding="utf-8-sig").splitlines()))[0]
    assert (row["核定床位数"], row["经度"], row["纬度"]) == ("3", "113", "23.25")
    beds_type = duckdb.sql(f"DESCRIBE SELECT beds FROM read_parquet('{files['data.parquet'].path}')").fetchall()[0][1]
    assert beds_type == "BIGINT"
    rules = {r["字段 column"]: r["规则 rule"] for r in csv.DictReader(
        files["data-dictionary.csv"].path.read_text(encoding="utf-8-sig").splitlines())}
    assert rules["beds"] == "0–5000" and rules["longitude"] == "113.3–113.7"
