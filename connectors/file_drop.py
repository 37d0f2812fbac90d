"""The file-drop connector: a department's CSV/XLSX/JSON file -> one immutable raw Parquet batch.

The raw batch is the delivery as sent, in columns: every mapped item as the text the department
wrote, `_row` (data-row number) and `_line` (where the row starts in the file, when known),
the columns no catalog item claims kept aside as `_unmapped_<n>` (n = column number), and one
row per row that could not be parsed, with `_problem` (its code), `_problem_text` (the raw text,
truncated) and `_problem_params`. Typing happens in the validate stage, so a change of rules
can validate the same raw batch again. A resource's personal items (and the columns that can
carry their values) are encrypted in the raw batch (common/lake_crypto.py); without the master
key such a file is not landed at all and stays in the inbox.

The batch is named by the SHA-256 of the file's bytes, so feeding the same file twice finds
the batch already there and does nothing. A file refused as a whole raises
`common.problems.Refusal` with a registered code; nothing of it lands.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from catalog.model import Resource, SourceFormat
from common.atomic import staged_dir, sweep_stale_temps
from common.checksums import sha256_file
from common.lake import DATA_FILE, Zone
from common.problems import Refusal
from common.settings import Paths, get_paths, read_settings
from connectors.delivered_file import SUFFIXES, check_delivery

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from connectors.headers import HeaderMapping
    from connectors.readers import RowProblem, TextStream


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
    ignored_headers: list[str] = field(default_factory=list)  # headers no item claims (kept aside)
    absent_items: list[str] = field(default_factory=list)
    format: str = ""
    unknown_columns: list[dict] = field(default_factory=list)  # {position, header, column}
    parse_problems: int = 0  # rows that could not be parsed (quarantined at validation)
    columns: list[str] = field(default_factory=list)  # the raw column each header position landed in ('' for none)
    careful: bool = False  # read on the careful (line by line) path
    skipped: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def read_landed(raw_file: Path) -> LandedBatch:
    """Recover the landing record stored in a raw batch's Parquet metadata."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(str(raw_file)).metadata or {}
    return LandedBatch(**json.loads(meta[b"kcdata.landing"]), skipped=True)


def land_file(resource: Resource, source: Path, paths: Paths | None = None) -> LandedBatch:
    """Read `source` as sent, map its headers, write the raw batch; refuse what cannot be read."""
    from connectors.readers.csv import CarefulReadNeeded

    paths = paths or get_paths()
    source = check_delivery(Path(os.path.abspath(source)))  # never a link, device or FIFO
    fmt = SUFFIXES.get(source.suffix.lower())
    if fmt is None:
        raise Refusal(str(source), "unsupported-file-type", suffix=source.suffix or "(none)")
    size = source.stat().st_size
    if size == 0:
        raise Refusal(str(source), "empty-file")
    limit = read_settings().max_file_bytes
    if size > limit:
        raise Refusal(str(source), "too-large", size=_mb(size), limit=_mb(limit))
    fingerprint = sha256_file(source)
    target = paths.batch_dir(Zone.raw, resource.table, fingerprint)
    if (target / DATA_FILE).exists():
        return read_landed(target / DATA_FILE)
    sweep_stale_temps(target.parent)
    try:
        return _write_raw(resource, source, fmt, fingerprint, target, careful=False)
    except CarefulReadNeeded:
        return _write_raw(resource, source, fmt, fingerprint, target, careful=True)


