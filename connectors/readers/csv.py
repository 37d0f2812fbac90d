"""CSV deliveries, in two passes only when needed.

The fast path streams the file through Arrow's CSV reader (all text, in blocks of
`chunk_bytes()`/32, so memory follows the chunk, never the file; GB18030 is transcoded block by
block); a row with the wrong number of fields is set aside by Arrow's invalid-row handler and
the other rows flow on. Anything Arrow cannot get past (bytes that are not valid in the file's
encoding, a quote that never closes, a field larger than a block) raises `CarefulReadNeeded`; the connector then
reads the file again on the careful path, line by line in Python, where each such problem costs
only its own row. Good files never pay for the careful path.
"""
from __future__ import annotations

import csv as stdcsv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa

from common.problems import Refusal, excerpt
from connectors.readers import BATCH_ROWS, RowProblem, TextStream, binary_kind, chunk_bytes, shown, shown_cells

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from pyarrow import csv

FIELD_LIMIT = 1 << 20  # characters in one field; a larger one makes its row `oversized-field`
OPEN_QUOTE_LINES = 1_000  # a quoted value running over more lines than this is a broken quote
_HEAD_BYTES = 1 << 20
SEPARATORS = (",", ";", "\t", "|")  # what departments' tools write between fields
HEADER_CHARS = 200  # a "column name" longer than this means the first line is no header row


class CarefulReadNeeded(Exception):
    """The fast path met something only the careful path can isolate to its rows."""


def read_csv(path: Path, careful: bool = False, delimiter: str = ",") -> TextStream:
    """The header and the rows of a CSV file whose fields are separated by `delimiter` (see the
    module docstring for the two paths)."""
    encoding = _encoding(path)
    headers, line = _header(path, encoding, delimiter)
    problems: list[RowProblem] = []
    if careful:
        batches = _careful_batches(path, encoding, len(headers), problems, delimiter)
    else:
        batches = _fast_batches(path, encoding, len(headers), problems, delimiter)
    return TextStream(headers, batches, encoding, problems, diagnose=_diagnosis(str(path), headers, line, delimiter))


def _encoding(path: Path) -> str:
    from connectors.encoding import detect_encoding

    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if not head.strip():
        raise Refusal(str(path), "empty-file")
    if b"\x00" in head:
        kind = binary_kind(head)
        detail = f"it is {kind}, not text" if kind else "binary data (NUL bytes), not text"
        raise Refusal(str(path), "wrong-format", format="CSV", detail=f"{detail}; a CSV file is text, one row per line")
    try:
        return detect_encoding(path)
    except UnicodeError as exc:
        kind = binary_kind(head)
        detail = f"it is {kind}" if kind else "its bytes are not text in any known encoding"
        raise Refusal(str(path), "unreadable-encoding", detail=f"{detail}; a CSV file is text (UTF-8 or GB18030)") from exc


