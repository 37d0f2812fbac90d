"""One grammar of typed cells (common/literals.py): coercion, the sample writer and the benchmark's
floor accept exactly the same texts as numbers, dates, date-times and yes/no."""
from __future__ import annotations

import sys

import duckdb
import pyarrow as pa
import pytest

from catalog.model import ItemType, Provider, Resource
from common.settings import PROJECT_ROOT
from expectations.coerce import coercion_sql
from samples.writers import _CELL, _json_values

sys.path.insert(0, str(PROJECT_ROOT))
from bench.ingest_floor import _typed as floor_typed  # noqa: E402

# (type, text, accepted by coercion today): the contract departments rely on
CASES = [
    (ItemType.N, "42", True),
    (ItemType.N, "-3.5", True),
    (ItemType.N, "007", True),
    (ItemType.N, "1.5e3", True),
    (ItemType.N, "2E-4", True),
    (ItemType.N, "-1e+2", True),
    (ItemType.N, "1.", False),
    (ItemType.N, ".5", False),
    (ItemType.N, "1,000", False),
    (ItemType.N, "１２", False),  # full-width digits
    (ItemType.N, "1e", False),
    (ItemType.N, "+5", False),
    (ItemType.N, "12 kg", False),
    (ItemType.I, "17", True),
    (ItemType.I, "-0", True),
    (ItemType.I, "1.0", False),
    (ItemType.I, "1e3", False),
    (ItemType.D, "2026-05-01", True),
    (ItemType.D, "2026-02-30", False),  # the pattern's shape, but no such day
    (ItemType.D, "2026/05/01", False),
    (ItemType.D, "2026年5月1日", False),
    (ItemType.D, "20260501", False),
    (ItemType.T, "2026-05-01 08:30:00", True),
    (ItemType.T, "2026-05-01T08:30:00", True),
    (ItemType.T, "2026-05-01 08:30", True),
    (ItemType.T, "2026-05-01", False),
    (ItemType.T, "2026/05/01 08:30:00", False),
    (ItemType.T, "2026-05-01 25:00:00", False),
    (ItemType.L, "是", True),
    (ItemType.L, "Yes", True),
    (ItemType.L, "0", True),
    (ItemType.L, "maybe", False),
]


def cases(*kinds: ItemType) -> list:
    return [pytest.param(k, text, ok, id=f"{k.value}:{text}") for k, text, ok in CASES if k in kinds]


def _resource(kind: ItemType) -> Resource:
    provider = Provider(name="测试局", name_en="Test bureau", code="11440100BENCH00014", slug="test")
    return Resource.model_validate({
        "code": "KC-TEST-001", "table": "grammar", "name": "语法", "name_en": "Grammar", "category": "基础信息资源/测试",
        "provider": provider, "summary": "测试", "format": "电子表格", "key": [],
        "items": [{"name": "值", "code": "v", "type": kind.value, "sensitivity": "public"}],
        "share": {"type": "无条件共享"}, "open": {"type": "无条件开放"}, "update_cycle": "每日",
        "published_at": "2026-01-01", "grade": "一般", "source": {"format": "csv"},
    })


def coerced(kind: ItemType, text: str) -> bool:
    """Whether kcdata's coercion types the cell (and finds no problem in it)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE raw AS SELECT 1 AS _row, ?::VARCHAR AS v", [text])
    value, errors = con.execute(coercion_sql(_resource(kind), {"v"}, "raw")).fetchone()[1:]
    con.close()
    return value is not None and errors == []


def floor_accepts(kind: ItemType, text: str) -> bool:
    """Whether the benchmark's floor types the cell (a connection of its own: DuckDB's shared default one
    would keep an unfinished result for the next test to trip over)."""
    with duckdb.connect() as con:
        return con.execute(f"SELECT {floor_typed(kind.value, 't')} FROM (SELECT ?::VARCHAR AS t)", [text]).fetchone()[0] is not None


def writer_types(kind: ItemType, text: str) -> bool:
    """Whether the XLSX writer writes the cell as a typed value rather than as the text sent."""
    return not isinstance(_CELL[kind](text), str)


@pytest.mark.parametrize(("kind", "text", "accepted"), cases(*ItemType))
def test_coercion_accepts_what_it_always_accepted(kind, text, accepted):
    assert coerced(kind, text) is accepted


@pytest.mark.parametrize(("kind", "text", "accepted"), cases(*ItemType))
def test_the_benchmark_floor_accepts_what_coercion_accepts(kind, text, accepted):
    assert floor_accepts(kind, text) is accepted


@pytest.mark.parametrize(("kind", "text", "accepted"), cases(ItemType.N, ItemType.I, ItemType.D, ItemType.T))
def test_the_sample_writer_types_a_cell_exactly_when_coercion_accepts_it(kind, text, accepted):
    assert writer_types(kind, text) is accepted


@pytest.mark.parametrize(("kind", "text", "accepted"), cases(ItemType.N))
def test_json_samples_carry_a_number_bare_when_coercion_accepts_it_and_json_can(kind, text, accepted):
    (written,) = _json_values(pa.array([text]), kind).to_pylist()
    json_can = text != "007"  # JSON numbers have no leading zeros: 007 is written as the text "007"
    assert (written == text) is (accepted and json_can)
