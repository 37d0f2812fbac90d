"""Adding a dataset is one YAML file: a brand-new entry lands, validates, transforms, gets an
open view and is published, with no SQL or Python written for it.

The new resource is shaped like a real public dataset (hourly air quality of several stations
from a university archive): English headers, the timestamp split into year, month, day and
hour columns, which the entry joins back into one derived item. Its file is a user's, not a
generated sample, so the demo reviewer must not approve it: it stays off the portal until a
person does.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import requests
from ckanapi import RemoteCKAN
from ckanapi.errors import NotAuthorized, NotFound

from common.codes import uscc_check_char
from common.settings import PROJECT_ROOT

CODE = "KC-KYDA-001"
TABLE = "station_air_quality_archive"
DEPARTMENT = "research_archive"
ENTRY = f"""\
code: {CODE}
table: {TABLE}
name: 多站点空气质量小时观测（高校公开档案）
name_en: Multi-site hourly air quality (university open archive)
category: 主题信息资源/生态环境/大气环境/空气质量监测
provider: {DEPARTMENT}
summary: 高校公开数据档案中多个监测站逐小时的颗粒物浓度与气象观测。
format: 电子表格
update_cycle: 不定时
published_at: 2026-11-01
grade: 一般
share: {{type: 无条件共享}}
open: {{type: 无条件开放}}
key: [station, year, month, day, hour]
source: {{kind: file_drop, format: csv}}
items:
  - {{name: 年, code: year, type: I, sensitivity: public, required: true, range: [2000, 2100], aliases: [year]}}
  - {{name: 月, code: month, type: I, sensitivity: public, required: true, range: [1, 12], aliases: [month]}}
  - {{name: 日, code: day, type: I, sensitivity: public, required: true, range: [1, 31], aliases: [day]}}
  - {{name: 时, code: hour, type: I, sensitivity: public, required: true, range: [0, 23], aliases: [hour]}}
  - {{name: 观测时间, code: measured_at, type: T, sensitivity: public, derived: "make_timestamp(year, month, day, hour, 0, 0)",
     description: 由年、月、日、时合成}}
  - {{name: PM2.5浓度, code: pm25, type: N, sensitivity: public, unit: μg/m³, range: [0, 1000], aliases: [PM2.5]}}
  - {{name: PM10浓度, code: pm10, type: N, sensitivity: public, unit: μg/m³, range: [0, 2000], aliases: [PM10]}}
  - {{name: 气温, code: temp, type: N, sensitivity: public, unit: ℃, aliases: [TEMP]}}
  - {{name: 监测站, code: station, type: C, sensitivity: public, required: true, aliases: [station]}}
