"""JSON deliveries: an array of objects or JSON lines, read by DuckDB as text."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from common.problems import Refusal
from connectors.readers import BATCH_ROWS, TextStream, numbered


def _names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def read_json(path: Path) -> TextStream:
    """A JSON array of objects, or JSON lines; keys are the headers."""
    import duckdb

    con = duckdb.connect()
    src = str(path).replace("'", "''")
    try:
        keys = [
            row[0]
            for row in con.execute(
                f"DESCRIBE SELECT * FROM read_json('{src}', format='auto', sample_size=-1)"
            ).fetchall()
        ]
    except duckdb.Error as exc:
        con.close()
        raise Refusal(str(path), "wrong-format", format="JSON", detail=f"not an array of objects or JSON lines ({str(exc)[:200]})") from exc
    columns = ", ".join(f"'{k.replace(chr(39), chr(39) * 2)}': 'VARCHAR'" for k in keys)
    names = _names(len(keys))
    select = ", ".join(f'"{k.replace(chr(34), chr(34) * 2)}" AS {n}' for k, n in zip(keys, names, strict=True))
    reader = con.sql(
        f"SELECT {select} FROM read_json('{src}', format='auto', columns={{{columns}}})"
    ).to_arrow_reader(BATCH_ROWS)

    def batches() -> Iterator[pa.RecordBatch]:
        first = 1
        for batch in reader:
            yield numbered(batch.columns, names, first)
            first += batch.num_rows
        con.close()

    return TextStream(headers=keys, batches=batches(), encoding="utf-8")