def _header(path: Path, encoding: str, delimiter: str) -> tuple[list[str], str]:
    """The first record, parsed as CSV (any line ending: LF, CRLF or the old Mac's CR), and the line."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    first = next(_physical_lines(io.BytesIO(head)), b"")
    try:
        text = first.decode(encoding).lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise Refusal(str(path), "unreadable-encoding", detail=f"the header line is not {encoding}") from exc
    try:
        headers = next(stdcsv.reader([text], delimiter=delimiter), [])
    except stdcsv.Error as exc:
        raise Refusal(str(path), "wrong-format", format="CSV", detail=f"the header line cannot be parsed ({exc})") from exc
    if not any(h.strip() for h in headers):
        raise Refusal(str(path), "empty-file")
    return headers, text


def separator_name(delimiter: str) -> str:
    """How a message (and a catalog entry) spells a separator: `';'`, or `tab`."""
    return "tab" if delimiter == "\t" else repr(delimiter)


def _diagnosis(source: str, headers: list[str], line: str, delimiter: str) -> Callable[[set[str]], Refusal | None]:
    """Why a header lacking required columns may not be a header problem at all (see TextStream)."""
    from connectors.headers import normalise_header

    def diagnose(labels: set[str]) -> Refusal | None:
        if any(normalise_header(h) in labels for h in headers):
            return None  # some columns are named as the entry says: a column is really missing
        found = _separator_used(line, delimiter, labels)
        if found is not None:
            return Refusal(source, "wrong-delimiter", found=separator_name(found), expected=separator_name(delimiter))
        if _garbled(line) or max(map(len, headers)) > HEADER_CHARS:
            return Refusal(source, "wrong-format", format="CSV",
                           detail=f"the first line is not a row of column names; it starts '{excerpt(line, 40)}'")
        return None

    return diagnose


def _garbled(line: str) -> bool:
    """Whether the line holds what no header row does: control characters, replaced or unassigned ones."""
    import unicodedata

    return any(c == "\ufffd" or (c != "\t" and unicodedata.category(c) in ("Cc", "Cn", "Co", "Cs")) for c in line)


def _separator_used(line: str, delimiter: str, labels: set[str]) -> str | None:
    """The separator that splits the header line into the most known column names, if not `delimiter`."""
    from connectors.headers import normalise_header

    def known(sep: str) -> int:
        return sum(normalise_header(h) in labels for h in next(stdcsv.reader([line], delimiter=sep), []))

    scores = {sep: known(sep) for sep in SEPARATORS if sep != delimiter and sep in line}
    best = max(scores, key=lambda sep: scores[sep], default=None)
    return best if best is not None and scores[best] > 0 else None


# --------------------------------------------------------------------------- fast path


class _Abortable(io.RawIOBase):
    """The file's bytes for Arrow's read-ahead thread, which calls back into Python to transcode
    them. `abort` makes it read an end of file, so the reader can be run dry before it is dropped:
    a process must not exit while that thread may still call Python (it aborts or hangs)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._fh = path.open("rb")
        self._aborted = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return b"" if self._aborted else self._fh.read(size)

    def readinto(self, buffer: WriteableBuffer) -> int:
        return 0 if self._aborted else self._fh.readinto(buffer)

    def abort(self) -> None:
        self._aborted = True

    def close(self) -> None:
        self._fh.close()
        super().close()


def _fast_batches(path: Path, encoding: str, width: int, problems: list[RowProblem], delimiter: str = ",") -> Iterator[pa.RecordBatch]:
    """Arrow's streaming reader over blocks of chunk_bytes()/32 (it reads up to 32 blocks ahead,
    so its read-ahead holds about one chunk); opened on first use, run dry and closed at the end."""
    from pyarrow import csv

    names = [f"c{i}" for i in range(width)]
    pending: list[RowProblem] = []  # set aside in the blocks parsed but not yet numbered

    def set_aside(row: csv.InvalidRow) -> str:
        if row.number is None:
            raise CarefulReadNeeded("row number unknown")
        if row.text and ("\n" in row.text or "\r" in row.text):
            raise CarefulReadNeeded("a quote may have swallowed the lines after it")
        data_row = row.number - 1  # Arrow counts the header as row 1
        text = row.text or ""
        code = "bad-quoting" if text.count('"') % 2 else "ragged-row"
        cells = _ragged_cells(text, delimiter) if code == "ragged-row" else None
        pending.append(RowProblem(data_row, None, code, shown(text), {"actual": row.actual_columns, "expected": row.expected_columns},
                                  cells))
        return "skip"

    utf8 = encoding in ("utf-8", "utf-8-sig")
    source = None if utf8 else _Abortable(path)  # UTF-8 is read natively, with no Python call-backs
    reader = None
    try:
        try:
            reader = csv.open_csv(
                path if source is None else source,
                read_options=csv.ReadOptions(
                    encoding="utf-8" if utf8 else encoding,
                    column_names=names, skip_rows=1, block_size=_block_bytes(), use_threads=False,
                ),
                convert_options=csv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""],
                ),
                parse_options=csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=set_aside),
            )
            next_row = 1
            for batch in reader:
                rows = _row_numbers(next_row, batch.num_rows, [p.row for p in pending])
                next_row = int(rows[-1]) + 1 if len(rows) else next_row
                problems.extend(p for p in pending if p.row < next_row)
                pending[:] = [p for p in pending if p.row >= next_row]
                numbered = pa.record_batch([*batch.columns, pa.array(rows), pa.nulls(batch.num_rows, pa.int64())],
                                           names=[*names, "_row", "_line"])
                yield _without_oversized(numbered, names, problems)
        except (pa.ArrowInvalid, UnicodeError) as exc:
            raise CarefulReadNeeded(str(exc)) from exc
        problems.extend(pending)
        problems.sort(key=lambda p: p.row)
    finally:
        _close(reader, source)


