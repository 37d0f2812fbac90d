"""The catalog entries: enough departments and resources, mixed openness, personal items marked."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from catalog.entries import load_catalog, load_departments, load_resource
from catalog.model import OpenType, Provider, ShareType
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


CATALOG = Path(__file__).parents[2] / "catalog/resources"


def _copy_catalog(tmp_path: Path, name: str) -> Path:
    """A private copy of the catalog (load_catalog caches by folder, so each test uses its own)."""
    return Path(shutil.copytree(CATALOG, tmp_path / name))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_every_provider_is_the_departments_record():
    departments = yaml.safe_load((CATALOG / "departments.yaml").read_text(encoding="utf-8"))
    resources = load_catalog(CATALOG)
    assert len(resources) == 9
    assert {r.provider.slug for r in resources} == set(departments)
    for r in resources:
        assert r.provider == Provider(**departments[r.provider.slug], slug=r.provider.slug)
    assert load_departments(CATALOG) == {r.provider.slug: r.provider for r in resources}


def test_a_department_is_declared_once():
    files = sorted(p for p in CATALOG.rglob("*") if p.is_file())
    with_name = [p.relative_to(CATALOG).as_posix() for p in files if "黄埔区市场监督管理局" in p.read_text(encoding="utf-8")]
    assert with_name == ["departments.yaml"]
    for entry in CATALOG.glob("*/*.yaml"):
        provider = yaml.safe_load(entry.read_text(encoding="utf-8"))["provider"]
        assert provider == entry.parent.name, entry


def test_an_unknown_provider_slug_names_file_field_and_known_slugs(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "unknown_slug")
    entry = catalog / "health/clinics.yaml"
    _edit(entry, "provider: health", "provider: healthcare")
    known = r"known slugs in departments\.yaml: ecology_environment, emergency_management, health, human_resources"
    with pytest.raises(KcdataError, match=rf"clinics\.yaml: provider: unknown department 'healthcare'; {known}"):
        load_catalog(catalog)
    with pytest.raises(KcdataError, match=r"clinics\.yaml: provider: unknown department"):
        load_resource(entry, catalog)


def test_an_embedded_provider_mapping_is_refused(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "embedded_provider")
    _edit(catalog / "health/clinics.yaml", "provider: health", "provider: {name: 黄埔区卫生健康局, name_en: Health, code: X, slug: health}")
    with pytest.raises(KcdataError, match=r"clinics\.yaml: provider: give the department's slug"):
        load_catalog(catalog)


def test_an_entry_in_another_departments_folder_is_refused(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "wrong_folder")
    shutil.move(catalog / "health/clinics.yaml", catalog / "transport/clinics.yaml")
    with pytest.raises(KcdataError, match=r"transport/clinics\.yaml: provider: .*folder 'transport'.*'health'"):
        load_catalog(catalog)


def test_a_related_code_must_be_another_entry(tmp_path: Path):
    catalog = _copy_catalog(tmp_path, "missing_related")
    _edit(catalog / "transport/traffic_flow.yaml", "grade: 一般\n", "grade: 一般\nrelated: [KC-JTYS-009]\n")
    with pytest.raises(KcdataError, match=r"traffic_flow\.yaml: related: 'KC-JTYS-009' is not the code of any catalog entry"):
        load_catalog(catalog)

    catalog = _copy_catalog(tmp_path, "self_related")
    _edit(catalog / "transport/traffic_flow.yaml", "grade: 一般\n", "grade: 一般\nrelated: [KC-JTYS-001]\n")
    with pytest.raises(KcdataError, match=r"traffic_flow\.yaml: related: 'KC-JTYS-001' is this entry's own code"):
        load_catalog(catalog)


def test_references_point_at_the_enterprise_register():
    by_code = {r.code: r for r in load_catalog(CATALOG)}
    assert by_code["KC-YJGL-001"].item("enterprise_uscc").references == "KC-SCJG-001"
    assert by_code["KC-ZSCQ-001"].item("holder_uscc").references == "KC-SCJG-001"
    for r in by_code.values():
        for item in r.items:
            if item.references:
                assert item.references in r.related and len(by_code[item.references].key) == 1


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('  code: "11440112MB2C933547"\n', "", r"department 'health': code: Field required"),
        ("health:\n", "health: [\n", r"not valid YAML"),
        ("health:\n  name:", "health:\n  slug: health\n  name:", r"department 'health': slug: the key is the slug"),
        ("transport:\n", "health:\n", r"department 'health' is declared twice"),
    ],
    ids=["missing-field", "bad-yaml", "repeated-slug", "declared-twice"],
)
def test_a_malformed_departments_file_is_named(tmp_path: Path, old: str, new: str, problem: str):
    catalog = _copy_catalog(tmp_path, "departments")
    _edit(catalog / "departments.yaml", old, new)
    with pytest.raises(KcdataError, match=rf"departments\.yaml: .*{problem}"):
        load_catalog(catalog)
