"""MQA-style metadata quality: a rich DCAT record scores more than a poor one, the poor one's
missing pieces are named, links are checked against a real HTTP server, and scores are kept
in the catalog store as history."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from catalog.dcat_export import Download, catalog_graph, serialize
from catalog.entries import get_resource, load_catalog
from catalog.metadata_scores import latest_scores, record_score, score_history
from catalog.store import CatalogStore
from portal.metadata_quality import MAX_POINTS, RecordUnavailable, rating, score_dataset

CLINICS = "KC-WSJK-001"
POOR_TTL = """
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
<{base}/dataset/poor> a dcat:Dataset ;
    dct:title "只有标题"@zh ;
    dcat:distribution <{base}/dataset/poor/d1> .
<{base}/dataset/poor/d1> a dcat:Distribution ;
    dcat:accessURL <{base}/gone.html> ;
    dct:format "xlsx" .
"""


class _Site:
    """A real HTTP server on 127.0.0.1: DCAT records and data files by path; anything else 404."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.heads: list[str] = []
        self.no_head: set[str] = set()  # paths whose server refuses HEAD (405), as some do
        portal_stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, body: bool) -> None:
                page = portal_stub.pages.get(self.path.split("?")[0])
                self.send_response(200 if page else 404)
                payload = page[1] if page else b"not found"
                self.send_header("Content-Type", page[0] if page else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._answer(True)

            def do_HEAD(self) -> None:  # noqa: N802
                portal_stub.heads.append(self.path)
                if self.path in portal_stub.no_head:
                    self.send_response(405)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._answer(False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def portal_stub() -> Iterator[_Site]:
    s = _Site()
    thread = threading.Thread(target=s.server.serve_forever, daemon=True)
    thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture(scope="module")
def published(portal_stub: _Site, tmp_path_factory) -> CatalogStore:
    """The clinics as the portal would describe them: published, files downloadable."""
    store = CatalogStore("sqlite:///" + str(tmp_path_factory.mktemp("mq") / "catalog.db"))
    store.sync_resources(load_catalog())
    store.record_publication(CLINICS, ckan_id="x", ckan_name="kc-wsjk-001", url=f"{portal_stub.url}/dataset/kc-wsjk-001",
                             state="published", version=1, fingerprint="a" * 64)
    graph = catalog_graph([get_resource(CLINICS)], store, portal_stub.url, downloads={CLINICS: [
        Download("CSV", "CSV", f"{portal_stub.url}/files/clinics.csv", 12),
        Download("Parquet", "Parquet", f"{portal_stub.url}/files/clinics.parquet", 34),
    ]})
    portal_stub.pages["/dataset/kc-wsjk-001"] = ("text/html", "<h1>医疗机构</h1>".encode())
    portal_stub.pages["/dataset/kc-wsjk-001.ttl"] = ("text/turtle", serialize(graph, "turtle"))
    portal_stub.pages["/files/clinics.csv"] = ("text/csv", b"a,b\n1,2\n")
    portal_stub.pages["/files/clinics.parquet"] = ("application/octet-stream", b"PAR1")
    portal_stub.pages["/dataset/poor.ttl"] = ("text/turtle", POOR_TTL.format(base=portal_stub.url).encode())
    return store


def _indicator(score, key):
    return next(i for i in score.indicators if i.indicator == key)


def test_rich_record_scores_well_and_poor_record_names_what_is_missing(portal_stub, published):
    rich = score_dataset(portal_stub.url, "kc-wsjk-001")
    poor = score_dataset(portal_stub.url, "poor")
    assert rich.max == poor.max == MAX_POINTS == 405
    assert rich.points > poor.points
    assert sum(d["points"] for d in rich.dimensions.values()) == rich.points
    assert rich.rating in ("excellent", "good") and poor.rating == "bad"
    assert _indicator(rich, "dcat_ap_compliance").passed, _indicator(rich, "dcat_ap_compliance").detail
    for key in ("keyword", "theme", "spatial", "access_url_reachable", "download_url_reachable", "licence_vocabulary",
                "access_rights_vocabulary", "contact_point", "publisher", "non_proprietary", "byte_size"):
        assert _indicator(rich, key).passed, key
    assert not _indicator(rich, "temporal").passed  # no temporal coverage in the catalog: honestly missing
    for key in ("keyword", "theme", "access_url_reachable", "download_url", "licence", "contact_point",
                "dcat_ap_compliance", "non_proprietary", "format_vocabulary"):
        assert not _indicator(poor, key).passed, key
    assert _indicator(poor, "format").passed  # a format literal is a format, just not from a vocabulary
    assert _indicator(poor, "access_url_reachable").detail.startswith("0/1")
    assert rich.dimensions["findability"]["label_zh"] == "可发现性"
    assert "/files/clinics.csv" in portal_stub.heads  # HEAD first


def test_share_of_distributions_counts(portal_stub, published):
    """One of two distributions reachable (by GET, as its server refuses HEAD): half the points,
    and the indicator does not pass."""
    base = portal_stub.url
    portal_stub.pages["/files/get-only.csv"] = ("text/csv", b"a\n1\n")
    portal_stub.no_head.add("/files/get-only.csv")
    portal_stub.pages["/dataset/half.ttl"] = ("text/turtle", f"""
@prefix dcat: <http://www.w3.org/ns/dcat#> .
<{base}/dataset/half> a dcat:Dataset ; dcat:distribution <{base}/h1>, <{base}/h2> .
<{base}/h1> a dcat:Distribution ; dcat:accessURL <{base}/files/get-only.csv> .
<{base}/h2> a dcat:Distribution ; dcat:accessURL <{base}/nothing-here> .
""".encode())
    reach = _indicator(score_dataset(base, "half"), "access_url_reachable")
    assert (reach.points, reach.max, reach.passed, reach.detail[:3]) == (25, 50, False, "1/2")


def test_unpublished_dataset_is_a_clear_error(portal_stub, published):
    with pytest.raises(RecordUnavailable, match="HTTP 404"):
        score_dataset(portal_stub.url, "not-there")


def test_ratings_follow_mqa_thresholds():
    assert [rating(p)[0] for p in (405, 351, 350, 221, 220, 121, 120, 0)] == [
        "excellent", "excellent", "good", "good", "sufficient", "sufficient", "bad", "bad"]


def test_scores_are_kept_as_history(portal_stub, published, tmp_path: Path):
    store = CatalogStore("sqlite:///" + str(tmp_path / "catalog.db"))
    store.sync_resources(load_catalog())
    source = f"{portal_stub.url}/dataset/kc-wsjk-001.ttl"
    poor = score_dataset(portal_stub.url, "poor")
    rich = score_dataset(portal_stub.url, "kc-wsjk-001")
    record_score(store, CLINICS, poor, source, at=datetime(2026, 11, 1, tzinfo=timezone.utc))
    record_score(store, CLINICS, rich, source, at=datetime(2026, 11, 2, tzinfo=timezone.utc))
    record_score(store, "KC-SCJG-001", poor, f"{portal_stub.url}/dataset/poor.ttl")
    history = score_history(store, CLINICS)
    assert [h.points for h in history] == [poor.points, rich.points]
    assert history[-1].rating == rich.rating and history[-1].max_points == 405
    assert history[-1].dimensions["findability"]["points"] == rich.dimensions["findability"]["points"]
    assert {i["indicator"] for i in history[0].indicators} >= {"keyword", "dcat_ap_compliance"}
    latest = latest_scores(CatalogStore("sqlite:///" + str(tmp_path / "catalog.db")))
    assert set(latest) == {CLINICS, "KC-SCJG-001"}
    assert latest[CLINICS].points == rich.points and latest[CLINICS].source_url == source
