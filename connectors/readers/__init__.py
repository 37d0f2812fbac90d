"""Read CSV, XLSX and JSON deliveries as streams of all-text Arrow record batches.

Every cell arrives as text (or null) exactly as the department wrote it; typing happens later,
in one place, with per-cell problems. A reader:
- raises `common.problems.Refusal` when the whole file cannot be read (empty, wrong format,
  unreadable encoding, no such sheet, a zip bomb...), before any large allocation;
- yields the rows it can parse, and records each row it cannot parse as a `RowProblem` (its
  data-row number, its line in the file, a registered problem code, the raw text as sent), so
  the good rows still land and accepted + quarantined = rows sent.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from catalog.model import SourceFormat

BATCH_ROWS = 100_000
SHOWN_TEXT = 500  # characters of a broken row kept for the department to recognise it
CHUNK_ENV = "KCDATA_LAND_CHUNK_BYTES"
DEFAULT_CHUNK_BYTES = 32 << 20
MIN_CHUNK_BYTES = 1 << 20


def chunk_bytes() -> int:
    """Bytes of rows landed as one unit (one raw row group); landing memory is a few of these,
    whatever the size of the file. Set by KCDATA_LAND_CHUNK_BYTES (at least 1 MiB)."""
    return max(MIN_CHUNK_BYTES, int(os.environ.get(CHUNK_ENV) or DEFAULT_CHUNK_BYTES))


@dataclass(frozen=True)
class RowProblem:
    """A row the reader could not parse; it still counts as a row sent."""

    row: int  # data row number (1 = the first row after the header)
    line: int | None  # physical line in the file where the row starts, when known
    code: str  # a code of common.problems (ragged-row, bad-quoting, bad-encoding, oversized-field)
    text: str  # the row as sent, truncated to SHOWN_TEXT characters
    params: dict = field(default_factory=dict)


@dataclass
class TextStream:
    """The header row and the data rows of one file, as text.

    `batches` yields record batches whose columns are named c0..cN (all pa.string()) plus
    `_row` (int64, data row number) and `_line` (int64 or null); rows that could not be parsed
    are left out of the batches and appended to `problems` as the stream is consumed."""

    headers: list[str]
    batches: Iterator[pa.RecordBatch]
    encoding: str | None
    problems: list[RowProblem] = field(default_factory=list)


def shown(text: str) -> str:
    """The raw text of a broken row, short enough to display."""
    return text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "…"


def open_text_stream(path: Path, fmt: SourceFormat, sheet: str | None = None, hints: dict[str, str] | None = None) -> TextStream:
    """Open `path` in the reader for its format. `hints` maps the resource's normalised header
    labels to item type letters: spreadsheets use them to find the header row and date columns."""
    if fmt is SourceFormat.csv:
        from connectors.readers.csv import read_csv

        return read_csv(path)
    if fmt is SourceFormat.xlsx:
        from connectors.readers.xlsx import read_xlsx

        return read_xlsx(path, sheet, hints)
    from connectors.readers.json import read_json

    return read_json(path)


def numbered(columns: list[pa.Array], names: list[str], first_row: int, lines: pa.Array | None = None) -> pa.RecordBatch:
    """A record batch of text columns with `_row` (first_row, first_row+1, ...) and `_line`."""
    n = len(columns[0]) if columns else 0
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    line = lines if lines is not None else pa.nulls(n, pa.int64())
    return pa.record_batch([*columns, rows, line], names=[*names, "_row", "_line"])
