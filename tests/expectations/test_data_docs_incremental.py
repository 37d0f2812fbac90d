"""Data Docs after a delivery render only that delivery's result: earlier pages stay as they were,
and the index lists every validation. (A full render costs seconds per stored result, so a busy
lake would otherwise pay more for every new delivery.)"""
from __future__ import annotations

from catalog.entries import get_resource
from connectors.file_drop import land_file
from flow.pipeline import validate_landed
from samples.generate import generate_resource


def _deliver(resource, folder, seed: int):
    sample = generate_resource(resource, folder, rows=300, bad_share=0.05, seed=seed)
    return validate_landed(resource, [land_file(resource, sample.path)])[0].outcome


def _result_pages(site, outcome):
    return [p for p in (site / "validations").rglob("*.html") if outcome.gx_run in p.as_posix()]


def test_a_new_delivery_renders_its_own_page_and_keeps_the_others(lake, tmp_path):
    resource = get_resource("KC-STHJ-001")
    site = lake.data_docs_index.parent
    first = _deliver(resource, tmp_path / "one", seed=1)
    (page,) = _result_pages(site, first)
    rendered = page.stat().st_mtime_ns

    second = _deliver(resource, tmp_path / "two", seed=2)
    assert _result_pages(site, second), "the new delivery has its result page"
    assert page.stat().st_mtime_ns == rendered, "the earlier result page was not rendered again"
    index = lake.data_docs_index.read_text(encoding="utf-8")
    assert first.gx_run in index and second.gx_run in index