def _mb(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MB"


def _open(resource: Resource, source: Path, fmt: SourceFormat, careful: bool) -> TextStream:
    from connectors.headers import header_labels
    from connectors.readers import open_text_stream
    from connectors.readers.csv import read_csv

    if fmt is SourceFormat.csv:
        return read_csv(source, careful=careful, delimiter=resource.source.delimiter)
    hints = {label: resource.item(code).type.value for label, code in header_labels(resource).items()}
    settings = resource.source
    if settings.pulled:  # a pull writes its records as JSON lines: its records_path was the response's
        settings = settings.model_copy(update={"records_path": ""})
    return open_text_stream(source, fmt, settings, hints)


def _write_raw(resource: Resource, source: Path, fmt: SourceFormat, fingerprint: str, target: Path, careful: bool) -> LandedBatch:
    stream = _open(resource, source, fmt, careful)
    try:
        return _land_stream(resource, source, fmt, fingerprint, target, careful, stream)
    finally:
        _close(stream.batches)  # a refused file stops its reader's threads before anything else


def _land_stream(
    resource: Resource, source: Path, fmt: SourceFormat, fingerprint: str, target: Path, careful: bool, stream: TextStream
) -> LandedBatch:
    from common.lake_crypto import parquet_writer, personal_codes, protected_columns, require_master_key
    from connectors.readers import chunk_bytes
    from connectors.readers.csv import CarefulReadNeeded
    from connectors.write_behind import WriteBehind

    mapping = _map_headers(resource, stream, source)
    landed = LandedBatch(
        resource=resource.code, table=resource.table, source_file=str(source), fingerprint=fingerprint,
        raw_path=str(target / DATA_FILE), rows=0, encoding=stream.encoding,
        landed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ignored_headers=mapping.ignored, absent_items=mapping.absent, format=fmt.value, careful=careful,
        unknown_columns=[{"position": i + 1, "header": h, "column": f"_unmapped_{i + 1}"} for i, h in mapping.unknown.items()],
        columns=[mapping.columns.get(i) or (f"_unmapped_{i + 1}" if i in mapping.unknown else "") for i in range(len(stream.headers))],
    )
    schema = raw_schema(resource, mapping)
    protect = protected_columns(personal_codes(resource), schema.names)
    if protect:  # before anything is staged: without the key, nothing lands and the file stays
        require_master_key(f"cannot land {source}")
    with staged_dir(target) as tmp:
        with parquet_writer(tmp / DATA_FILE, schema, protect, write_statistics=RAW_STATISTICS) as writer:
            try:
                with WriteBehind(writer) as behind:
                    for table in _chunks(stream.batches, mapping, schema, chunk_bytes()):
                        behind.write(table)
                        landed.rows += table.num_rows
            except (Refusal, CarefulReadNeeded):
                raise
            except Exception as exc:  # a reader failing mid-file: the file is not what its name says
                detail = f"{type(exc).__name__}: {str(exc)[:200]}"
                raise Refusal(str(source), "wrong-format", format=fmt.value.upper(), detail=detail) from exc
            if stream.problems:
                writer.write_table(_problem_rows(stream.problems, schema))
            landed.parse_problems = len(stream.problems)
            landed.rows += len(stream.problems)
            if landed.rows == 0:
                raise Refusal(str(source), "no-data-rows")
            record = {k: v for k, v in landed.to_dict().items() if k != "skipped"}
            writer.add_key_value_metadata({"kcdata.landing": json.dumps(record, ensure_ascii=False)})
    return landed


def _map_headers(resource: Resource, stream: TextStream, source: Path) -> HeaderMapping:
    """The header mapping; when a required column is missing, the reader may know the real reason
    (a `;`-separated file, records wrapped in an object, no header row at all) and say that instead."""
    from connectors.headers import header_labels, map_headers

    try:
        return map_headers(resource, stream.headers, str(source))
    except Refusal as refusal:
        if refusal.code != "missing-required-column" or stream.diagnose is None:
            raise
        better = stream.diagnose(set(header_labels(resource)))
        if better is None:
            raise
        raise better from None


# _problem_cells: a ragged row's fields as parsed (JSON list), for feedback that shows its cells.
PROBLEM_COLUMNS = ("_problem", "_problem_text", "_problem_params", "_problem_cells")
# Min/max statistics only where a reader can skip by them: the raw text is always read whole, and
# statistics of wide text columns cost up to half of the writing.
RAW_STATISTICS = ["_row", "_line"]


def _close(batches: Iterator[pa.RecordBatch]) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _chunks(batches: Iterator[pa.RecordBatch], mapping: HeaderMapping, schema: pa.Schema, limit: int) -> Iterator[pa.Table]:
    """The raw rows in tables of about `limit` bytes (one row group each): Arrow's blocks are
    small so its read-ahead stays small; Parquet wants fewer, larger row groups."""
    gathered: list[pa.Table] = []
    size = 0
    for batch in batches:
        gathered.append(_raw_rows(batch, mapping, schema))
        size += batch.nbytes
        if size >= limit:
            yield pa.concat_tables(gathered)
            gathered, size = [], 0
    if gathered:
        yield pa.concat_tables(gathered)


def raw_schema(resource: Resource, mapping: HeaderMapping) -> pa.Schema:
    """`_row`, `_line`, the mapped items (text, catalog order), the unmapped columns, the problem columns."""
    mapped = set(mapping.columns.values())
    fields = [pa.field("_row", pa.int64()), pa.field("_line", pa.int64())]
    fields += [pa.field(i.code, pa.string()) for i in resource.source_items if i.code in mapped]
    fields += [pa.field(f"_unmapped_{i + 1}", pa.string()) for i in mapping.unknown]
    fields += [pa.field(name, pa.string()) for name in PROBLEM_COLUMNS]
    return pa.schema(fields)


def _raw_rows(batch: pa.RecordBatch, mapping: HeaderMapping, schema: pa.Schema) -> pa.Table:
    by_code = {code: batch.column(i) for i, code in mapping.columns.items()}
    by_code |= {f"_unmapped_{i + 1}": batch.column(i) for i in mapping.unknown}
    by_code |= {"_row": batch.column("_row"), "_line": batch.column("_line")}
    n = batch.num_rows
    arrays = [by_code[f.name] if f.name in by_code else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _problem_rows(problems: Sequence[RowProblem], schema: pa.Schema) -> pa.Table:
    values = {
        "_row": pa.array([p.row for p in problems], pa.int64()),
        "_line": pa.array([p.line for p in problems], pa.int64()),
        "_problem": pa.array([p.code for p in problems], pa.string()),
        "_problem_text": pa.array([p.text for p in problems], pa.string()),
        "_problem_params": pa.array([json.dumps(p.params, ensure_ascii=False) for p in problems], pa.string()),
        "_problem_cells": pa.array([None if p.cells is None else json.dumps(p.cells, ensure_ascii=False) for p in problems],
                                   pa.string()),
    }
    n = len(problems)
    return pa.Table.from_arrays([values.get(f.name, pa.nulls(n, f.type)) for f in schema], schema=schema)
