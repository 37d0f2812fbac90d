"""Small catalog entries for the governance tests, validated like any YAML entry."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from catalog.model import DUCKDB_TYPES, Provider, Resource
from common.settings import Paths

BATCH = "ab" * 32
PROVIDER = Provider(name="测试局", name_en="Test bureau", code="11440100TE0000001K", slug="test_bureau")


def entry(items: list[dict[str, Any]], key: list[str] | None = None, **fields: Any) -> Resource:
    """An open, general-grade resource with `items` (each `{name, code, type, ...}`)."""
    data = {
        "code": "KC-TEST-001", "table": "people", "name": "测试", "name_en": "Test", "category": "基础信息资源/测试",
        "provider": PROVIDER, "summary": "测试", "format": "电子表格", "items": items, "key": key or [],
        "share": {"type": "无条件共享"}, "open": {"type": "无条件开放"}, "update_cycle": "每日",
        "published_at": "2026-01-01", "grade": "一般", "source": {"format": "csv"},
    }
    return Resource.model_validate(data | fields)


def item(code: str, type_: str = "C", sensitivity: str | None = "public", treatment: Any = None, **more: Any) -> dict:
    fields: dict[str, Any] = {"name": code, "code": code, "type": type_, **more}
    if sensitivity is not None:
        fields["sensitivity"] = sensitivity
    if treatment is not None:
        fields["treatment"] = treatment
    return fields


VISITS = [
    item("visit_no"),
    item("visitor", sensitivity="personal", treatment={"mask": "name"}),
    item("mobile", sensitivity="personal", treatment={"mask": "phone"}),
    item("id_no", sensitivity="sensitive_personal", treatment="mask", pattern="id_card"),
    item("inspector", sensitivity="personal", treatment="pseudonymise"),
    item("visited_at", "T", "personal", {"generalise": "month"}),
    item("lon", "N", "internal", {"generalise": {"grid": 0.01}}),
    item("age", "I", "personal", {"generalise": {"band": 10}}),
    item("household", "I", "internal", {"generalise": {"suppress_below": 5}}),
    item("diagnosis", sensitivity="sensitive_personal"),  # no treatment: dropped
    item("remark", sensitivity="internal"),  # no treatment: dropped
]
ROWS = [
    ("V001", "张三丰", "13812341234", "440112199003071234", "王检查", datetime(2026, 3, 7, 9, 5), 113.4567, 34, 3, "高血压", "备注"),
    ("V002", "欧阳娜娜", "13987654321", "44011219851231567X", "李核查", datetime(2026, 4, 1, 0, 0), 113.45, 61, 12, "糖尿病", None),
    ("V003", "李四", None, None, "王检查", datetime(2026, 4, 30, 23, 59), None, None, None, None, None),
]


def write_curated(paths: Paths, resource: Resource, rows: list[tuple], batch: str = BATCH) -> None:
    """dbt's current rows of `resource` as the open view reads them (items + lineage columns)."""
    columns = ", ".join(f'"{i.code}" {DUCKDB_TYPES[i.type]}' for i in resource.items)
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE t ({columns}, _row BIGINT, _batch VARCHAR, _loaded_at TIMESTAMP)")
        if rows:
            con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * (len(resource.items) + 3))})",
                            [[*r, n, batch[:16], datetime(2026, 5, 1)] for n, r in enumerate(rows)])
        target = paths.current_file(resource.table)
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY t TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
