"""The database connector against real PostgreSQL and MariaDB servers (tests/connectors/conftest.py).

Full and incremental pulls land through the file-drop path and validate cleanly; the watermark
moves only on commit; an unchanged table gives the same bytes (no new version); a 100k-row table
streams with bounded memory."""
from __future__ import annotations

import json
import tracemalloc
import uuid
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from catalog.store import open_store
from connectors.file_drop import land_file
from connectors.pull import PullError, commit, database, pull
from connectors.pull.state import state_file
from flow.pipeline import land_and_validate


def _table(db, rows: list[tuple] | None = None) -> str:
    """A fresh readings table (with the given rows); its name."""
    name = f"readings_{uuid.uuid4().hex[:8]}"
    ts = "timestamp" if db.dialect == "postgresql" else "datetime"
    ddl = (f"CREATE TABLE {name} (reading_id integer PRIMARY KEY, station varchar(50) NOT NULL, reading numeric(10,2), "
           f"measured_at {ts} NOT NULL, ok boolean, day date)")
    engine = sa.create_engine(db.url())
    with engine.begin() as conn:
        conn.execute(sa.text(ddl))
    engine.dispose()
    if rows:
        _insert(db, name, rows)
    return name


def _insert(db, table: str, rows: list[tuple]) -> None:
    engine = sa.create_engine(db.url())
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {table} VALUES (:id, :station, :reading, :at, :ok, :day)"),
            [dict(zip(("id", "station", "reading", "at", "ok", "day"), r, strict=True)) for r in rows],
        )
    engine.dispose()


def _rows(first: int, n: int) -> list[tuple]:
    return [
        (i, f"知识城{i}号站", Decimal(f"{i}.25") if i % 3 else None, datetime(2026, 1, 1, 8, i % 60, 5 + i % 50),
         i % 2 == 0, f"2026-01-{1 + i % 28:02d}")
        for i in range(first, first + n)
    ]


def _lines(result) -> list[dict]:
    return [json.loads(line) for line in result.file.read_text(encoding="utf-8").splitlines()]


def _versions(paths) -> int:
    return len(open_store(paths.catalog_url).resource("KC-TEST-001")[1])


def test_full_pull_lands_typed_rows_and_unchanged_table_adds_no_version(lake, db, make_resource):
    table = _table(db, [(1, "知识城1号站", Decimal("12.50"), datetime(2026, 1, 2, 3, 4, 5), True, "2026-01-02"),
                        (2, "九佛站", None, datetime(2026, 1, 2, 3, 4, 6), False, "2026-01-03")])
    resource = make_resource({"kind": "database", "connection": "test_db", "table": table, "order_by": ["reading_id"]})
    result = pull(resource, lake, db.credentials())
    assert (result.rows, result.watermark) == (2, None)
    assert result.file.parent == lake.lake / "state" / "pull" / "readings" and result.file.suffix == ".jsonl"
    assert result.source_uri == f"{db.dialect}://127.0.0.1:{db.port}/kcdata/{table}"
    assert db.password not in result.source_uri
    first = _lines(result)[0]
    assert first == {"reading_id": "1", "station": "知识城1号站", "reading": "12.50", "measured_at": "2026-01-02 03:04:05",
                     "ok": "true" if db.dialect == "postgresql" else "1", "day": "2026-01-02"}
    ingested = land_and_validate(resource, result.file, lake)
    assert (ingested.outcome.accepted, ingested.outcome.quarantined, ingested.version) == (2, 0, 1)
    commit(resource, lake, result)

    again = pull(resource, lake, db.credentials())
    assert again.file != result.file and again.file.read_bytes() == result.file.read_bytes()
    assert land_file(resource, again.file, lake).skipped
    assert land_and_validate(resource, again.file, lake).version == 1
    assert _versions(lake) == 1

    _insert(db, table, _rows(3, 1))
    changed = pull(resource, lake, db.credentials())
    assert changed.rows == 3
    assert land_and_validate(resource, changed.file, lake).version == 2


def test_incremental_pull_takes_only_rows_above_the_committed_watermark(lake, db, make_resource):
    table = _table(db, _rows(1, 3))
    resource = make_resource({"kind": "database", "connection": "test_db", "table": table, "mode": "incremental",
                                  "watermark": "measured_at", "chunk_rows": 2})
    first = pull(resource, lake, db.credentials())
    assert (first.rows, first.pages) == (3, 2)  # 2 chunks of at most 2 rows
    assert first.watermark == "2026-01-01T08:03:08"
    assert [r["reading_id"] for r in _lines(first)] == ["1", "2", "3"]
    assert land_and_validate(resource, first.file, lake).outcome.accepted == 3
    commit(resource, lake, first)
    state = json.loads(state_file(lake, "readings").read_text())
    assert state["watermark"] == "2026-01-01T08:03:08" and state["watermark_column"] == "measured_at"

    _insert(db, table, _rows(4, 2))
    second = pull(resource, lake, db.credentials())
    assert [r["reading_id"] for r in _lines(second)] == ["4", "5"]
    # not committed (say landing failed): the next pull takes the same rows again
    assert [r["reading_id"] for r in _lines(pull(resource, lake, db.credentials()))] == ["4", "5"]
    assert land_and_validate(resource, second.file, lake).outcome.accepted == 2
    commit(resource, lake, second)

    nothing = pull(resource, lake, db.credentials())
    assert (nothing.file, nothing.rows, nothing.watermark) == (None, 0, "2026-01-01T08:05:10")
    commit(resource, lake, nothing)
    assert json.loads(state_file(lake, "readings").read_text())["watermark"] == "2026-01-01T08:05:10"
    _insert(db, table, _rows(6, 1))
    assert [r["reading_id"] for r in _lines(pull(resource, lake, db.credentials()))] == ["6"]
    assert _versions(lake) == 2


