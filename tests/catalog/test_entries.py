"""The catalog entries: enough departments and resources, mixed openness, personal items marked."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.entries import load_catalog, load_resource
from catalog.model import OpenType, ShareType
from common.errors import KcdataError


def test_catalog_covers_the_plan_departments():
    resources = load_catalog()
    assert len(resources) >= 8
    assert len({r.provider.slug for r in resources}) >= 6
    assert {r.open.type for r in resources} == set(OpenType)
    assert {r.share.type for r in resources} >= {ShareType.unconditional, ShareType.conditional}
    assert len({r.grade for r in resources}) >= 2
    assert len({r.code for r in resources}) == len(resources)


def test_personal_data_is_marked_and_not_open():
    talent = next(r for r in load_catalog() if r.table == "talent_registry")
    assert talent.has_personal_items
    assert talent.open.type is OpenType.none
    assert talent.item("id_card_no").sensitivity.value == "sensitive_personal"


def test_every_source_format_is_represented():
    forms = {(r.source.format.value, r.source.encoding) for r in load_catalog()}
    assert {f for f, _ in forms} == {"csv", "xlsx", "json"}
    assert {e for f, e in forms if f == "csv"} >= {"utf-8", "utf-8-sig", "gb18030"}


def test_a_bad_entry_names_its_file_and_field(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    good = Path(__file__).parents[2] / "catalog/resources/health/clinics.yaml"
    path.write_text(good.read_text(encoding="utf-8").replace("open: {type: 无条件开放}", "open: {type: 有条件开放}"), encoding="utf-8")
    with pytest.raises(KcdataError, match=r"broken\.yaml.*open.*open\.condition is required"):
        load_resource(path)
