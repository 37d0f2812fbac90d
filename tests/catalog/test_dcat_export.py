"""The whole catalog as DCAT-AP 3: every resource (open or not) in Turtle and JSON-LD that
conforms to SEMIC's DCAT-AP 3 shapes and to the kcdata profile shapes; distributions only for
what the portal really holds."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS
from shapes import conforms, conforms_to_kcdata, conforms_to_vocabularies

from catalog.dcat_export import Download, catalog_graph, serialize
from catalog.dcat_terms import KC, dcat_terms
from catalog.entries import get_resource, load_catalog
from catalog.store import CatalogStore

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # a plain namespace: no warnings for DCAT 3 terms

BASE = "http://portal.example:5000"
EU = "http://publications.europa.eu/resource/authority/"
CLINICS = "KC-WSJK-001"  # 无条件开放, published in these tests
INSPECTIONS = "KC-YJGL-001"  # 有条件共享 / 有条件开放


def _not_open_code() -> str:
    return next(r.code for r in load_catalog() if r.open.type.value == "不予开放")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> CatalogStore:
    """A real SQLite store: the catalog synced, one version and one publication of the clinics."""
    store = CatalogStore("sqlite:///" + str(tmp_path_factory.mktemp("store") / "catalog.db"))
    store.sync_resources(load_catalog())
    clinics = get_resource(CLINICS)
    store.record_version(
        clinics,
        {"source_file": "/in/c.csv", "fingerprint": "a" * 64, "encoding": "utf-8", "raw_path": "/lake/raw/x",
         "landed_at": "2026-11-01T08:00:00+00:00"},
        {"rows": 10, "accepted": 10, "quarantined": 0, "passed": True, "gx_success": True, "by_rule": {},
         "validated_path": "/v", "quarantine_path": "/q", "validated_at": "2026-11-02T09:30:00Z"},
        [], [],
    )
    store.record_publication(CLINICS, ckan_id="x1", ckan_name="kc-wsjk-001", url=f"{BASE}/dataset/kc-wsjk-001",
                             state="published", version=1, fingerprint="a" * 64)
    not_open = _not_open_code()
    store.record_publication(not_open, ckan_id="x2", ckan_name=not_open.lower(), url=f"{BASE}/dataset/{not_open.lower()}",
                             state="retracted", version=1, fingerprint="b" * 64)
    return store


@pytest.fixture(scope="module")
def graph(store) -> Graph:
    return catalog_graph(load_catalog(), store, BASE)


@pytest.mark.parametrize("fmt", ["turtle", "json-ld"])
def test_both_serialisations_parse_and_conform_to_dcat_ap_3(graph, fmt, tmp_path: Path):
    out = tmp_path / "catalog.out"
    out.write_bytes(serialize(graph, fmt))
    parsed = Graph().parse(out, format=fmt)
    assert len(parsed) == len(graph)
    datasets = set(parsed.subjects(None, DCAT.Dataset))
    assert len(datasets) == len(load_catalog())  # the 全量 catalog, open or not
    ok, report = conforms(parsed)
    assert ok, report
    ok, report = conforms_to_kcdata(parsed)
    assert ok, report
    ok, report = conforms_to_vocabularies(parsed)
    assert ok, report


def test_a_broken_record_does_not_conform(graph):
    """The shapes really check: a dataset without a title, and a wrong grade, are refused."""
    broken = Graph() + graph
    ds = URIRef(f"{BASE}/dataset/{CLINICS.lower()}")
    broken.remove((ds, DCTERMS.title, None))
    broken.set((ds, URIRef(KC + "grade"), Literal("机密")))
    ok, report = conforms(broken)
    assert not ok and "title" in report
    ok, report = conforms_to_kcdata(broken)
    assert not ok and "机密" in report


def test_published_resource_has_distributions_with_licence_and_formats(graph):
    ds = URIRef(f"{BASE}/dataset/{CLINICS.lower()}")
    dists = list(graph.objects(ds, DCAT.distribution))
    assert len(dists) == 3  # CSV, Parquet, data dictionary
    formats = {str(graph.value(d, DCTERMS.format)) for d in dists}
    assert formats == {EU + "file-type/CSV", EU + "file-type/PARQUET"}
    for d in dists:
        assert graph.value(d, DCTERMS.license) == URIRef(EU + "licence/CC_BY_4_0")
        assert str(graph.value(d, DCAT.accessURL)) == f"{BASE}/dataset/kc-wsjk-001"
        assert str(graph.value(d, DCAT.mediaType)).startswith("https://www.iana.org/assignments/media-types/")
    assert graph.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/PUBLIC")
    assert str(graph.value(ds, DCAT["version"])) == "1"
    assert graph.value(ds, DCTERMS.modified).toPython() == datetime(2026, 11, 2, 9, 30)


def test_real_download_urls_are_used_when_given(store):
    g = catalog_graph(load_catalog(), store, BASE, downloads={
        CLINICS: [Download("CSV", "CSV", f"{BASE}/dataset/x/resource/r1/download/data.csv", 1234)],
    })
    ds = URIRef(f"{BASE}/dataset/{CLINICS.lower()}")
    (dist,) = g.objects(ds, DCAT.distribution)
    assert str(g.value(dist, DCAT.downloadURL)) == f"{BASE}/dataset/x/resource/r1/download/data.csv"
    assert g.value(dist, DCAT.byteSize).toPython() == 1234
    assert conforms(g)[0]


def test_conditional_share_shows_its_condition(graph):
    ds = URIRef(f"{BASE}/dataset/{INSPECTIONS.lower()}")
    resource = get_resource(INSPECTIONS)
    assert str(graph.value(ds, URIRef(KC + "shareType"))) == "有条件共享"
    assert str(graph.value(ds, URIRef(KC + "shareCondition"))) == resource.share.condition
    assert graph.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/RESTRICTED")
    assert not list(graph.objects(ds, DCAT.distribution))  # not published in this store


def test_not_open_resource_is_listed_non_public_without_distribution(graph):
    code = _not_open_code()  # its publication row says retracted: nothing on the portal
    ds = URIRef(f"{BASE}/dataset/{code.lower()}")
    assert graph.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/NON_PUBLIC")
    assert list(graph.objects(ds, DCAT.distribution)) == []
    assert str(graph.value(ds, DCTERMS.identifier)) == code


def test_catalog_without_store_lists_metadata_only():
    g = catalog_graph(load_catalog(), None, BASE)
    assert not list(g.subjects(None, DCAT.Distribution))
    (catalog,) = g.subjects(None, DCAT.Catalog)
    titles = {t.language: str(t) for t in g.objects(catalog, DCTERMS.title)}
    assert set(titles) == {"zh", "en"}
    assert g.value(catalog, DCTERMS.publisher) is not None


def test_terms_map_update_cycle_and_themes():
    terms = {r.code: dcat_terms(r, BASE) for r in load_catalog()}
    air = terms["KC-STHJ-001"]
    assert air.frequency == EU + "frequency/UPDATE_CONT"
    assert EU + "data-theme/ENVI" in air.themes
    assert terms["KC-JTYS-001"].themes == [EU + "data-theme/TRAN"]
    assert air.licence == EU + "licence/CC_BY_4_0" and air.licence_url.startswith("https://creativecommons.org/")
    assert air.dataset_uri == f"{BASE}/dataset/kc-sthj-001"
    assert air.kc["resourceCode"] == "KC-STHJ-001" and "shareCondition" not in air.kc


def test_unknown_format_is_a_clear_error(graph):
    with pytest.raises(ValueError, match="turtle, json-ld"):
        serialize(graph, "xml")


def test_cli_exports_turtle_jsonld_and_workbook(lake, tmp_path: Path):
    """`kcdata catalog export` writes each format; a bad format is refused with a message."""
    import typer
    from openpyxl import load_workbook
    from typer.testing import CliRunner

    from kcdata.export_cli import register

    app = typer.Typer()
    catalog_app = typer.Typer()
    app.add_typer(catalog_app, name="catalog")
    register(catalog_app)
    runner = CliRunner()
    for fmt, parse in (("ttl", "turtle"), ("jsonld", "json-ld")):
        out = tmp_path / f"catalog.{fmt}"
        result = runner.invoke(app, ["catalog", "export", "--format", fmt, "--output", str(out), "--base-uri", BASE])
        assert result.exit_code == 0, result.output
        parsed = Graph().parse(out, format=parse)
        assert len(set(parsed.subjects(None, DCAT.Dataset))) == len(load_catalog())
    out = tmp_path / "catalog.xlsx"
    result = runner.invoke(app, ["catalog", "export", "--format", "xlsx", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert load_workbook(out)["信息资源目录"].max_row == 2 + len(load_catalog())
    result = runner.invoke(app, ["catalog", "export", "--format", "csv", "--output", str(out)])
    assert result.exit_code != 0 and "csv" in result.output
