"""Each treatment against worked examples, run by real DuckDB; defaults by sensitivity; the
combinations an entry may not declare, refused with the item named."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date, datetime
from typing import Any

import duckdb
import pytest
from governance_entries import entry, item  # tests/governance/governance_entries.py
from pydantic import ValidationError

from catalog.model import ItemType, TreatmentKind
from governance.treatments import column_sql, register

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def treated(spec: dict, values: list[Any], sql_type: str, key: bytes = KEY) -> list[Any]:
    """The published values of `values` (a column of `sql_type`) under the item `spec`."""
    resource = entry([spec])
    con = duckdb.connect()
    try:
        register(con, key)
        con.execute(f"CREATE TABLE t (v {sql_type})")
        con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
        con.execute(f'CREATE VIEW src AS SELECT v AS "{spec["code"]}", rowid AS n FROM t')
        sql = column_sql(resource.items[0])
        return [row[0] for row in con.execute(f"SELECT {sql} FROM src ORDER BY n").fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("mask", "value", "published"),
    [
        ("phone", "13812341234", "138****1234"),
        ("name", "张三丰", "张*"),
        ("name", "李四", "李*"),
        ("name", "欧阳娜娜", "欧阳*"),  # a two-character surname stays whole
        ("id_card", "440112199003071234", "4401121990********"),  # region and birth year
        ("email", "li.ming@example.cn", "l***@example.cn"),
    ],
)
def test_masks_keep_only_what_the_worked_example_shows(mask, value, published):
    spec = item("v", sensitivity="personal", treatment={"mask": mask})
    assert treated(spec, [value, None], "VARCHAR") == [published, None]


def test_timestamps_generalise_to_the_day_or_the_month():
    at = [datetime(2026, 3, 7, 14, 25, 9), None]
    assert treated(item("at", "T", "personal", {"generalise": "day"}), at, "TIMESTAMP") == [date(2026, 3, 7), None]
    assert treated(item("at", "T", "personal", {"generalise": "month"}), at, "TIMESTAMP") == ["2026-03", None]


def test_dates_generalise_to_the_month_or_the_year():
    born = [date(1990, 3, 7), None]
    assert treated(item("born", "D", "personal", {"generalise": "month"}), born, "DATE") == ["1990-03", None]
    assert treated(item("born", "D", "personal", {"generalise": "year"}), born, "DATE") == [1990, None]


def test_coordinates_are_floored_to_the_grid():
    spec = item("lon", "N", "internal", {"generalise": {"grid": 0.01}})
    # 113.45 / 0.01 is 11344.999… in floating point: it must still land in its own cell
    assert treated(spec, [113.456789, 113.45, 23.301, -0.001, None], "DOUBLE") == [113.45, 113.45, 23.3, -0.01, None]
    fine = item("lat", "N", "internal", {"generalise": {"grid": 0.001}})
    assert treated(fine, [23.3456789], "DOUBLE") == [23.345]


def test_ages_become_text_bands():
    spec = item("age", "I", "personal", {"generalise": {"band": 10}})
    assert treated(spec, [34, 40, 9, 0, None], "BIGINT") == ["30–39", "40–49", "0–9", "0–9", None]
    assert entry([spec]).items[0].output_type is ItemType.C


def test_small_counts_are_suppressed():
    spec = item("cases", "I", "internal", {"generalise": {"suppress_below": 5}})
    assert treated(spec, [3, 4, 5, 120, 0, None], "BIGINT") == [None, None, 5, 120, None, None]


def test_pseudonyms_are_keyed_hmac_sha256_stable_and_64_hex():
    spec = item("inspector", sensitivity="personal", treatment="pseudonymise")
    first = treated(spec, ["张三", "李四", "张三", None], "VARCHAR")
    assert first[0] == first[2] != first[1] and first[3] is None
    assert all(re.fullmatch(r"[0-9a-f]{64}", p) for p in first[:3])
    # what anyone holding the key computes: HMAC-SHA256 of the UTF-8 text (and only they can)
    assert first[0] == hmac.new(KEY, "张三".encode(), hashlib.sha256).hexdigest()
    assert treated(spec, ["张三"], "VARCHAR") == first[:1]  # another build, the same pseudonym
    assert treated(spec, ["张三"], "VARCHAR", key=OTHER_KEY) != first[:1]


def test_many_rows_are_pseudonymised_once_per_distinct_value():
    spec = item("who", sensitivity="personal", treatment="pseudonymise")
    values = [f"人{i % 7}" for i in range(5000)]
    out = treated(spec, values, "VARCHAR")
    assert len(set(out)) == 7 and out[0] == out[7] == out[4998]


def test_integer_identifiers_are_pseudonymised_from_their_text():
    spec = item("n", "I", "personal", "pseudonymise")
    assert treated(spec, [42], "BIGINT") == [hmac.new(KEY, b"42", hashlib.sha256).hexdigest()]


@pytest.mark.parametrize(
    ("sensitivity", "kind"),
    [("public", TreatmentKind.keep), ("internal", TreatmentKind.drop), ("personal", TreatmentKind.drop),
     ("sensitive_personal", TreatmentKind.drop)],
)
def test_without_a_declared_treatment_the_sensitivity_decides(sensitivity, kind):
    declared = entry([item("v", sensitivity=sensitivity)]).items[0]
    assert declared.effective_treatment.kind is kind
    assert (column_sql(declared) is None) is (kind is TreatmentKind.drop)


def test_masks_are_inferred_from_the_check_or_the_sample_generator():
    items = entry([
        item("id_no", sensitivity="sensitive_personal", treatment="mask", pattern="id_card"),
        item("mobile", sensitivity="personal", treatment="mask", pattern=r"^1[3-9]\d{9}$"),
        item("phone", sensitivity="personal", treatment="mask", sample={"gen": "phone"}),
        item("name", sensitivity="personal", treatment="mask", sample={"gen": "person_name"}),
    ]).items
    assert [i.effective_treatment.spec for i in items] == ["mask:id_card", "mask:phone", "mask:phone", "mask:name"]
    assert items[1].treatment_label == "掩码 mask (138****1234)"


@pytest.mark.parametrize(
    ("spec", "fields", "message"),
    [
        (item("mobile", sensitivity="personal", treatment="keep"), {}, r"item mobile: a personal item cannot be kept"),
        (item("id_no", sensitivity="sensitive_personal", treatment="keep"), {}, r"item id_no: a sensitive_personal item cannot be kept"),
        (item("cost", "N", "internal", "keep"), {"grade": "重要"}, r"item cost: an internal item of an important \(重要\) resource"),
        (item("remark", sensitivity="personal", treatment="mask"), {}, r"item remark: treatment mask: cannot tell what to mask"),
        (item("beds", "N", "personal", {"mask": "phone"}), {}, r"item beds: treatment mask:phone does not apply to a N item"),
        (item("on", "D", "personal", {"generalise": "day"}), {}, r"item on: treatment generalise:day does not apply to a D item"),
        (item("v", sensitivity="personal", treatment="blur"), {}, r"unknown treatment 'blur'"),
        (item("v", "N", "internal", {"generalise": {"grid": 0.01, "band": 10}}), {}, r"say how to generalise"),
    ],
)
def test_forbidden_or_unclear_treatments_are_refused_naming_the_item(spec, fields, message):
    with pytest.raises(ValidationError, match=message):
        entry([spec, item("other")], **fields)


def test_an_internal_item_of_a_general_resource_may_be_kept():
    assert entry([item("cost", "N", "internal", "keep")]).items[0].effective_treatment.kind is TreatmentKind.keep


def test_a_key_item_cannot_be_masked():
    with pytest.raises(ValidationError, match=r"item mobile: a key item cannot be masked or generalised"):
        entry([item("mobile", sensitivity="personal", treatment={"mask": "phone"})], key=["mobile"])


def test_core_data_cannot_be_declared_open():
    with pytest.raises(ValidationError, match=r"core data \(核心数据\) never leaves the lake, so it cannot be 有条件开放"):
        entry([item("v")], grade="核心", open={"type": "有条件开放", "condition": "申请"})


def test_types_and_labels_follow_the_treatment():
    r = entry([
        item("at", "T", "personal", {"generalise": "day"}), item("month", "D", "personal", {"generalise": "month"}),
        item("born", "D", "personal", {"generalise": "year"}), item("lon", "N", "internal", {"generalise": {"grid": 0.01}}),
        item("n", "I", "internal", {"generalise": {"suppress_below": 5}}), item("who", sensitivity="personal", treatment="pseudonymise"),
        item("gone", sensitivity="personal"), item("draft", sensitivity=None),
    ])
    assert [i.output_type for i in r.items] == [ItemType.D, ItemType.C, ItemType.I, ItemType.N, ItemType.I, ItemType.C, None, None]
    assert [i.treatment_label for i in r.items] == [
        "泛化到日 generalise to day (2026-03-07)", "泛化到月 generalise to month (2026-03)", "泛化到年 generalise to year (1990)",
        "泛化到 0.01 网格 generalise to a 0.01 grid", "小于 5 不公开 suppressed below 5 (留空 blank)",
        "假名化 pseudonymise (HMAC-SHA256, 同值同码 same value, same code)", "不公开 drop (withheld)",
        "未声明敏感性，不可发布 no sensitivity declared: cannot be published",
    ]


def test_the_pseudonym_key_comes_from_the_environment(monkeypatch):
    from common.keys import PSEUDONYM_KEY, pseudonym_key

    monkeypatch.setenv(PSEUDONYM_KEY, base64.b64encode(OTHER_KEY).decode())
    assert pseudonym_key() == OTHER_KEY