"""


def _department(slug: str) -> str:
    code = "12440112MB0A1234" + "5"
    return (
        f"{slug}:\n  name: 知识城高校开放数据档案馆\n  name_en: Knowledge City University Open Data Archive\n"
        f'  code: "{code}{uscc_check_char(code)}"\n'
    )


def _archive_csv(path: Path) -> int:
    """Two stations x 24 hours as the archive ships them (NA for missing values), plus one row
    with an impossible hour."""
    lines = ["No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station"]
    n = 0
    for station in ("Aotizhongxin", "Changping"):
        for hour in range(24):
            n += 1
            pm25 = "NA" if hour in (5, 6) else 4 + hour  # the archive writes missing values as NA
            lines.append(f"{n},2013,3,1,{hour},{pm25},{6 + hour},4,7,300,77,{-0.7 + hour / 10:.1f},1023,-18.8,0,NNW,4.4,{station}")
    n += 1
    lines.append(f"{n},2013,3,1,25,9,9,4,7,300,77,1.0,1023,-18.8,0,NNW,4.4,Changping")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n


@pytest.fixture
def new_entry(tmp_path, monkeypatch):
    """The repository's catalog plus one new department and one new YAML entry, nothing else."""
    catalog = tmp_path / "catalog"
    shutil.copytree(PROJECT_ROOT / "catalog" / "resources", catalog)
    with (catalog / "departments.yaml").open("a", encoding="utf-8") as fh:
        fh.write(_department(DEPARTMENT))
    (catalog / DEPARTMENT).mkdir()
    (catalog / DEPARTMENT / f"{TABLE}.yaml").write_text(ENTRY, encoding="utf-8")
    monkeypatch.setenv("KCDATA_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("KCDATA_INBOX", str(tmp_path / "inbox"))
    monkeypatch.delenv("KCDATA_CATALOG_URL", raising=False)
    from common.settings import get_paths

    return get_paths()


def test_a_new_yaml_entry_flows_to_the_portal_with_no_code(new_entry, portal, airflow_db, mark_delivered):

    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.lake import Zone
    from orchestration.airflow_run import run_pipeline
    from portal.client import CkanTarget, Portal
    from portal.mapping import dataset_name
    from portal.publisher import publish_resource
    from system.demo import approve_for_demo

    paths = new_entry
    resource = get_resource(CODE)
    rows = _archive_csv(paths.inbox / TABLE / "PRSA_Data_20130301.csv")
    target = CkanTarget(*portal)
    admin, anon = Portal(target), RemoteCKAN(target.url)
    try:
        admin.call("dataset_purge", id=dataset_name(resource))
    except NotFound:
        pass

    # through Airflow: the chain takes the new table (generated staging), up to its open view
    mark_delivered(paths.inbox)
    (summary,) = run_pipeline(tables=[TABLE])
    assert summary.tasks["transform"] == "success"
    store = open_store()
    version = store.latest_version(CODE)
    assert (version.rows_in, version.rows_accepted, version.rows_quarantined) == (rows, rows - 1, 1)
    assert version.problems_by_rule == {"out-of-range": 1} and version.validation_passed

    current = duckdb.sql(f"SELECT station, measured_at FROM '{paths.current_file(TABLE)}' ORDER BY ALL").fetchall()
    assert len(current) == 48 and str(current[0][1]) == "2013-03-01 00:00:00"
    view = paths.batch_file(Zone.open, TABLE, version.fingerprint, version.rules)
    assert duckdb.sql(f"DESCRIBE SELECT * FROM '{view}'").fetchall()[4][:2] == ("measured_at", "TIMESTAMP")
    assert duckdb.sql(f"SELECT count(*) FROM '{view}'").fetchall() == [(48,)]

    # a user's file: the demo reviewer does not approve it, so nothing reaches the portal
    assert any(CODE in line and "not approved" in line for line in approve_for_demo())
    result = publish_resource(resource, admin)
    assert result.action == "not-published" and any("approved" in r for r in result.reasons)
    with pytest.raises((NotFound, NotAuthorized)):
        anon.action.package_show(id=dataset_name(resource))

    # a person approves: published, with the derived item in the data, DataStore and dictionary
    store.record_approval(resource, "approve", "档案馆审核员")
    try:
        assert publish_resource(resource, admin).action == "published"
        dataset = anon.action.package_show(id=dataset_name(resource))
        assert dataset["organization"]["name"] == "research-archive"
        urls = {r["name"]: r["url"] for r in dataset["resources"]}
        header = requests.get(urls["data.csv"], timeout=60).content.decode("utf-8-sig").splitlines()
        assert "观测时间" in header[0].split(",") and "2013-03-01 23:00:00" in "\n".join(header)
        dictionary = requests.get(urls["data-dictionary.csv"], timeout=60).content.decode("utf-8-sig")
        assert "make_timestamp(year, month, day, hour, 0, 0)" in dictionary
        csv_id = next(r["id"] for r in dataset["resources"] if r["name"] == "data.csv")
        fields = {f["id"]: f["type"] for f in anon.action.datastore_search(resource_id=csv_id, limit=1)["fields"]}
        assert fields["measured_at"] == "timestamp"
    finally:
        admin.call("dataset_purge", id=dataset_name(resource))
