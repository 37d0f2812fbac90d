"""The public portal speaks the standards, checked on the real local CKAN after a real publish:
Chinese by default with English on request, the entry's licence and attribution on every
dataset, a table preview on every data resource, the bureau's own home page, whole numbers as
whole numbers, and DCAT-AP 3 records (with the kcdata profile) that pass SEMIC's SHACL shapes.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import requests
from ckanapi import RemoteCKAN
from published_set import CONDITIONAL  # metadata only
from published_set import OPEN as DATA  # data, tests/portal/published_set.py
from rdflib import Graph, Literal, URIRef
from shapes import conforms, conforms_to_kcdata

from catalog import dcat_terms
from catalog.entries import get_resource
from catalog.licences import licence
from portal.client import Portal
from portal.mapping import dataset_name
from portal.publisher import publish_resource

PUBLISHED = ["KC-WSJK-001", "KC-SCJG-001", "KC-YJGL-001"]
ARTIFACTS = Path(__file__).parents[2] / ".artifacts"
EXTENSION = Path(__file__).parents[2] / "portal" / "ckan" / "ckanext-kcdata"


def _anon(target) -> RemoteCKAN:
    return RemoteCKAN(target.url)


def _graph(url: str, fmt: str) -> Graph:
    answer = requests.get(url, timeout=120)
    assert answer.status_code == 200, url
    return Graph().parse(data=answer.content, format=fmt)  # bytes: Turtle is UTF-8 whatever the header says


def test_ui_is_chinese_by_default_and_english_on_request(published):
    target, _ = published
    chinese = requests.get(f"{target.url}/dataset/", timeout=30).text
    header = chinese.split("</header>")[0]
    assert all(word in header for word in (">数据集<", ">机构<", ">群组<", ">关于<"))  # CKAN's zh_Hans_CN chrome
    english = requests.get(f"{target.url}/en/dataset/", timeout=30).text.split("</header>")[0]
    assert ">Datasets<" in english and ">Organizations<" in english and ">数据集<" not in english


@pytest.mark.parametrize("code", PUBLISHED)
def test_every_dataset_carries_its_entrys_licence_attribution_and_origin(published, code):
    target, _ = published
    resource = get_resource(code)
    lic = licence(resource.licence)
    dataset = _anon(target).action.package_show(id=dataset_name(resource))
    assert dataset["license_id"] == lic.ckan_id and dataset["license_title"]
    assert dataset["attribution"] == resource.attribution_text
    assert dataset["origin"] == resource.origin and dataset["licence_url"] == lic.url
    page = requests.get(f"{target.url}/dataset/{dataset['name']}", timeout=30).text
    assert resource.attribution_text in page and "署名要求 Attribution" in page


def test_a_data_resource_has_one_table_preview_even_after_publishing_again(published):
    target, _ = published
    resource = get_resource(DATA)
    anon = _anon(target)
    csv_resource = next(r for r in anon.action.package_show(id=dataset_name(resource))["resources"] if r["name"] == "data.csv")
    views = anon.action.resource_view_list(id=csv_resource["id"])
    assert [v["view_type"] for v in views].count("datatables_view") == 1
    assert publish_resource(resource, Portal(target)).action == "unchanged"
    assert len(anon.action.resource_view_list(id=csv_resource["id"])) == len(views)
    page = requests.get(f"{target.url}/dataset/{dataset_name(resource)}/resource/{csv_resource['id']}", timeout=30).text
    assert "There are no views created" not in page and "还没有为此资源创建视图" not in page


def test_home_page_is_the_bureaus_own(published):
    target, _ = published
    home = requests.get(f"{target.url}/", timeout=30).text
    assert "中新广州知识城公共数据开放平台" in home and "Knowledge City Open Data Portal" in home
    assert "数据提供部门 Departments" in home and "黄埔区卫生健康局" in home  # a featured department
    assert "最新数据集 Latest datasets" in home and 'name="q"' in home  # latest datasets and a search box
    assert "Welcome to CKAN" not in home and "placeholder-420x220" not in home


def test_whole_numbers_stay_whole_in_the_datastore_and_the_csv(published):
    target, _ = published
    anon = _anon(target)
    dataset = anon.action.package_show(id=dataset_name(get_resource(DATA)))
    csv_resource = next(r for r in dataset["resources"] if r["name"] == "data.csv")
    records = anon.action.datastore_search(resource_id=csv_resource["id"], limit=50)["records"]
    beds = [r["beds"] for r in records if r["beds"] is not None]
    assert beds and all(isinstance(b, int) for b in beds)
    text = requests.get(csv_resource["url"], timeout=60).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["核定床位数"] == "" or r["核定床位数"].isdigit() for r in rows)
    dictionary = next(r for r in dataset["resources"] if r["name"] == "data-dictionary.csv")
    rules = requests.get(dictionary["url"], timeout=60).content.decode("utf-8-sig")
    assert "0–5000" in rules and "5000.0" not in rules


@pytest.mark.parametrize("suffix,fmt", [("jsonld", "json-ld"), ("ttl", "turtle")])
@pytest.mark.parametrize("code", [DATA, CONDITIONAL])
def test_dataset_records_pass_dcat_ap_3_and_carry_the_kcdata_profile(published, code, suffix, fmt):
    target, _ = published
    resource = get_resource(code)
    g = _graph(f"{target.url}/dataset/{dataset_name(resource)}.{suffix}", fmt)
    ok, report = conforms(g)
    assert ok, report
    ok, report = conforms_to_kcdata(g)
    assert ok, report
    terms = dcat_terms.dcat_terms(resource, target.url)
    ds = URIRef(terms.dataset_uri)
    kc = dcat_terms.KC
    for name, value in terms.kc.items():
        assert list(g.objects(ds, URIRef(kc + name))) == [Literal(value)], name
    dct, dcat = "http://purl.org/dc/terms/", "http://www.w3.org/ns/dcat#"
    assert set(g.objects(ds, URIRef(dcat + "theme"))) == {URIRef(t) for t in terms.themes}
    assert set(g.objects(ds, URIRef(dct + "accrualPeriodicity"))) == {URIRef(terms.frequency)}
    assert set(g.objects(ds, URIRef(dct + "accessRights"))) == {URIRef(terms.access_rights)}
    assert set(g.objects(ds, URIRef(dct + "publisher"))) == {URIRef(terms.publisher_uri)}
    for predicate in ("contactPoint", "distribution"):
        assert list(g.objects(ds, URIRef(dcat + predicate))), predicate
    for predicate in ("temporal", "spatial", "language"):
        assert list(g.objects(ds, URIRef(dct + predicate))), predicate
    for dist in g.objects(ds, URIRef(dcat + "distribution")):
        assert set(g.objects(dist, URIRef(dct + "license"))) == {URIRef(terms.licence)}
        assert list(g.objects(dist, URIRef(dcat + "downloadURL")))


def test_catalog_passes_dcat_ap_3_with_the_bureau_as_publisher(published):
    target, _ = published
    g = _graph(f"{target.url}/catalog.ttl", "turtle")
    ok, report = conforms(g)
    assert ok, report
    catalog = URIRef(target.url)
    foaf_name = URIRef("http://xmlns.com/foaf/0.1/name")
    publisher = next(g.objects(catalog, URIRef("http://purl.org/dc/terms/publisher")))
    assert Literal("黄埔区政务服务和数据管理局", lang="zh") in set(g.objects(publisher, foaf_name))
    languages = set(g.objects(catalog, URIRef("http://purl.org/dc/terms/language")))
    assert languages == {URIRef(lang) for lang in dcat_terms.languages()}
    codes = {str(o) for o in g.objects(None, URIRef(dcat_terms.KC + "resourceCode"))}
    assert set(PUBLISHED) <= codes


def test_the_extensions_kc_namespace_is_the_catalogs():
    source = (EXTENSION / "ckanext" / "kcdata" / "profile.py").read_text(encoding="utf-8")
    assert f'KC = Namespace("{dcat_terms.KC}")' in source


def test_the_stack_installs_the_extension_and_loads_its_profile(published):
    from stack import ckan
    from stack.layout import get_layout

    assert ckan.venv_ready(get_layout())  # the venv stamp names the extension's current digest
    assert f"ckanext-kcdata {ckan.extension_digest()}" in ckan._stamp(get_layout()).read_text()
    target, _ = published
    status = requests.get(f"{target.url}/api/3/action/status_show", timeout=30).json()["result"]
    assert "kcdata" in status["extensions"] and status["locale_default"] == "zh_Hans_CN"


def test_screenshots_of_the_home_and_a_dataset_page(published, browser):
    target, _ = published
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1400}, locale="zh-CN")
    try:
        page.goto(f"{target.url}/", wait_until="networkidle")
        assert page.locator("h1", has_text="中新广州知识城公共数据开放平台").is_visible()
        page.screenshot(path=str(ARTIFACTS / "portal-home.png"), full_page=True)
        page.goto(f"{target.url}/dataset/{dataset_name(get_resource(DATA))}", wait_until="networkidle")
        assert page.get_by_text("医疗机构基本信息").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "portal-dataset.png"), full_page=True)
    finally:
        page.close()
    for name in ("portal-home.png", "portal-dataset.png"):
        assert (ARTIFACTS / name).stat().st_size > 20_000


def test_kc_profile_sent_by_the_publisher_is_valid_json(published):
    target, _ = published
    dataset = _anon(target).action.package_show(id=dataset_name(get_resource(DATA)))
    assert json.loads(dataset["kc_profile"])["resourceCode"] == DATA