def test_incremental_pull_of_a_query_by_integer_watermark(lake, db, make_resource):
    table = _table(db, _rows(1, 4))
    query = f"SELECT reading_id, station, measured_at FROM {table} WHERE station <> '知识城2号站'"
    resource = make_resource({"kind": "database", "connection": "test_db", "query": query, "mode": "incremental",
                                  "watermark": "reading_id"})
    first = pull(resource, lake, db.credentials())
    assert [r["reading_id"] for r in _lines(first)] == ["1", "3", "4"]
    assert first.source_uri.startswith(f"{db.dialect}://127.0.0.1:{db.port}/kcdata?query=")
    commit(resource, lake, first)
    _insert(db, table, _rows(5, 2))
    assert [r["reading_id"] for r in _lines(pull(resource, lake, db.credentials()))] == ["5", "6"]


def test_a_100k_row_table_streams_in_bounded_memory(lake, db, make_resource, monkeypatch):
    table = _table(db)
    fill = {
        "postgresql": f"INSERT INTO {table} SELECT g, 'S' || (g % 50), g * 0.25, timestamp '2026-01-01' + g * interval '1 second', "
                      f"g % 2 = 0, date '2026-01-01' + (g % 300) FROM generate_series(1, 100000) g",
        "mysql": f"INSERT INTO {table} SELECT seq, CONCAT('S', seq % 50), seq * 0.25, "
                 f"TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0, DATE'2026-01-01' + INTERVAL (seq % 300) DAY "
                 f"FROM seq_1_to_100000",
    }[db.dialect]
    engine = sa.create_engine(db.url())
    with engine.begin() as conn:
        conn.execute(sa.text(fill))
    resource = make_resource({"kind": "database", "connection": "test_db", "table": table, "mode": "incremental",
                                  "watermark": "reading_id", "chunk_rows": 2_000})

    cursors = []
    write_rows = database._write_rows

    def spy(rows, *args):
        cursors.append(type(rows.cursor).__name__)
        return write_rows(rows, *args)

    monkeypatch.setattr(database, "_write_rows", spy)
    tracemalloc.start()
    result = pull(resource, lake, db.credentials())
    streamed = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    # what holding every row would cost, from a tenth of them (memory grows linearly with rows)
    tracemalloc.start()
    with engine.connect() as conn:
        held = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY reading_id LIMIT 10000")).fetchall()
    holding_all = tracemalloc.get_traced_memory()[1] * 10
    tracemalloc.stop()
    engine.dispose()
    assert len(held) == 10_000
    del held

    assert cursors == [{"postgresql": "ServerCursor", "mysql": "SSCursor"}[db.dialect]]  # rows stay on the server until fetched
    assert (result.rows, result.pages, result.watermark) == (100_000, 50, "100000")
    with result.file.open(encoding="utf-8") as f:
        assert sum(1 for _ in f) == 100_000
    assert streamed < holding_all / 4, (streamed, holding_all)
    assert streamed < 48 << 20, streamed


def test_failures_are_clear_and_never_show_the_password(lake, db, make_resource):
    table = _table(db, _rows(1, 1))
    resource = make_resource({"kind": "database", "connection": "test_db", "table": table})
    wrong = db.credentials()
    wrong.password = "not-the-password-123"
    with pytest.raises(PullError) as caught:
        pull(resource, lake, wrong)
    assert f"{db.dialect}://127.0.0.1:{db.port}/kcdata/{table}" in str(caught.value)
    assert wrong.password not in str(caught.value) and db.password not in str(caught.value)

    missing = make_resource({"kind": "database", "connection": "test_db", "table": table, "mode": "incremental",
                                 "watermark": "updated_at"})
    with pytest.raises(PullError, match="updated_at"):
        pull(missing, lake, db.credentials())
    assert not list((lake.lake / "state" / "pull" / "readings").glob("*"))  # no file, no temp left behind

    with pytest.raises(PullError, match="no_such_table"):
        pull(make_resource({"kind": "database", "connection": "test_db", "table": "no_such_table"}), lake, db.credentials())
