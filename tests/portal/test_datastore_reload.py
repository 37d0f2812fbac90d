"""Re-publishing a resource replaces its DataStore table at once for the public: a reader polling
the total meets the old count or the new one, never a 404 and never a table half loaded; then
the table holds exactly the new version's rows (CKAN's `kcdata_datastore_load`, one transaction)."""
from __future__ import annotations

import threading
import time
from datetime import datetime

import duckdb
import pytest
import requests
from ckanapi import RemoteCKAN
from ckanapi.errors import NotAuthorized, NotFound

from catalog.entries import get_resource
from catalog.store import open_store
from common.sqltext import literal
from flow.pipeline import land_and_validate, open_views, transform
from portal.client import CkanTarget, Portal
from portal.mapping import dataset_name
from portal.publisher import publish_resource
from samples.generate import generate_resource

AIR = "KC-STHJ-001"  # hourly air quality: text (Chinese), timestamps, decimals; not in the shared publish set
OLD_ROWS, NEW_ROWS = 20_000, 36_000


@pytest.fixture
def air_lake(portal, tmp_path, monkeypatch):
    """A lake and catalog of this test's own, and the air-quality dataset gone from the portal."""
    url, token = portal
    target = CkanTarget(url, token)
    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path / "inbox"))
    try:
        Portal(target).call("dataset_purge", id=dataset_name(get_resource(AIR)))
    except NotFound:
        pass
    return target, tmp_path


def _new_version(code: str, folder, rows: int, seed: int):
    resource = get_resource(code)
    sample = generate_resource(resource, folder, rows=rows, bad_share=0.0, seed=seed)
    land_and_validate(resource, sample.path)
    transform(tables=[resource.table])
    return open_views(tables=[resource.table])[resource.table]


def _poll(url: str, resource_id: str, stop: threading.Event, answers: list) -> None:
    """An anonymous reader asking for the table's total, as fast as it is answered."""
    with requests.Session() as s:
        while not stop.is_set():
            r = s.post(f"{url}/api/3/action/datastore_search", json={"resource_id": resource_id, "limit": 0}, timeout=30)
            answers.append((r.status_code, r.json()["result"]["total"] if r.status_code == 200 else r.text[:200]))


def test_a_reader_sees_the_old_table_or_the_new_one_never_a_part(air_lake):
    target, folder = air_lake
    resource = get_resource(AIR)
    first = _new_version(AIR, folder / "v1", OLD_ROWS, seed=1)
    open_store().record_approval(resource, "approve", "测试审核员")
    assert publish_resource(resource, Portal(target)).action == "published"
    anon = RemoteCKAN(target.url)
    csv_id = next(r["id"] for r in anon.action.package_show(id=dataset_name(resource))["resources"] if r["name"] == "data.csv")
    assert anon.action.datastore_search(resource_id=csv_id, limit=0)["total"] == first.rows

    view = _new_version(AIR, folder / "v2", NEW_ROWS, seed=2)
    assert view.rows != first.rows
    stop, answers = threading.Event(), []
    reader = threading.Thread(target=_poll, args=(target.url, csv_id, stop, answers))
    reader.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        assert publish_resource(resource, Portal(target)).action == "updated"
        took = time.monotonic() - started
        time.sleep(0.5)
    finally:
        stop.set()
        reader.join()
    assert answers and {status for status, _ in answers} == {200}, [a for a in answers if a[0] != 200][:3]
    totals = [total for _, total in answers]
    assert set(totals) <= {first.rows, view.rows}, sorted(set(totals) - {first.rows, view.rows})[:5]
    assert totals[0] == first.rows and totals[-1] == view.rows
    assert len(totals) > 5, f"the reader asked only {len(totals)} times during a publish of {took:.1f} s"

    _assert_rows_as_published(anon, csv_id, resource, view)
    assert _vectors_unlike_ckans(csv_id) == 0
    # a new table was swapped in: `_id` is again each row's number in data.csv
    assert _first_id(anon, csv_id) == 1


def _vectors_unlike_ckans(table: str) -> int:
    """Rows whose full-text vector differs from the one CKAN's row trigger computes (the load
    computes them set-based, for speed): none, so search finds what CKAN's own writes would."""
    from stack import get_layout
    from stack.postgres import DATASTORE_DB, psql

    ckans = ("(SELECT to_tsvector(string_agg(value, ' ')) FROM json_each_text(row_to_json(x.*)) "
             "WHERE key NOT LIKE '\\_%')")
    return int(psql(get_layout(), f'SELECT count(*) FROM "{table}" x WHERE _full_text IS DISTINCT FROM {ckans};', db=DATASTORE_DB))


