"""Read CSV, XLSX and JSON files as streams of all-text Arrow record batches.

Every cell arrives as text (or null) exactly as the department wrote it, so that type
coercion happens in one place (coerce.py) with per-row errors, whatever the file format.
"""
from __future__ import annotations

import csv as stdcsv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from catalog.model import SourceFormat
from common.errors import KcdataError

BATCH_ROWS = 100_000


@dataclass
class TextStream:
    """The header row and the data rows of one file, as text."""

    headers: list[str]
    batches: Iterator[pa.RecordBatch]  # columns named c0..cN, all pa.string()
    encoding: str | None


def open_text_stream(path: Path, fmt: SourceFormat, sheet: str | None = None) -> TextStream:
    """Open `path` in the reader for its format."""
    if fmt is SourceFormat.csv:
        return _csv(path)
    if fmt is SourceFormat.xlsx:
        return _xlsx(path, sheet)
    if fmt is SourceFormat.json:
        return _json(path)
    raise KcdataError(f"{path}: no reader for format {fmt}")


def _names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def _csv(path: Path) -> TextStream:
    from pyarrow import csv

    from connectors.encoding import detect_encoding

    encoding = detect_encoding(path)
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    with path.open("rb") as fh:
        first = fh.readline()
    header_text = first.decode(encoding).rstrip("\r\n")
    headers = next(stdcsv.reader([header_text]))
    names = _names(len(headers))
    reader = csv.open_csv(
        path,
        read_options=csv.ReadOptions(
            encoding=codec, column_names=names, skip_rows=1, block_size=8 << 20
        ),
        convert_options=csv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
        parse_options=csv.ParseOptions(newlines_in_values=True),
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield batch
        except pa.ArrowInvalid as exc:
            raise KcdataError(f"{path}: malformed CSV: {exc}") from exc

    return TextStream(headers=[h.lstrip("\ufeff") for h in headers], batches=batches(), encoding=encoding)


def cell_text(value: object) -> str | None:
    """Render a spreadsheet cell as the text a person sees, without inventing precision."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    text = str(value)
    return text if text != "" else None


def _xlsx(path: Path, sheet: str | None) -> TextStream:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    if sheet and sheet in wb.sheetnames:
        ws = wb[sheet]
    elif sheet and len(wb.sheetnames) > 1:
        raise KcdataError(f"{path}: no sheet named {sheet!r}; sheets are {wb.sheetnames}")
    else:
        ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    try:
        headers = [cell_text(v) or "" for v in next(rows)]
    except StopIteration:
        raise KcdataError(f"{path}: sheet {ws.title!r} is empty") from None
    while headers and headers[-1] == "":
        headers.pop()
    width = len(headers)
    names = _names(width)

    def batches() -> Iterator[pa.RecordBatch]:
        buffer: list[list[str | None]] = [[] for _ in range(width)]
        count = 0
        for row in rows:
            cells = list(row[:width]) + [None] * max(0, width - len(row))
            if all(c is None for c in cells):
                continue  # Excel keeps formatting-only rows; they hold no data
            for i, value in enumerate(cells):
                buffer[i].append(cell_text(value))
            count += 1
            if count == BATCH_ROWS:
                yield pa.record_batch([pa.array(col, pa.string()) for col in buffer], names=names)
                buffer, count = [[] for _ in range(width)], 0
        if count:
            yield pa.record_batch([pa.array(col, pa.string()) for col in buffer], names=names)
        wb.close()

    return TextStream(headers=headers, batches=batches(), encoding=None)


def _json(path: Path) -> TextStream:
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
        raise KcdataError(f"{path}: not a JSON array of objects or JSON lines: {exc}") from exc
    columns = ", ".join(f"'{k.replace(chr(39), chr(39) * 2)}': 'VARCHAR'" for k in keys)
    names = _names(len(keys))
    select = ", ".join(f'"{k.replace(chr(34), chr(34) * 2)}" AS {n}' for k, n in zip(keys, names, strict=True))
    reader = con.sql(
        f"SELECT {select} FROM read_json('{src}', format='auto', columns={{{columns}}})"
    ).to_arrow_reader(BATCH_ROWS)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield batch
        con.close()

    return TextStream(headers=keys, batches=batches(), encoding="utf-8")