def _ragged_cells(text: str, delimiter: str = ",") -> tuple[str, ...] | None:
    """The fields of a ragged row Arrow set aside, split as the careful path splits a record."""
    try:
        rows = list(stdcsv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except stdcsv.Error:
        return None
    return shown_cells(rows[0]) if len(rows) == 1 else None


def _block_bytes() -> int:
    return max(64 << 10, chunk_bytes() // 32)


def _close(reader: csv.CSVStreamingReader, source: _Abortable | None) -> None:
    """Stop the read-ahead: make the source end, read what is already queued, close."""
    if source is not None:
        source.abort()
        if reader is not None:
            try:
                while True:
                    reader.read_next_batch()
            except StopIteration:
                pass
            except Exception:  # noqa: BLE001 - a block cut by the abort may not parse; it is dropped
                pass
    if reader is not None:
        reader.close()
    if source is not None:
        source.close()


def _without_oversized(batch: pa.RecordBatch, names: list[str], problems: list[RowProblem]) -> pa.RecordBatch:
    """Set aside the rows with a field longer than FIELD_LIMIT (vectorised: byte lengths first,
    which come from the offsets; characters are counted only in a column that may be over)."""
    import pyarrow.compute as pc

    suspects = [n for n in names if (pc.max(pc.binary_length(batch.column(n))).as_py() or 0) > FIELD_LIMIT]
    too_long = None
    for name in suspects:
        over = pc.fill_null(pc.greater(pc.utf8_length(batch.column(name)), FIELD_LIMIT), False)
        too_long = over if too_long is None else pc.or_(too_long, over)
    if too_long is None or not pc.any(too_long).as_py():
        return batch
    for row in batch.filter(too_long).to_pylist():
        text = ",".join(str(row[n] or "") for n in names)
        problems.append(RowProblem(row["_row"], None, "oversized-field", shown(text), {"limit": FIELD_LIMIT}))
    return batch.filter(pc.invert(too_long))


def _row_numbers(start: int, n: int, skipped_rows: list[int]) -> np.ndarray:
    """Data-row numbers of `n` parsed rows from `start` on, skipping the rows set aside."""
    skipped = np.array([r for r in skipped_rows if r >= start], dtype=np.int64)
    candidates = np.arange(start, start + n + len(skipped), dtype=np.int64)
    return np.setdiff1d(candidates, skipped, assume_unique=True)[:n]


# --------------------------------------------------------------------------- careful path


def _physical_lines(fh: BinaryIO, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Lines ending in LF, CRLF or a lone CR (the ending kept), read in chunks; a line of any
    length is scanned once."""
    buf = bytearray()
    scanned = 0
    while True:
        block = fh.read(chunk)
        buf += block
        start = 0
        while True:
            lf, cr = buf.find(b"\n", scanned), buf.find(b"\r", scanned)
            breaks = [b for b in (lf, cr) if b >= 0]
            if not breaks:
                scanned = len(buf)
                break
            i = min(breaks)
            if buf[i] == 13 and i + 1 == len(buf) and block:
                scanned = i  # a CR at the end of the chunk: an LF may follow
                break
            end = i + 2 if buf[i] == 13 and i + 1 < len(buf) and buf[i + 1] == 10 else i + 1
            yield bytes(buf[start:end])
            start = scanned = end
        del buf[:start]
        scanned -= start
        if not block:
            break
    if buf:
        yield bytes(buf)


def _records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(first line number, raw bytes) of each data record, following quotes over line ends."""
    with path.open("rb") as fh:
        lines = _physical_lines(fh)
        next(lines, None)  # the header
        pending: list[tuple[int, bytes]] = []
        for number, line in enumerate(lines, start=2):
            pending.append((number, line))
            yield from _complete(pending, final=False)
        yield from _complete(pending, final=True)


def _complete(pending: list[tuple[int, bytes]], final: bool) -> Iterator[tuple[int, bytes]]:
    """Take complete records off the front of `pending`. A quote left open past the end of the
    file, OPEN_QUOTE_LINES lines or 4 x FIELD_LIMIT bytes is broken: its first line becomes a
    record of its own (it will fail to parse) and the lines after it are read again."""
    while pending:
        text = b"".join(line for _, line in pending)
        if text.count(b'"') % 2 == 0:
            first = pending[0][0]
            pending.clear()
            yield first, text
            return
        if not (final or len(pending) > OPEN_QUOTE_LINES or len(text) > 4 * FIELD_LIMIT):
            return
        yield pending.pop(0)
        rest = pending[:]
        pending.clear()
        for item in rest:
            pending.append(item)
            yield from _complete(pending, final=False)


def _parse(number: int, raw: bytes, encoding: str, width: int, delimiter: str = ",") -> list[str | None] | RowProblem:
    """The fields of one record, or the problem that keeps it from parsing."""
    try:
        text = raw.decode("utf-8" if encoding == "utf-8-sig" else encoding).rstrip("\r\n")
    except UnicodeDecodeError:
        seen = raw.decode(encoding, errors="replace").rstrip("\r\n")
        return RowProblem(0, number, "bad-encoding", shown(seen), {"encoding": encoding})
    if len(text) > 4 * FIELD_LIMIT:
        return RowProblem(0, number, "oversized-field", shown(text), {"limit": FIELD_LIMIT})
    if text.count('"') % 2:
        return RowProblem(0, number, "bad-quoting", shown(text))
    try:
        rows = list(stdcsv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except stdcsv.Error as exc:
        code = "oversized-field" if "field larger" in str(exc) else "bad-quoting"
        return RowProblem(0, number, code, shown(text), {"limit": FIELD_LIMIT})
    if len(rows) != 1:
        return RowProblem(0, number, "bad-quoting", shown(text))
    fields = rows[0]
    if len(fields) != width:
        return RowProblem(0, number, "ragged-row", shown(text), {"actual": len(fields), "expected": width}, shown_cells(fields))
    return [f if f != "" else None for f in fields]


def _careful_batches(
    path: Path, encoding: str, width: int, problems: list[RowProblem], delimiter: str = ","
) -> Iterator[pa.RecordBatch]:
    stdcsv.field_size_limit(FIELD_LIMIT)
    names = [f"c{i}" for i in range(width)]
    columns: list[list[str | None]] = [[] for _ in range(width)]
    rows: list[int] = []
    lines: list[int] = []
    data_row = 0
    for number, raw in _records(path):
        if not raw.strip(b"\r\n \t"):
            continue  # blank lines are not rows (the fast path skips them too)
        data_row += 1
        parsed = _parse(number, raw, encoding, width, delimiter)
        if isinstance(parsed, RowProblem):
            problems.append(RowProblem(data_row, parsed.line, parsed.code, parsed.text, parsed.params, parsed.cells))
            continue
        for column, value in zip(columns, parsed, strict=True):
            column.append(value)
        rows.append(data_row)
        lines.append(number)
        if len(rows) == BATCH_ROWS:
            yield _batch(columns, names, rows, lines)
            columns, rows, lines = [[] for _ in range(width)], [], []
    if rows:
        yield _batch(columns, names, rows, lines)


def _batch(columns: list[list[str | None]], names: list[str], rows: list[int], lines: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(c, pa.string()) for c in columns]
    return pa.record_batch([*arrays, pa.array(rows, pa.int64()), pa.array(lines, pa.int64())], names=[*names, "_row", "_line"])