def _assert_rows_as_published(anon: RemoteCKAN, csv_id: str, resource, view) -> None:
    """A few rows, read back by their key, are the open view's: text (Chinese), timestamps as ISO
    text, whole decimals as whole numbers (3, not 3.0), missing values as null; and full-text
    search finds them (CKAN's trigger filled `_full_text` under COPY)."""
    sample = duckdb.sql(
        f"SELECT * FROM read_parquet({literal(view.path)}) WHERE o3 IS NULL OR pm25 = trunc(pm25) ORDER BY monitored_at LIMIT 4"
    ).fetchall()
    assert sample, "the sample data has no null and no whole value to look at"
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet({literal(view.path)})").fetchall()
    names = [c[0] for c in columns]
    for row in sample:
        expected = {n: v for n, v in zip(names, row, strict=True) if n in view.columns}
        found = anon.action.datastore_search(
            resource_id=csv_id, filters={"station_code": expected["station_code"],
                                         "monitored_at": expected["monitored_at"].isoformat(sep=" ")})["records"]
        assert len(found) == 1
        got = {k: v for k, v in found[0].items() if k != "_id"}
        assert got == {k: _as_json(v) for k, v in expected.items()}
    whole = next((r for r in sample if r[names.index("pm25")] == int(r[names.index("pm25")])), None)
    if whole is not None:
        code, at = whole[names.index("station_code")], whole[names.index("monitored_at")]
        shown = anon.action.datastore_search(resource_id=csv_id, filters={"station_code": code, "monitored_at": at.isoformat(sep=" ")})
        assert isinstance(shown["records"][0]["pm25"], int)
    station = sample[0][names.index("station_name")]
    assert anon.action.datastore_search(resource_id=csv_id, q=station, limit=0)["total"] > 0
    assert anon.action.datastore_search(resource_id=csv_id, q="没有这个站", limit=0)["total"] == 0


def _as_json(value):
    """A value as the DataStore answers it in JSON (a timestamp with milliseconds: CKAN's
    `ckan.datastore.ms_in_timestamp`, on by default)."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def test_only_who_may_write_the_table_may_load_it(air_lake):
    target, folder = air_lake
    resource = get_resource(AIR)
    view = _new_version(AIR, folder / "v1", 500, seed=3)
    open_store().record_approval(resource, "approve", "测试审核员")
    assert publish_resource(resource, Portal(target)).action == "published"
    anon = RemoteCKAN(target.url)
    csv_id = next(r["id"] for r in anon.action.package_show(id=dataset_name(resource))["resources"] if r["name"] == "data.csv")
    with pytest.raises(NotAuthorized):
        anon.call_action("kcdata_datastore_load", {"resource_id": csv_id})
    answer = requests.post(f"{target.url}/api/3/action/kcdata_datastore_load", json={"resource_id": csv_id}, timeout=30)
    assert answer.status_code == 403
    loaded = Portal(target).call("kcdata_datastore_load", resource_id=csv_id)
    assert loaded["rows"] == anon.action.datastore_search(resource_id=csv_id, limit=0)["total"] == view.rows


def test_a_table_an_alias_reads_is_filled_in_place_and_the_alias_follows(air_lake):
    """A table CKAN gave an alias (a view over it) cannot be swapped for a new one without breaking
    the view: the load fills it in place, in one transaction, and the alias reads the new rows."""
    target, folder = air_lake
    resource = get_resource(AIR)
    first = _new_version(AIR, folder / "v1", 300, seed=4)
    assert first.rows == 300
    open_store().record_approval(resource, "approve", "测试审核员")
    assert publish_resource(resource, Portal(target)).action == "published"
    anon = RemoteCKAN(target.url)
    csv_id = next(r["id"] for r in anon.action.package_show(id=dataset_name(resource))["resources"] if r["name"] == "data.csv")
    alias = f"kcdata_test_alias_{csv_id[:8]}"
    Portal(target).call("datastore_create", resource_id=csv_id, aliases=alias, force=True)
    try:
        view = _new_version(AIR, folder / "v2", 450, seed=5)
        assert publish_resource(resource, Portal(target)).action == "updated"
        assert anon.action.datastore_search(resource_id=alias, limit=0)["total"] == view.rows
        assert anon.action.datastore_search(resource_id=csv_id, limit=0)["total"] == view.rows
        assert _vectors_unlike_ckans(csv_id) == 0
        assert _first_id(anon, csv_id) == 301, "the table was not kept: `_id` did not count on"
    finally:  # the alias would keep every later load of this table in place
        Portal(target).call("datastore_create", resource_id=csv_id, aliases="", force=True)


def _first_id(anon: RemoteCKAN, csv_id: str) -> int:
    return anon.action.datastore_search(resource_id=csv_id, sort="_id asc", limit=1)["records"][0]["_id"]
