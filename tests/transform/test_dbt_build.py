"""The transform stage end to end: validated batches in a tmp lake -> `dbt build` -> curated marts.

The batches are written the way the validate stage writes them (one Parquet file per batch,
columns typed from the catalog plus _row, _batch, _loaded_at), with re-deliveries of some
keys in a later batch, and no batch at all for the resources the marts do not use.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.entries import get_resource, load_catalog
from catalog.model import DUCKDB_TYPES, Resource
from common.errors import KcdataError
from common.settings import PROJECT_ROOT, get_paths
from transform.project import GENERATED, generated_files
from transform.runner import run_dbt

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
}
MARTS = {
    "air_quality_daily",
    "enterprise_registrations_monthly",
    "traffic_volume_hourly",
    "work_safety_hazards_monthly",
}
WITH_BATCHES = {"air_quality_hourly", "enterprise_registrations", "traffic_flow", "work_safety_inspections", "patent_grants"}
LOADED_1 = datetime(2026, 3, 2, 1, 0, 0)
LOADED_2 = datetime(2026, 3, 3, 1, 0, 0)


# --------------------------------------------------------------------------- lake helpers


def write_batch(
    lake: Path, resource: Resource, rows: list[dict], batch: str, loaded_at: datetime, *, without: tuple[str, ...] = ()
) -> Path:
    """One validated batch as the validate stage leaves it (`without`: items an older catalog lacked)."""
    items = [i for i in resource.items if i.code not in without]
    fields = [pa.field(i.code, ARROW_TYPES[DUCKDB_TYPES[i.type]]) for i in items]
    fields += [pa.field("_row", pa.int64()), pa.field("_batch", pa.string()), pa.field("_loaded_at", pa.timestamp("us"))]
    schema = pa.schema(fields)
    columns = {i.code: [r.get(i.code) for r in rows] for i in items}
    columns["_row"] = list(range(2, len(rows) + 2))  # line 1 of the source file is the header
    columns["_batch"] = [batch] * len(rows)
    columns["_loaded_at"] = [loaded_at] * len(rows)
    path = lake / "validated" / resource.table / f"batch={batch}" / "data.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), path)
    write_outcome(path.parent, batch, loaded_at, passed=True)
    return path


def write_outcome(batch_dir: Path, fingerprint: str, validated_at: datetime, passed: bool) -> None:
    """The outcome.json the validate stage leaves beside a batch (dbt reads only passing ones)."""
    outcome = {"passed": passed, "fingerprint": fingerprint, "validated_at": validated_at.isoformat() + "Z"}
    (batch_dir / "outcome.json").write_text(json.dumps(outcome))


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(serial: int) -> str:
    """A well-formed 18-character unified social credit code (GB 32100-2015) for a company."""
    first17 = f"91440101MA{serial:07d}"
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_CHARS[(31 - total % 31) % 31]


def air_quality_rows() -> tuple[list[dict], list[dict]]:
    day = datetime(2026, 3, 1)
    first, second = [], []
    for h in range(24):
        t = day + timedelta(hours=h)
        # 九佛站: PM2.5 alternates 40/50 (24h mean 45), PM10 50/70 (mean 60), the rest low
        first.append({
            "station_code": "ZSC001", "station_name": "九佛站", "monitored_at": t,
            "pm25": 40.0 if h % 2 == 0 else 50.0, "pm10": 50.0 if h % 2 == 0 else 70.0,
            "o3": 60.0, "no2": 30.0, "so2": 10.0, "co": 0.8,
        })
        # 龙湖站: a polluted day, PM2.5 120 and PM10 200 all day
        first.append({
            "station_code": "ZSC002", "station_name": "龙湖站", "monitored_at": t,
            "pm25": 120.0, "pm10": 200.0, "o3": 40.0, "no2": 45.0, "so2": 12.0, "co": 1.1,
        })
        # 新龙站: only the first 10 hours arrived
        if h < 10:
            first.append({
                "station_code": "ZSC003", "station_name": "新龙站", "monitored_at": t,
                "pm25": 30.0, "pm10": 45.0, "o3": 50.0, "no2": 20.0, "so2": 8.0, "co": 0.6,
            })
    # the first file had a typo at 九佛站 00:00 (400 instead of 40) ...
    first[0]["pm25"] = 400.0
    # ... which the department corrected by sending hours 00:00-02:00 again in a later file
    second = [dict(r) for r in first if r["station_code"] == "ZSC001" and r["monitored_at"].hour < 3]
    second[0]["pm25"] = 40.0
    return first, second


def enterprise_rows() -> tuple[list[dict], list[dict]]:
    def company(serial, name, industry, capital, established, street):
        return {
            "uscc": uscc(serial), "enterprise_name": name, "enterprise_type": "有限责任公司",
            "industry": industry, "registered_capital": capital, "established_on": established,
            "street": street, "legal_representative": "张伟", "contact_phone": "13800138000",
        }

    first = [
        company(1, "广州知城精密制造有限公司", "制造业", 500.0, date(2026, 1, 5), "九佛街道"),
        company(2, "广州凤凰新材料有限公司", "制造业", 1200.0, date(2026, 1, 20), "龙湖街道"),
        company(3, "广州知明软件有限公司", "信息传输、软件和信息技术服务业", 100.0, date(2026, 1, 9), "九佛街道"),
        company(4, "广州龙湖智能装备有限公司", "制造业", 800.0, date(2026, 2, 3), "龙湖街道"),
        company(5, "广州知识城融资租赁有限公司", "金融业", 5000.0, date(2026, 2, 14), None),
    ]
    # a later file re-sends company 2 with its capital corrected, and one new company
    second = [
        company(2, "广州凤凰新材料有限公司", "制造业", 1500.0, date(2026, 1, 20), "龙湖街道"),
        company(6, "广州新龙生物制造有限公司", "制造业", 300.0, date(2026, 2, 27), "新龙镇"),
    ]
    return first, second


def traffic_rows() -> tuple[list[dict], list[dict]]:
    rows = []
    directions = {"东": (50, 40.0), "南": (60, 40.0), "西": (70, 20.0), "北": (80, 20.0)}
    for slot in range(4):  # 08:00, 08:15, 08:30, 08:45
        for d, (count, speed) in directions.items():
            rows.append({
                "intersection_code": "JK0001", "intersection_name": "知识大道与凤凰五路",
                "counted_at": datetime(2026, 3, 1, 8, 15 * slot), "direction": d,
                "vehicle_count": count, "avg_speed_kmh": speed,
            })
    for slot in range(2):  # 09:00 and 09:15 only
        rows.append({
            "intersection_code": "JK0001", "intersection_name": "知识大道与凤凰五路",
            "counted_at": datetime(2026, 3, 1, 9, 15 * slot), "direction": "东",
            "vehicle_count": 30, "avg_speed_kmh": 45.0,
        })
    # the 08:00 east count is delivered again in a later file
    return rows, [dict(rows[0])]


def inspection_rows() -> tuple[list[dict], list[dict]]:
    def inspection(n, on, hazards, level, status):
        return {
            "inspection_no": f"AJ2026{n:06d}", "enterprise_uscc": uscc(100 + n),
            "enterprise_name": f"广州安检样本{n}有限公司", "inspected_on": on, "inspector": "李娜",
            "hazards_found": hazards, "hazard_level": level, "rectification_status": status,
            "rectification_due": None if status == "无需整改" else on + timedelta(days=30),
        }

    first = [
        inspection(1, date(2026, 1, 6), 2, "一般隐患", "已整改"),
        inspection(2, date(2026, 1, 13), 3, "一般隐患", "整改中"),
        inspection(3, date(2026, 1, 20), 1, "一般隐患", "已整改"),
        inspection(4, date(2026, 1, 21), 0, "无隐患", "无需整改"),
        inspection(5, date(2026, 1, 28), 0, "无隐患", "无需整改"),
        inspection(6, date(2026, 2, 10), 5, "重大隐患", "逾期未整改"),
    ]
    # a later weekly file reports inspection 2 as rectified now
    second = [inspection(2, date(2026, 1, 13), 3, "一般隐患", "已整改")]
    return first, second


def build_lake(lake: Path) -> None:
    for table, rows in {
        "air_quality_hourly": air_quality_rows(),
        "enterprise_registrations": enterprise_rows(),
        "traffic_flow": traffic_rows(),
        "work_safety_inspections": inspection_rows(),
    }.items():
        resource = get_resource(table)
        first, second = rows
        write_batch(lake, resource, first, f"{table[:8]}fp1", LOADED_1)
        write_batch(lake, resource, second, f"{table[:8]}fp2", LOADED_2)
    # a batch validated before the catalog gained the item ipc_main (主分类号)
    patent = {
        "patent_no": "ZL202610000001.X", "title": "一种用于城市路灯的单灯控制器", "patent_type": "实用新型",
        "holder_name": "广州知城精密制造有限公司", "holder_uscc": uscc(1), "granted_on": date(2026, 2, 6),
    }
    write_batch(lake, get_resource("patent_grants"), [patent], "patentsfp1", LOADED_1, without=("ipc_main",))


def read_mart(path: Path, order_by: str) -> list[dict]:
    import duckdb

    with duckdb.connect() as con:
        rel = con.sql(f"select * from read_parquet('{path}') order by {order_by}")
        names = rel.columns
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One `dbt build` over a synthetic lake, shared by the tests of this module."""
    lake = tmp_path_factory.mktemp("lake")
    build_lake(lake)
    repo_files_before = repo_dbt_files()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(lake))
        result = run_dbt(get_paths())
    assert repo_dbt_files() == repo_files_before, "dbt wrote into the repo's dbt/ folder"
    return lake, result


