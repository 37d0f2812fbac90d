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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from catalog.model import Source, SourceFormat
from common.problems import Refusal
from common.settings import read_settings

BATCH_ROWS = 100_000
SHOWN_TEXT = 500  # characters of a broken row kept for the department to recognise it
SHOWN_CELLS = 200  # fields of a ragged row kept
MIN_CHUNK_BYTES = 1 << 20


def chunk_bytes() -> int:
    """Bytes of rows landed as one unit (one raw row group); landing memory is a few of these,
    whatever the size of the file. Set by KCDATA_LAND_CHUNK_BYTES (at least 1 MiB)."""
    return max(MIN_CHUNK_BYTES, read_settings().land_chunk_bytes)


@dataclass(frozen=True)
class RowProblem:
    """A row the reader could not parse; it still counts as a row sent."""

    row: int  # data row number (1 = the first row after the header)
    line: int | None  # physical line in the file where the row starts, when known
    code: str  # a code of common.problems (ragged-row, bad-quoting, bad-encoding, oversized-field)
    text: str  # the row as sent, truncated to SHOWN_TEXT characters
    params: dict = field(default_factory=dict)
    # A ragged row's fields as parsed (each truncated like `text`), for feedback that shows its cells.
    cells: tuple[str, ...] | None = None


@dataclass
class TextStream:
    """The header row and the data rows of one file, as text.

    `batches` yields record batches whose columns are named c0..cN (all pa.string()) plus
    `_row` (int64, data row number) and `_line` (int64 or null); rows that could not be parsed
    are left out of the batches and appended to `problems` as the stream is consumed.

    `diagnose`, given the resource's normalised header labels, is asked when the header lacks a
    required column: a reader may know the better reason (another separator, records wrapped
    in an object, a first line that is no header at all) and returns that refusal, or None."""

    headers: list[str]
    batches: Iterator[pa.RecordBatch]
    encoding: str | None
    problems: list[RowProblem] = field(default_factory=list)
    diagnose: Callable[[set[str]], Refusal | None] | None = None


def shown(text: str) -> str:
    """The raw text of a broken row, short enough to display."""
    return text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "…"


def shown_cells(fields: list[str]) -> tuple[str, ...]:
    """A ragged row's fields, each short enough to display, at most SHOWN_CELLS of them."""
    return tuple(shown(f) for f in fields[:SHOWN_CELLS])


def open_text_stream(path: Path, fmt: SourceFormat, source: Source | None = None, hints: dict[str, str] | None = None) -> TextStream:
    """Open `path` in the reader for its format, with the entry's `source` settings (sheet,
    delimiter, records_path). `hints` maps the resource's normalised header labels to item type
    letters: spreadsheets use them to find the header row and date columns."""
    source = source or Source(format=fmt)
    if fmt is SourceFormat.csv:
        from connectors.readers.csv import read_csv

        return read_csv(path, delimiter=source.delimiter)
    if fmt is SourceFormat.xlsx:
        return _spreadsheet(path, source.sheet, hints)
    from connectors.readers.json import read_json

    return read_json(path, source.records_path)


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of Excel 97-2003 (.xls) and Word 97-2003 files


def _spreadsheet(path: Path, sheet: str | None, hints: dict[str, str] | None) -> TextStream:
    """An .xlsx workbook (a zip), or an Excel 97-2003 one (OLE2), told apart by their bytes, not
    their names: a renamed file is read as what it is."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(OLE2) or (path.suffix.lower() == ".xls" and not head.startswith(b"PK")):
        from connectors.readers.xls import read_xls

        return read_xls(path, sheet, hints)
    from connectors.readers.xlsx import read_xlsx

    return read_xlsx(path, sheet, hints)


def binary_kind(head: bytes) -> str | None:
    """What a file that is not text seems to be, from its first bytes, for a refusal to say."""
    kinds = (
        (b"PK\x03\x04", "a zip archive (an .xlsx workbook?)"),
        (OLE2, "an Excel 97-2003 workbook or another Office 97-2003 document"),
        (b"%PDF", "a PDF document"),
        (b"\x1f\x8b", "a gzip archive"),
    )
    return next((label for magic, label in kinds if head.startswith(magic)), None)


def numbered(columns: list[pa.Array], names: list[str], first_row: int, lines: pa.Array | None = None) -> pa.RecordBatch:
    """A record batch of text columns with `_row` (first_row, first_row+1, ...) and `_line`."""
    n = len(columns[0]) if columns else 0
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    line = lines if lines is not None else pa.nulls(n, pa.int64())
    return pa.record_batch([*columns, rows, line], names=[*names, "_row", "_line"])
