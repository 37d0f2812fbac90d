"""Sample files: deterministic, clean rows obey the catalog, manifest rows are bad as described."""
from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest

from catalog.entries import get_resource, load_catalog
from catalog.model import Item, ItemType, Resource
from common.codes import USCC_CHARSET, is_valid_id_card, is_valid_uscc
from samples.corruptions import KINDS
from samples.generate import SampleResult, generate_resource

ROWS = {"csv": 2000, "json": 2000, "xlsx": 1200}  # openpyxl without lxml writes ~1.5k rows/s
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_OTHER_DATE = re.compile(
    r"(?P<y>\d{4})(?:/(?P<m1>\d{1,2})/(?P<d1>\d{1,2})|年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日|(?P<m3>\d{2})(?P<d3>\d{2})"
    r"|\.(?P<m4>\d{2})\.(?P<d4>\d{2}))"
)


def read_rows(resource: Resource, path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and data rows as a reader sees them; missing cells are None."""
    fmt = resource.source.format.value
    if fmt == "csv":
        encoding = {"utf-8-sig": "utf-8-sig", "gb18030": "gb18030"}.get(resource.source.encoding, "utf-8")
        with open(path, encoding=encoding, newline="") as f:
            header, *rows = list(csv.reader(f))
        return header, [[v if v != "" else None for v in row] for row in rows]
    if fmt == "json":
        objects = json.loads(path.read_text(encoding="utf-8"))
        names = [i.name for i in resource.items]
        assert all(list(o) == names for o in objects)
        return names, [[o[n] for n in names] for o in objects]
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == [resource.source.sheet or "Sheet1"]
    header, *rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    book.close()
    return header, rows


def violations(item: Item, value: Any) -> list[str]:  # noqa: C901 (one branch per catalog rule)
    """Which of the item's own rules a value breaks (typed XLSX/JSON cells accepted as such)."""
    if value is None or value == "":
        return ["required"] if item.required else []
    problems = []
    number: float | None = None
    if item.type in (ItemType.N, ItemType.I):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
            if item.type is ItemType.I and not float(value).is_integer():
                problems.append("type")
        elif isinstance(value, str) and _NUMBER.fullmatch(value) and (item.type is ItemType.N or "." not in value):
            number = float(value)
        else:
            problems.append("type")
    elif item.type is ItemType.D:
        ok = isinstance(value, date) and (not isinstance(value, datetime) or value.time() == datetime.min.time())
        if not ok and not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
            problems.append("type")
    elif item.type is ItemType.T:
        if not isinstance(value, datetime) and not (isinstance(value, str) and _ISO_DATETIME.fullmatch(value)):
            problems.append("type")
    elif not isinstance(value, str):
        problems.append("type")
    if item.pattern == "uscc" and not is_valid_uscc(value):
        problems.append("pattern")
    elif item.pattern == "id_card" and not is_valid_id_card(value):
        problems.append("pattern")
    elif item.pattern and item.pattern not in ("uscc", "id_card"):
        if not (isinstance(value, str) and re.search(item.pattern, value)):
            problems.append("pattern")
    if item.allowed and value not in item.allowed:
        problems.append("allowed")
    if item.range and number is not None:
        lo, hi = item.range
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            problems.append("range")
    return problems


def manifest_of(result: SampleResult) -> list[dict]:
    table = pq.read_table(result.manifest)
    assert [(f.name, str(f.type)) for f in table.schema] == [("row", "int64"), ("kind", "string"), ("column", "string")]
    return table.to_pylist()


def check_corrupted(resource: Resource, entry: dict, value: Any) -> None:
    item = resource.item(entry["column"])
    kind = entry["kind"]
    where = f"{resource.table} row {entry['row']} {item.code}={value!r}"
    if kind == "missing_required":
        assert value is None and item.required and item.code not in resource.key, where
    elif kind == "bad_uscc_check":
        assert isinstance(value, str) and len(value) == 18 and set(value) <= set(USCC_CHARSET), where
        assert not is_valid_uscc(value), where
    elif kind == "out_of_range":
        assert violations(item, value) == ["range"], where
        assert not isinstance(value, str) or value.isascii(), where
    elif kind == "mixed_date":
        assert isinstance(value, str) and violations(item, value) == ["type"], where
        m = _OTHER_DATE.match(value)
        assert m, where
        month = next(int(v) for k, v in m.groupdict().items() if k.startswith("m") and v)
        day = next(int(v) for k, v in m.groupdict().items() if k.startswith("d") and v)
        date(int(m["y"]), month, day)  # a real date, just written another way
    elif kind == "full_width_digits":
        assert isinstance(value, str) and re.search("[０-９]", value), where
        assert violations(item, value.translate(_FULL_WIDTH)) == [], where
    elif kind == "stray_whitespace":
        stripped = value.strip(" \t\u3000")
        assert isinstance(value, str) and stripped != value, where
        assert violations(item, stripped) == [], where
    elif kind != "duplicate_key":
        raise AssertionError(f"unknown kind {kind}")


@pytest.mark.parametrize("resource", load_catalog(), ids=lambda r: r.table)
def test_clean_rows_obey_catalog_and_manifest_rows_are_bad(resource: Resource, tmp_path: Path) -> None:
    rows = ROWS[resource.source.format.value]
    result = generate_resource(resource, tmp_path, rows=rows, bad_share=0.05)
    assert result.path == tmp_path / resource.table / f"{resource.table}_sample.{resource.source.format.value}"
    assert result.manifest == tmp_path / ".manifests" / f"{resource.table}.parquet"
    assert sorted(p.name for p in result.path.parent.iterdir()) == [result.path.name]  # no temp files left
    header, data = read_rows(resource, result.path)
    assert header == [i.name for i in resource.items]
    assert len(data) == rows == result.rows

    manifest = manifest_of(result)
    flagged = {e["row"]: e for e in manifest}
    assert len(flagged) == len(manifest) == result.bad_rows, "one kind per row"
    assert [e["row"] for e in manifest] == sorted(flagged)
    assert result.by_kind == {k: sum(e["kind"] == k for e in manifest) for k in KINDS if k in result.by_kind}
    assert sum(e["kind"] != "duplicate_key" for e in manifest) + result.by_kind.get("duplicate_key", 0) // 2 == round(
        rows * 0.05
    )

    keys: dict[tuple, list[int]] = defaultdict(list)
    uniques: dict[str, dict[Any, int]] = {i.code: {} for i in resource.items if i.unique}
    for number, row in enumerate(data, start=1):
        values = dict(zip((i.code for i in resource.items), row, strict=True))
        keys[tuple(values[k] for k in resource.key)].append(number)
        entry = flagged.get(number)
        for item in resource.items:
            if entry and entry["kind"] != "duplicate_key" and item.code == entry["column"]:
                check_corrupted(resource, entry, values[item.code])
            else:
                assert violations(item, values[item.code]) == [], f"row {number} {item.code}={values[item.code]!r}"
        if entry is None:
            for code, seen in uniques.items():
                assert values[code] not in seen, f"{code} {values[code]!r} repeats rows {seen.get(values[code])}, {number}"
                seen[values[code]] = number

    duplicated = {tuple(rows_) for rows_ in keys.values() if len(rows_) > 1}
    dup_rows = {e["row"] for e in manifest if e["kind"] == "duplicate_key"}
    assert {r for group in duplicated for r in group} == dup_rows
    assert all(len(group) == 2 for group in duplicated)
    assert all(flagged[r]["column"] == resource.key[0] for r in dup_rows)


