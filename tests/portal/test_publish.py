"""Publishing against the real local CKAN 2.12 portal (with Solr), started by the test command.

Six resources are ingested for real, some approved, one failing validation, one not open, then
published through the Airflow publish DAG. Everything is asserted as the public sees it:
anonymous search (Solr), downloads, DataStore, and the dataset page in headless Chromium.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import requests
from ckanapi import RemoteCKAN
from ckanapi.errors import NotAuthorized, NotFound
from published_set import ALL, CONDITIONAL, FAILED, NOT_OPEN, OPEN, PERSONAL, SIGNED, UNAPPROVED  # tests/portal/published_set.py

from catalog.entries import get_resource
from catalog.store import open_store
from common.errors import KcdataError
from flow.pipeline import land_and_validate, open_views, transform
from portal.client import CkanTarget, Portal
from portal.mapping import dataset_name
from portal.publisher import publish_all, publish_resource
from samples.generate import generate_resource

ARTIFACTS = Path(__file__).parents[2] / ".artifacts"


def _anon(target: CkanTarget) -> RemoteCKAN:
    return RemoteCKAN(target.url)


def _open_view(paths, code: str) -> str:
    resource = get_resource(code)
    latest = open_store(paths.catalog_url).latest_versions()[code]
    return str(paths.lake / "open" / resource.table / f"batch={latest.fingerprint[:16]}.{latest.rules}" / "data.parquet")


def test_approved_open_resources_are_found_by_search_under_their_department(published):
    target, _ = published
    found = _anon(target).action.package_search(fq="tags:kcdata", rows=100)["results"]
    by_code = {d["resource_code"]: d for d in found}
    assert set(by_code) == {OPEN, PERSONAL, CONDITIONAL}
    for code, dataset in by_code.items():
        resource = get_resource(code)
        assert dataset["organization"]["name"] == resource.provider.slug.replace("_", "-")
        assert resource.provider.name in dataset["organization"]["title"]
        assert resource.provider.name_en in dataset["organization"]["title"]
        assert (dataset["title"], dataset["provider"], dataset["category"]) == (resource.name, resource.provider.name, resource.category)
        assert (dataset["open_type"], dataset["share_type"]) == (resource.open.type.value, resource.share.type.value)
        assert dataset["published_date"] == resource.published_at.isoformat()
        assert dataset["related_resources"] == ", ".join(resource.related)
    clinics = by_code[OPEN]
    assert clinics["organization"]["name"] == "health"
    assert clinics["title"] == "医疗机构基本信息" and clinics["title_en"] == "Medical institutions and clinics"
    assert clinics["open_type"] == "无条件开放" and clinics["grade"] == "一般" and clinics["update_cycle"] == "每月"
    assert clinics["catalog_version"] == "1" and "通过校验" in clinics["quality_summary"]
    hits = _anon(target).action.package_search(q=f'resource_code:"{OPEN}"')["results"]
    assert [d["name"] for d in hits] == [dataset_name(get_resource(OPEN))]


@pytest.mark.parametrize("code", [NOT_OPEN, UNAPPROVED, FAILED])
def test_gated_resources_never_appear_not_even_as_private(published, code):
    target, _ = published
    anon = _anon(target)
    found = anon.action.package_search(q=f'resource_code:"{code}"', include_private=True)
    assert found["count"] == 0
    with pytest.raises((NotFound, NotAuthorized)):
        anon.action.package_show(id=dataset_name(get_resource(code)))


@pytest.mark.parametrize("code", [OPEN, PERSONAL])
def test_downloads_equal_the_open_view_row_for_row(published, code):
    target, paths = published
    dataset = _anon(target).action.package_show(id=dataset_name(get_resource(code)))
    urls = {r["name"]: r["url"] for r in dataset["resources"]}
    assert set(urls) == {"data.csv", "data.parquet", "data-dictionary.csv", *SIGNED}
    view = _open_view(paths, code)
    con = duckdb.connect()
    expected = con.sql(f"SELECT * FROM read_parquet('{view}', hive_partitioning=false)")
    parquet = paths.lake.parent / f"{code}.parquet"
    parquet.write_bytes(requests.get(urls["data.parquet"], timeout=60).content)
    got = con.sql(f"SELECT * FROM read_parquet('{parquet}')")
    assert got.columns == expected.columns
    assert sorted(got.fetchall(), key=repr) == sorted(expected.fetchall(), key=repr)
    csv_bytes = requests.get(urls["data.csv"], timeout=60).content
    assert csv_bytes.startswith(b"\xef\xbb\xbf")
    csv_path = paths.lake.parent / f"{code}.csv"
    csv_path.write_bytes(csv_bytes[3:])
    resource = get_resource(code)
    names = [resource.item(c).name for c in expected.columns]
    as_text = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in expected.columns)
    from_csv = con.sql(f"SELECT * FROM read_csv('{csv_path}', all_varchar=true, header=true)")
    assert from_csv.columns == names
    csv_rows = sorted(from_csv.fetchall(), key=repr)
    lake_rows = sorted(con.sql(f"SELECT {as_text} FROM read_parquet('{view}', hive_partitioning=false)").fetchall(), key=repr)
    assert len(csv_rows) == len(lake_rows)
    assert [[_num(v) for v in r] for r in csv_rows] == [[_num(v) for v in r] for r in lake_rows]


def _num(value):
    """Compare numbers as numbers (CSV writes 100.0 as 100.0 or 100)."""
    try:
        return round(float(value), 6)
    except (TypeError, ValueError):
        return value


def test_personal_items_are_published_only_as_their_entry_treats_them(published):
    """法定代表人 and 联系电话 are personal: the public sees `张*` and `138****1234`, never the value."""
    import csv
    import io

    target, paths = published
    dataset = _anon(target).action.package_show(id=dataset_name(get_resource(PERSONAL)))
    csv_url = next(r["url"] for r in dataset["resources"] if r["name"] == "data.csv")
    rows = list(csv.DictReader(io.StringIO(requests.get(csv_url, timeout=60).content.decode("utf-8-sig"))))
    assert rows and "统一社会信用代码" in rows[0]
    assert all(re.fullmatch(r"\w{1,2}\*", r["法定代表人"]) for r in rows)
    assert all(re.fullmatch(r"1[3-9]\d\*{4}\d{4}", r["联系电话"]) for r in rows if r["联系电话"])
    current = paths.current_file("enterprise_registrations")
    sent = duckdb.sql(f"SELECT list(legal_representative), list(contact_phone) FROM read_parquet('{current}')").fetchall()[0]
    published_cells = {c for r in rows for c in (r["法定代表人"], r["联系电话"])}
    assert not published_cells & {v for column in sent for v in column if v}


def test_datastore_serves_rows_with_declared_types(published):
    target, paths = published
    dataset = _anon(target).action.package_show(id=dataset_name(get_resource(OPEN)))
    csv_id = next(r["id"] for r in dataset["resources"] if r["name"] == "data.csv")
    result = _anon(target).action.datastore_search(resource_id=csv_id, limit=5)
    types = {f["id"]: f["type"] for f in result["fields"]}
    assert types["institution_code"] == "text" and types["beds"] in ("int", "int4")
    assert types["longitude"] == "numeric" and types["license_valid_until"] == "date"
    labels = {f["id"]: f.get("info", {}).get("label") for f in result["fields"] if f["id"] != "_id"}
    assert labels["institution_name"] == "机构名称"
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{_open_view(paths, OPEN)}')").fetchall()[0][0]
    assert result["total"] == rows


def test_conditional_resource_is_metadata_and_dictionary_only(published):
    target, _ = published
    dataset = _anon(target).action.package_show(id=dataset_name(get_resource(CONDITIONAL)))
    assert [r["name"] for r in dataset["resources"]] == ["data-dictionary.csv", *SIGNED]
    assert dataset["open_condition"] and "有条件开放" in dataset["notes"]


def test_publishing_again_changes_nothing(published):
    target, _ = published
    anon = _anon(target)
    before = {c: anon.action.package_show(id=dataset_name(get_resource(c))) for c in (OPEN, PERSONAL, CONDITIONAL)}
    results = publish_all(Portal(target), codes=ALL)
    assert {r.code: r.action for r in results} == {
        OPEN: "unchanged", PERSONAL: "unchanged", CONDITIONAL: "unchanged",
        NOT_OPEN: "not-published", UNAPPROVED: "not-published", FAILED: "not-published",
    }
    for old in before.values():
        new = anon.action.package_show(id=old["name"])
        assert new["metadata_modified"] == old["metadata_modified"]
        assert [r["id"] for r in new["resources"]] == [r["id"] for r in old["resources"]]
    assert anon.action.package_search(fq="tags:kcdata")["count"] == 3


def test_withdrawing_approval_retracts_and_reapproval_restores_in_place(published):
    target, _ = published
    anon, resource = _anon(target), get_resource(OPEN)
    dataset_id = anon.action.package_show(id=dataset_name(resource))["id"]
    store = open_store()
    store.record_approval(resource, "withdraw", "测试审核员", note="数据有误")
    assert publish_resource(resource, Portal(target)).action == "retracted"
    with pytest.raises((NotFound, NotAuthorized)):
        anon.action.package_show(id=dataset_name(resource))
    assert anon.action.package_search(q=f'resource_code:"{OPEN}"')["count"] == 0
    assert store.publication(OPEN).state == "retracted"
    store.record_approval(resource, "approve", "测试审核员")
    assert publish_resource(resource, Portal(target)).action == "published"
    restored = anon.action.package_show(id=dataset_name(resource))
    assert restored["id"] == dataset_id and len(restored["resources"]) == 3 + len(SIGNED)


class _KilledMidway(Portal):
    """Our own client, dying after a number of calls: a publish killed half-way."""

    def __init__(self, target, calls_before_death: int) -> None:
        super().__init__(target)
        self.left = calls_before_death

    def call(self, action, **data):
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        return super().call(action, **data)


@pytest.mark.parametrize("calls", [4, 7])
def test_a_publish_killed_half_way_is_completed_without_duplicates(published, calls):
    target, paths = published
    resource = get_resource(PERSONAL)
    admin = Portal(target)
    admin.call("dataset_purge", id=dataset_name(resource))
    with pytest.raises(KeyboardInterrupt):
        publish_resource(resource, _KilledMidway(target, calls))
    assert publish_resource(resource, Portal(target)).action in ("published", "updated")
    found = _anon(target).action.package_search(q=f'resource_code:"{PERSONAL}"')
    assert found["count"] == 1
    names = sorted(r["name"] for r in found["results"][0]["resources"])
    assert names == sorted(["data-dictionary.csv", "data.csv", "data.parquet", *SIGNED])
    csv_id = next(r["id"] for r in found["results"][0]["resources"] if r["name"] == "data.csv")
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{_open_view(paths, PERSONAL)}')").fetchall()[0][0]
    assert _anon(target).action.datastore_search(resource_id=csv_id, limit=0)["total"] == rows


def test_ckan_down_fails_clearly_and_leaves_the_catalog_alone(published):
    _, _ = published
    store = open_store()
    before = store.publication(OPEN)
    dead = Portal(CkanTarget("http://127.0.0.1:9", "not-a-token"), attempts=2, max_wait=0.1)
    with pytest.raises(KcdataError, match=r"CKAN at http://127\.0\.0\.1:9 failed \w+ 2 times.*nothing was recorded"):
        publish_resource(get_resource(OPEN), dead)
    after = store.publication(OPEN)
    assert (after.state, after.version, after.published_at) == (before.state, before.version, before.published_at)


def test_ckan_answering_5xx_is_retried_then_fails_clearly(published):
    import http.server
    import threading

    class Unavailable(http.server.BaseHTTPRequestHandler):
        hits = 0

        def do_GET(self):  # noqa: N802
            Unavailable.hits += 1
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"Service Unavailable")

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        portal = Portal(CkanTarget(f"http://127.0.0.1:{server.server_port}", "t"), attempts=3, max_wait=0.1)
        with pytest.raises(KcdataError, match="failed .* 3 times"):
            publish_resource(get_resource(OPEN), portal)
        assert Unavailable.hits == 3
    finally:
        server.shutdown()


def test_dataset_page_renders_in_headless_chromium(published):
    target, _ = published
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is installed by scripts/setup.sh"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dataset-page.png"
    shot.unlink(missing_ok=True)
    url = f"{target.url}/dataset/{dataset_name(get_resource(OPEN))}"
    profile = ARTIFACTS / "chromium-profile"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1280,1600", f"--screenshot={shot}", url],
        check=True, capture_output=True, timeout=120,
    )
    shutil.rmtree(profile, ignore_errors=True)
    assert shot.stat().st_size > 20_000
    html = requests.get(url, timeout=30).text
    assert "医疗机构基本信息" in html and "data.csv" in html


def test_a_new_version_updates_the_dataset_in_place(published):
    target, paths = published
    resource = get_resource(OPEN)
    anon = _anon(target)
    before = anon.action.package_show(id=dataset_name(resource))
    sample = generate_resource(resource, paths.inbox / "v2", rows=900, bad_share=0.02, seed=99)
    assert land_and_validate(resource, sample.path).version == 2
    transform()
    open_views()
    assert publish_resource(resource, Portal(target)).action == "updated"
    after = anon.action.package_show(id=dataset_name(resource))
    assert after["id"] == before["id"] and after["catalog_version"] == "2"
    assert [(r["id"], r["name"]) for r in after["resources"]] == [(r["id"], r["name"]) for r in before["resources"]]
    assert anon.action.package_search(q=f'resource_code:"{OPEN}"')["count"] == 1
    csv_id = next(r["id"] for r in after["resources"] if r["name"] == "data.csv")
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{_open_view(paths, OPEN)}')").fetchall()[0][0]
    assert anon.action.datastore_search(resource_id=csv_id, limit=0)["total"] == rows
    assert open_store().publication(OPEN).version == 2
