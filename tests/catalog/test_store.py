"""The catalog state store: migrations, idempotent versions, and what `kcdata catalog` prints."""
from __future__ import annotations

from typer.testing import CliRunner

from catalog.entries import get_resource, load_catalog
from catalog.store import Edge, open_store
from kcdata.cli import app

CLINICS = get_resource("KC-WSJK-001")


def _landed(fp: str) -> dict:
    return {
        "source_file": "/in/c.json", "fingerprint": fp, "encoding": "utf-8", "raw_path": "/lake/raw/x",
        "landed_at": "2026-11-01T08:00:00+00:00",
    }


def _outcome() -> dict:
    return {
        "rows": 10, "accepted": 9, "quarantined": 1, "passed": True, "gx_success": False,
        "by_rule": {"missing-value": 1}, "validated_path": "/lake/validated/x", "quarantine_path": "/lake/quarantine/x",
        "validated_at": "2026-11-01T08:00:05Z",
    }


def test_versions_are_numbered_once_per_fingerprint(lake):
    store = open_store()
    edge = [Edge("land", "file:///in/c.json", "lake://raw/clinics/batch=aaaa")]
    first = store.record_version(CLINICS, _landed("a" * 64), _outcome(), [], edge)
    again = store.record_version(CLINICS, _landed("a" * 64), _outcome(), [], edge)
    second = store.record_version(CLINICS, _landed("b" * 64), _outcome(), [], [])
    assert (first.version, again.version, second.version) == (1, 1, 2)
    row, versions, edges = open_store().resource(CLINICS.code)
    assert [v.version for v in versions] == [1, 2]
    assert [(e.step, e.target_uri) for e in edges] == [("land", "lake://raw/clinics/batch=aaaa")]


def test_catalog_list_shows_every_resource_even_without_data(lake):
    result = CliRunner().invoke(app, ["catalog", "list"])
    assert result.exit_code == 0, result.output
    for resource in load_catalog():
        assert resource.code in result.output


def test_catalog_show_prints_fields_items_and_versions(lake):
    open_store().record_version(CLINICS, _landed("c" * 64), _outcome(), [], [])
    result = CliRunner().invoke(app, ["catalog", "show", "KC-WSJK-001"])
    assert result.exit_code == 0, result.output
    for text in ("医疗机构基本信息", "无条件开放", "institution_code", "v1", "cccccccccccccccc", "missing-value=1"):
        assert text in result.output


def test_unknown_code_is_a_clear_error(lake):
    result = CliRunner().invoke(app, ["catalog", "show", "KC-NOPE-001"])
    assert result.exit_code == 1
    assert "no catalog entry with code 'KC-NOPE-001'" in result.output