def repo_dbt_files() -> set[Path]:
    return {p for p in (PROJECT_ROOT / "dbt").rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- tests


def test_build_writes_every_mart_under_the_lake(built):
    lake, result = built
    assert result.success
    assert set(result.marts) >= MARTS
    for name in MARTS:
        assert result.marts[name] == lake / "curated" / f"{name}.parquet"
        assert result.marts[name].is_file()
    assert result.rows["air_quality_daily"] == 3  # three stations, one day
    assert result.rows["enterprise_registrations_monthly"] == 6  # month x industry x street
    assert result.rows["traffic_volume_hourly"] == 2
    assert result.rows["work_safety_hazards_monthly"] == 3
    assert result.log_path == lake / ".dbt" / "logs" / "dbt.log"
    assert result.log_path.is_file()


def test_daily_aqi_matches_hand_computation(built):
    _, result = built
    days = {r["station_code"]: r for r in read_mart(result.marts["air_quality_daily"], "station_code")}

    jiufo = days["ZSC001"]
    # the corrected 00:00 value replaced the typo: 24 hours, PM2.5 mean 45, PM10 mean 60
    assert jiufo["date"] == date(2026, 3, 1)
    assert jiufo["station_name"] == "九佛站"
    assert jiufo["hours_reported"] == 24
    assert jiufo["pm25_mean"] == pytest.approx(45.0)
    assert jiufo["pm10_mean"] == pytest.approx(60.0)
    # IAQI(PM2.5 45) = 50 + (100-50)/(75-35)*(45-35) = 62.5 -> 63; IAQI(PM10 60) = 55;
    # NO2 30 -> 37.5 -> 38; SO2 10 -> 10; CO 0.8 -> 20; O3 1h 60 -> 18.75 -> 19; O3 8h 60 -> 30
    assert (jiufo["iaqi_pm25"], jiufo["iaqi_pm10"], jiufo["iaqi_no2"]) == (63, 55, 38)
    assert (jiufo["iaqi_so2"], jiufo["iaqi_co"], jiufo["iaqi_o3_1h"], jiufo["iaqi_o3_8h"]) == (10, 20, 19, 30)
    assert jiufo["aqi"] == 63
    assert (jiufo["aqi_level"], jiufo["aqi_category"], jiufo["primary_pollutant"]) == ("二级", "良", "PM2.5")

    longhu = days["ZSC002"]
    # IAQI(PM2.5 120) = 150 + 50/35*5 = 157.14 -> 158; IAQI(PM10 200) = 125
    assert (longhu["iaqi_pm25"], longhu["iaqi_pm10"], longhu["aqi"]) == (158, 125, 158)
    assert (longhu["aqi_category"], longhu["primary_pollutant"]) == ("中度污染", "PM2.5")

    xinlong = days["ZSC003"]
    # 10 hours are not a valid day (GB 3095-2012 needs 20): means, but no AQI
    assert xinlong["hours_reported"] == 10
    assert xinlong["pm25_mean"] == pytest.approx(30.0)
    assert xinlong["aqi"] is None and xinlong["aqi_category"] is None


def test_enterprises_per_industry_per_month(built):
    _, result = built
    rows = read_mart(result.marts["enterprise_registrations_monthly"], "month, industry, street")
    per_industry_month: dict[tuple, int] = {}
    capital: dict[tuple, float] = {}
    for r in rows:
        key = (r["month"], r["industry"])
        per_industry_month[key] = per_industry_month.get(key, 0) + r["enterprises"]
        capital[key] = capital.get(key, 0.0) + r["registered_capital_total"]
    assert per_industry_month == {
        (date(2026, 1, 1), "制造业"): 2,  # company 2 was delivered twice: counted once
        (date(2026, 1, 1), "信息传输、软件和信息技术服务业"): 1,
        (date(2026, 2, 1), "制造业"): 2,
        (date(2026, 2, 1), "金融业"): 1,
    }
    # the re-delivered company carries its corrected capital (1500, not 1200 or 2700)
    assert capital[(date(2026, 1, 1), "制造业")] == pytest.approx(500.0 + 1500.0)
    by_street = {(r["month"], r["industry"], r["street"]): r["enterprises"] for r in rows}
    assert by_street[(date(2026, 2, 1), "金融业", None)] == 1
    assert by_street[(date(2026, 2, 1), "制造业", "新龙镇")] == 1


def test_hourly_traffic_volume(built):
    _, result = built
    hours = read_mart(result.marts["traffic_volume_hourly"], "hour")
    eight, nine = hours
    assert eight["hour"] == datetime(2026, 3, 1, 8)
    assert eight["intersection_code"] == "JK0001"
    assert eight["intersection_name"] == "知识大道与凤凰五路"
    # 4 slots x (50 + 60 + 70 + 80); the re-delivered 08:00 east count is not added twice
    assert eight["vehicles"] == 4 * 260
    assert eight["slots_reported"] == 4
    assert eight["mean_speed_kmh"] == pytest.approx((40 * 110 + 20 * 150) / 260)
    assert (nine["vehicles"], nine["slots_reported"], nine["mean_speed_kmh"]) == (60, 2, pytest.approx(45.0))


def test_work_safety_hazards_per_month_and_level(built):
    _, result = built
    rows = {
        (r["month"], r["hazard_level"]): r
        for r in read_mart(result.marts["work_safety_hazards_monthly"], "month, hazard_level")
    }
    general = rows[(date(2026, 1, 1), "一般隐患")]
    assert (general["inspections"], general["hazards_found"]) == (3, 6)
    # inspection 2 was re-sent as rectified: all three are rectified now
    assert (general["inspections_to_rectify"], general["inspections_rectified"]) == (3, 3)
    assert general["rectified_share"] == pytest.approx(1.0)
    none = rows[(date(2026, 1, 1), "无隐患")]
    assert (none["inspections"], none["hazards_found"], none["rectified_share"]) == (2, 0, None)
    major = rows[(date(2026, 2, 1), "重大隐患")]
    assert (major["inspections_overdue"], major["rectified_share"]) == (1, 0.0)


def test_staging_matches_catalog_and_resources_without_batches_are_empty(built):
    import duckdb

    lake, _ = built
    with duckdb.connect(str(lake / ".dbt" / "kcdata.duckdb"), read_only=True) as con:
        for resource in load_catalog():
            view = f"stg_{resource.table}"
            described = con.execute(f"describe {view}").fetchall()
            expected = [(i.code, DUCKDB_TYPES[i.type]) for i in resource.items]
            expected += [("_batch", "VARCHAR"), ("_loaded_at", "TIMESTAMP")]
            assert [(c[0], c[1]) for c in described] == expected, view
            (n,) = con.execute(f"select count(*) from {view}").fetchone()
            if resource.table not in WITH_BATCHES:
                assert n == 0, f"{view} should be empty: no batch was written"
        # re-delivered keys are kept once, from the later batch
        assert con.execute("select count(*) from stg_air_quality_hourly").fetchone() == (24 + 24 + 10,)
        assert con.execute(
            "select pm25, _batch from stg_air_quality_hourly "
            "where station_code = 'ZSC001' and monitored_at = '2026-03-01 00:00:00'"
        ).fetchone() == (40.0, "air_qual" + "fp2")
        assert con.execute("select count(*) from stg_enterprise_registrations").fetchone() == (6,)
        # an item missing from every batch (added to the catalog later) reads as NULL
        assert con.execute("select patent_no, ipc_main from stg_patent_grants").fetchall() == [
            ("ZL202610000001.X", None)
        ]


def test_failing_data_test_raises_with_node_name(tmp_path, monkeypatch):
    resource = get_resource("enterprise_registrations")
    first, _ = enterprise_rows()
    first[0]["registered_capital"] = -10.0  # slipped past validation somehow
    write_batch(tmp_path, resource, first[:1], "badfp", LOADED_1)
    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path))
    with pytest.raises(KcdataError) as err:
        run_dbt(get_paths(), select="+enterprise_registrations_monthly")
    message = str(err.value)
    assert "accepted_range_enterprise_registrations_monthly_registered_capital_total" in message
    assert "[fail]" in message


def test_staging_is_generated_from_the_catalog_deterministically(tmp_path):
    paths = get_paths()
    first, generated, overridden = generated_files(load_catalog(), paths)
    again, _, _ = generated_files(load_catalog(), paths)
    assert first == again  # same catalog, same files, byte for byte
    assert overridden == []  # no hand-written staging model in the repository today
    assert sorted(generated) == sorted(f"stg_{r.table}" for r in load_catalog())
    sources = first[GENERATED / "_sources.yml"]
    for r in load_catalog():
        assert f"name: {r.table}\n" in sources
        assert f"catalog_code: {r.code}" in sources
    assert not (PROJECT_ROOT / "dbt" / "models" / "staging" / "_sources.yml").exists()