@pytest.mark.parametrize(
    ("table", "kinds"),
    [
        ("enterprise_registrations", set(KINDS)),
        ("air_quality_hourly", set(KINDS) - {"bad_uscc_check"}),
    ],
)
def test_every_applicable_kind_appears(table: str, kinds: set[str], tmp_path: Path) -> None:
    result = generate_resource(get_resource(table), tmp_path, rows=2000, bad_share=0.05)
    assert set(result.by_kind) == kinds
    assert {e["kind"] for e in manifest_of(result)} == kinds


@pytest.mark.parametrize("table", ["enterprise_registrations", "patent_grants", "clinics"])
def test_same_arguments_give_identical_bytes(table: str, tmp_path: Path) -> None:
    resource = get_resource(table)
    first = generate_resource(resource, tmp_path / "a", rows=500, seed=7)
    second = generate_resource(resource, tmp_path / "b", rows=500, seed=7)
    again = generate_resource(resource, tmp_path / "a", rows=500, seed=7)  # overwrite in place
    assert first.path.read_bytes() == second.path.read_bytes() == again.path.read_bytes()
    assert first.manifest.read_bytes() == second.manifest.read_bytes()
    other = generate_resource(resource, tmp_path / "c", rows=500, seed=8)
    assert other.path.read_bytes() != first.path.read_bytes()


def test_default_rows_and_zero_bad_share(tmp_path: Path) -> None:
    resource = get_resource("clinics")
    result = generate_resource(resource, tmp_path, bad_share=0)
    assert result.rows == resource.source.sample_rows == len(json.loads(result.path.read_text(encoding="utf-8")))
    assert result.bad_rows == 0 and result.by_kind == {} and pq.read_table(result.manifest).num_rows == 0


def test_csv_encodings(tmp_path: Path) -> None:
    gb = generate_resource(get_resource("enterprise_registrations"), tmp_path, rows=200).path.read_bytes()
    assert gb.decode("gb18030").startswith("统一社会信用代码,")
    with pytest.raises(UnicodeDecodeError):
        gb.decode("utf-8")
    bom = generate_resource(get_resource("air_quality_hourly"), tmp_path, rows=200).path.read_bytes()
    assert bom.startswith(b"\xef\xbb\xbf") and bom[3:].decode("utf-8").startswith("监测站编码,")
    plain = generate_resource(get_resource("traffic_flow"), tmp_path, rows=200).path.read_bytes()
    assert not plain.startswith(b"\xef\xbb\xbf") and plain.decode("utf-8").startswith("路口编码,")
    assert plain.count(b"\r\n") == 201 and plain.count(b"\n") == 201


def test_codes_agree_with_their_row(tmp_path: Path) -> None:
    """ID numbers carry the row's birth date and gender; patent numbers its type; enterprises join."""
    talent = get_resource("talent_registry")
    _, rows = read_rows(talent, generate_resource(talent, tmp_path, rows=500, bad_share=0).path)
    for r in rows:
        assert r[2][6:14] == r[4].replace("-", "") and int(r[2][16]) % 2 == (r[3] == "男")
    patents = get_resource("patent_grants")
    _, prows = read_rows(patents, generate_resource(patents, tmp_path, rows=300, bad_share=0).path)
    assert all(r[0][6] == {"发明": "1", "实用新型": "2", "外观设计": "3"}[r[2]] for r in prows)
    enterprises = get_resource("enterprise_registrations")
    _, erows = read_rows(enterprises, generate_resource(enterprises, tmp_path, rows=300, bad_share=0).path)
    assert [(r[3], r[4]) for r in prows] == [(r[1], r[0]) for r in erows]  # holder name/uscc = enterprise
    assert [r[8] for r in rows[:300]] == [r[0] for r in erows]


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"KC-ZSCQ-001.*CSV"):
        generate_resource(get_resource("patent_grants"), tmp_path, rows=1_048_576)
    assert not (tmp_path / "patent_grants" / "patent_grants_sample.xlsx").exists()
