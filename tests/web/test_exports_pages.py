"""The exports page and the downloads of the whole catalog: DCAT-AP 3 as Turtle and JSON-LD, and
the spreadsheet, each with its content type and file name, reflecting the catalog's state."""
from __future__ import annotations

import io

import httpx

AIR = "KC-STHJ-001"  # published on the portal by tests/web/conftest.py


def download(web_server, name: str) -> httpx.Response:
    answer = httpx.get(f"{web_server.url}/export/{name}", timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    return answer


def test_the_exports_page_links_every_download(page, web_server):
    page.goto(web_server.url + "/")
    page.click("nav.main-nav >> text=导出")
    page.wait_for_url("**/exports")
    links = page.locator("a[data-export]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert links == ["/export/catalog.ttl", "/export/catalog.jsonld", "/export/catalog.xlsx"]
    assert "DCAT-AP 3" in page.inner_text("main") and "http://127.0.0.1:5000" in page.inner_text("main")
    with page.expect_download() as info:
        page.click('a[data-export="kcdata-catalog.ttl"]')
    assert info.value.suggested_filename == "kcdata-catalog.ttl"


def test_turtle_and_json_ld_hold_every_resource_as_a_dcat_dataset(web_server):
    from rdflib import Graph
    from rdflib.namespace import DCAT, RDF

    from catalog.entries import load_catalog

    codes = {r.code for r in load_catalog()}
    for name, media_type, rdf_format in (("catalog.ttl", "text/turtle", "turtle"), ("catalog.jsonld", "application/ld+json", "json-ld")):
        answer = download(web_server, name)
        assert answer.headers["content-type"].startswith(media_type)
        assert answer.headers["content-disposition"] == f'attachment; filename="kcdata-{name}"'
        graph = Graph().parse(data=answer.content, format=rdf_format)
        datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
        assert len(datasets) == len(codes)
        text = answer.content.decode("utf-8")
        assert all(code in text for code in codes)
        assert "http://127.0.0.1:5000" in text  # identifiers on the portal's base URI


def test_the_spreadsheet_lists_every_resource_and_item(web_server):
    from openpyxl import load_workbook

    from catalog.entries import load_catalog

    answer = download(web_server, "catalog.xlsx")
    assert answer.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert answer.headers["content-disposition"] == 'attachment; filename="kcdata-catalog.xlsx"'
    workbook = load_workbook(io.BytesIO(answer.content), read_only=True)
    cells = {str(c) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for c in row if c is not None}
    assert {r.code for r in load_catalog()} <= cells
    assert "空气质量监测站小时数据" in cells and "PM2.5浓度" in cells


def test_an_unknown_export_is_a_clear_404(web_server):
    answer = httpx.get(f"{web_server.url}/export/catalog.csv", headers={"accept": "text/html"}, timeout=30)
    assert answer.status_code == 404 and "/exports" in answer.text
