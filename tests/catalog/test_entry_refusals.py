"""Catalog entries that used to load and must be refused, each naming the file and the item or field
to fix: a broken regex, a misspelt named check, a table that is not an identifier, a derived item
over an unknown name, and a department code whose GB 32100 check character is wrong."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from catalog.entries import load_catalog, load_departments
from catalog.model import DUCKDB_TYPES
from common.codes import is_valid_uscc, uscc_check_char, uscc_problem
from common.errors import KcdataError

CATALOG = Path(__file__).parents[2] / "catalog/resources"
CLINICS = "health/clinics.yaml"
CLINIC_CODE = "pattern: '^PDY\\d{8}$'"


def _copy_catalog(tmp_path: Path, name: str) -> Path:
    """A private copy of the catalog (load_catalog caches by folder, so each test uses its own)."""
    return Path(shutil.copytree(CATALOG, tmp_path / name))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _add_item(path: Path, item: str) -> None:
    """Append one item to an entry whose `items:` list ends the file (clinics.yaml does)."""
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + f"\n  - {item}\n", encoding="utf-8")


# --------------------------------------------------------------------------- pattern


def test_an_invalid_regex_names_file_item_and_field(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "bad_regex")
    _edit(catalog / CLINICS, CLINIC_CODE, "pattern: '[A-Z'")
    with pytest.raises(KcdataError) as caught:
        load_catalog(catalog)
    message = str(caught.value)
    assert "clinics.yaml: invalid catalog entry: items.0.pattern:" in message
    assert "item institution_code (医疗机构登记号): pattern '[A-Z' is not a valid regular expression" in message
    assert "unterminated character set at position 0" in message
    assert "unexpected error" not in message


@pytest.mark.parametrize(
    ("written", "refusal"),
    [
        ("usc", r"pattern 'usc' is not a named check \(id_card, uscc\); did you mean uscc\?"),
        ("uscc_", r"pattern 'uscc_' is not a named check .*did you mean uscc\?"),
        ("idcard", r"pattern 'idcard' is not a named check .*did you mean id_card\?"),
        ("phone", r"pattern 'phone' is not a named check \(id_card, uscc\); a regex that matches this word itself is written \^phone\$"),
    ],
)
def test_a_bare_word_that_is_not_a_named_check_is_refused(tmp_path: Path, written: str, refusal: str):
    catalog = _copy_catalog(tmp_path, f"word_{written}")
    _edit(catalog / CLINICS, CLINIC_CODE, f"pattern: {written}")
    with pytest.raises(KcdataError, match=rf"clinics\.yaml: .*items\.0\.pattern: .*item institution_code \(医疗机构登记号\): {refusal}"):
        load_catalog(catalog)


@pytest.mark.parametrize(("written", "named"), [("USCC", "uscc"), ("Uscc", "uscc"), ("ID_CARD", "id_card")])
def test_named_checks_are_recognised_in_any_case(tmp_path: Path, written: str, named: str):
    catalog = _copy_catalog(tmp_path, f"case_{written}")
    _edit(catalog / CLINICS, CLINIC_CODE, f"pattern: {written}")
    clinics = next(r for r in load_catalog(catalog) if r.table == "clinics")
    assert clinics.item("institution_code").pattern == named


def test_an_anchored_word_is_still_a_regex(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "anchored_word")
    _edit(catalog / CLINICS, CLINIC_CODE, "pattern: '^usc$'")
    clinics = next(r for r in load_catalog(catalog) if r.table == "clinics")
    assert clinics.item("institution_code").pattern == "^usc$"


# --------------------------------------------------------------------------- table


@pytest.mark.parametrize(
    "table",
    ["gd-enterprise registrations", "Clinics", "2clinics", "_clinics", "诊所", "clinics.v2", "c" * 49],
)
def test_a_table_that_is_not_a_snake_case_identifier_is_refused(tmp_path: Path, table: str):
    catalog = _copy_catalog(tmp_path, "bad_table")
    _edit(catalog / CLINICS, "table: clinics\n", f"table: {table!r}\n")
    with pytest.raises(KcdataError, match=rf"clinics\.yaml: invalid catalog entry: table: .*table '{table}' must be snake_case"):
        load_catalog(catalog)


def test_a_48_character_table_loads(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "long_table")
    _edit(catalog / CLINICS, "table: clinics\n", f"table: {'c' * 48}\n")
    assert "c" * 48 in {r.table for r in load_catalog(catalog)}


# --------------------------------------------------------------------------- derived


def test_a_derived_item_over_an_unknown_name_is_refused(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "derived_unknown")
    _add_item(catalog / CLINICS, "{name: 有床位, code: has_beds, type: L, sensitivity: public, derived: 'coalesce(bed, 0) > 0'}")
    with pytest.raises(
        KcdataError,
        match=r"clinics\.yaml: invalid catalog entry: .*item has_beds \(有床位\): derived names 'bed', "
        r"not an item of this entry \(did you mean beds\?\); derive from the sent items: address, beds,",
    ):
        load_catalog(catalog)


def test_a_derived_item_over_another_derived_item_is_refused(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "derived_chain")
    _add_item(catalog / CLINICS, "{name: 有床位, code: has_beds, type: L, sensitivity: public, derived: 'beds > 0'}")
    _add_item(catalog / CLINICS, "{name: 无床位, code: no_beds, type: L, sensitivity: public, derived: 'not has_beds'}")
    with pytest.raises(KcdataError, match=r"clinics\.yaml: .*item no_beds: derived from other derived items \['has_beds'\]"):
        load_catalog(catalog)


# Real DuckDB expressions whose bare words are functions, keywords, types, units, date parts,
# lambda parameters, struct fields or string contents: none of them is an item the check may ask for.
LEGITIMATE = [
    "CASE WHEN beds IS NULL THEN '未知 unknown' WHEN beds BETWEEN 1 AND 20 THEN 'small' ELSE 'large' END",
    "cast(license_valid_until AS timestamp) + INTERVAL 1 day - interval '2' hour",
    "extract(year from license_valid_until) * 100 + date_part('month', license_valid_until)",
    "try_cast(beds AS DOUBLE) / 2 + beds::DECIMAL(10, 2)",
    "license_valid_until < DATE '2030-01-01' AND institution_type NOT IN ('诊所', '门诊部') AND phone IS NOT NULL",
    "list_reduce(list_transform([longitude, latitude], lambda x: round(x, 2)), lambda acc, y: acc + y)",
    "struct_pack(lon := longitude, lat := latitude).lon",
    "upper(\"address\") || ' -- not a comment' || coalesce(institution_name, 'n/a') /* a note on beds */",
    "current_date - license_valid_until > 0 OR institution_code ILIKE 'pdy%' ESCAPE '\\'",
]


@pytest.mark.parametrize("expression", LEGITIMATE)
def test_legitimate_sql_in_a_derived_item_loads(tmp_path: Path, expression: str):
    clinics = next(r for r in load_catalog(CATALOG) if r.table == "clinics")
    columns = ", ".join(f"NULL::{DUCKDB_TYPES[i.type]} AS {i.code}" for i in clinics.items)
    duckdb.sql(f"SELECT ({expression}) FROM (SELECT {columns}) LIMIT 0")  # it is real DuckDB SQL over these items
    catalog = _copy_catalog(tmp_path, "derived_ok")
    quoted = json.dumps(expression, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    _add_item(catalog / CLINICS, f"{{name: 派生, code: computed, type: C, sensitivity: public, derived: {quoted}}}")
    loaded = next(r for r in load_catalog(catalog) if r.table == "clinics")
    assert loaded.item("computed").derived == expression


# --------------------------------------------------------------------------- departments (GB 32100)


def test_uscc_check_character_follows_gb_32100():
    for published in ("91350100M000100Y43", "91110000802100433B", "91440300708461136T"):
        assert is_valid_uscc(published) and uscc_check_char(published[:17]) == published[17]
    assert uscc_problem("11440112MB2C94921X") == "its check character should be '4', not 'X'"
    assert uscc_problem("11440112MB2C9492") == "has 16 characters, not 18"
    assert "has 'O'" in uscc_problem("11440112MB2C9492O4")


def test_every_shipped_department_code_passes_gb_32100():
    departments = yaml.safe_load((CATALOG / "departments.yaml").read_text(encoding="utf-8"))
    assert departments and all(is_valid_uscc(d["code"]) for d in departments.values()), {
        slug: uscc_problem(d["code"]) for slug, d in departments.items() if uscc_problem(d["code"])
    }
    assert set(load_departments(CATALOG)) == set(departments)


def test_a_department_code_with_a_wrong_check_character_is_refused(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "bad_uscc")
    good = load_departments(CATALOG)["health"].code
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    _edit(catalog / "departments.yaml", f'code: "{good}"', f'code: "{wrong}"')
    with pytest.raises(
        KcdataError,
        match=rf"departments\.yaml: department 'health': code: .*code '{wrong}' is not a unified social credit code "
        rf"\(GB 32100-2015\): its check character should be '{good[17]}', not '{wrong[17]}'",
    ):
        load_catalog(catalog)
