"""The file-drop connector: a department's CSV/XLSX/JSON file -> one immutable raw Parquet batch.

The batch is named by the SHA-256 of the file's bytes, so feeding the same file twice finds
the batch already there and does nothing.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from catalog.model import Resource, SourceFormat
from common.atomic import staged_dir, sweep_stale_temps
from common.checksums import sha256_file
from common.errors import KcdataError
from common.lake import DATA_FILE, Zone
from common.settings import Paths, get_paths

SUFFIXES = {".csv": SourceFormat.csv, ".xlsx": SourceFormat.xlsx, ".json": SourceFormat.json, ".jsonl": SourceFormat.json}


@dataclass
class LandedBatch:
    """What landing one file produced; small enough to travel through XCom."""

    resource: str
    table: str
    source_file: str
    fingerprint: str
    raw_path: str
    rows: int
    encoding: str | None
    landed_at: str
    ignored_headers: list[str] = field(default_factory=list)
    absent_items: list[str] = field(default_factory=list)
    skipped: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def inbox_files(resource: Resource, paths: Paths | None = None) -> list[Path]:
    """Files waiting in inbox/<table>/, oldest name first."""
    folder = (paths or get_paths()).inbox / resource.table
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def read_landed(raw_file: Path) -> LandedBatch:
    """Recover the landing record stored in a raw batch's Parquet metadata."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(raw_file).metadata or {}
    return LandedBatch(**json.loads(meta[b"kcdata.landing"]), skipped=True)


def land_file(resource: Resource, source: Path, paths: Paths | None = None) -> LandedBatch:
    """Read `source`, map headers, coerce types with per-cell errors, write the raw batch."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from connectors.coerce import coercion_sql
    from connectors.headers import map_headers
    from connectors.readers import open_text_stream

    paths = paths or get_paths()
    source = source.resolve()
    if not source.is_file():
        raise KcdataError(f"{source}: no such file")
    fmt = SUFFIXES.get(source.suffix.lower())
    if fmt is None:
        raise KcdataError(f"{source}: unsupported file type {source.suffix!r}; send CSV, XLSX or JSON")
    fingerprint = sha256_file(source)
    target = paths.batch_dir(Zone.raw, resource.table, fingerprint)
    if (target / DATA_FILE).exists():
        return read_landed(target / DATA_FILE)
    sweep_stale_temps(target.parent)

    stream = open_text_stream(source, fmt, resource.source.sheet)
    mapping = map_headers(resource, stream.headers, str(source))
    present = set(mapping.columns.values())
    landed = LandedBatch(
        resource=resource.code,
        table=resource.table,
        source_file=str(source),
        fingerprint=fingerprint,
        raw_path=str(target / DATA_FILE),
        rows=0,
        encoding=stream.encoding,
        landed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ignored_headers=mapping.ignored,
        absent_items=mapping.absent,
    )
    sql = coercion_sql(resource, present, "text_batch")
    con = duckdb.connect()
    with staged_dir(target) as tmp:
        writer: pq.ParquetWriter | None = None
        next_row = 1
        try:
            for batch in stream.batches:
                n = batch.num_rows
                arrays = [pa.array(range(next_row, next_row + n), pa.int64())]
                arrays += [batch.column(i) for i in mapping.columns]
                text = pa.table(arrays, names=["_row", *mapping.columns.values()])
                con.register("text_batch", text)
                typed = con.sql(sql).to_arrow_table()
                con.unregister("text_batch")
                if writer is None:
                    writer = pq.ParquetWriter(tmp / DATA_FILE, typed.schema, compression="zstd")
                writer.write_table(typed.cast(writer.schema))
                next_row += n
            if writer is None:  # header only: still an (empty) batch, so the version is recorded
                empty = pa.table(
                    [pa.array([], pa.int64())] + [pa.array([], pa.string()) for _ in mapping.columns],
                    names=["_row", *mapping.columns.values()],
                )
                con.register("text_batch", empty)
                writer = pq.ParquetWriter(tmp / DATA_FILE, con.sql(sql).to_arrow_table().schema)
            landed.rows = next_row - 1
            record = {k: v for k, v in landed.to_dict().items() if k != "skipped"}
            writer.add_key_value_metadata({"kcdata.landing": json.dumps(record, ensure_ascii=False)})
        finally:
            if writer is not None:
                writer.close()
            con.close()
    return landed
