"""XLSX deliveries: the sheet a department meant, its header row and its rows, as text.

Spreadsheets arrive as people make them. This reader:

- checks the file as a zip archive before openpyxl opens anything: not a zip (a CSV or an old
  .xls renamed, random bytes, a truncated upload) or no `xl/workbook.xml` is `wrong-format`; more
  than `max_uncompressed_bytes()` uncompressed in all, or a member over 50 MB expanding more than
  200 times, is `zip-bomb`. Python's zipfile never inflates a member past its declared size (it
  fails the CRC instead), so checking the declared sizes bounds all later work;
- takes the sheet the catalog entry names (`sheet-not-found` when it is absent; a name differing
  only by spaces, width or case is accepted), or, when none is named, the first visible sheet
  whose header names most of the resource's labels (merged cells not considered), else the first
  visible sheet with rows;
- takes as the header the row, among the first 30 non-empty rows, naming most of the labels
  (`hints`); titles, unit lines and blank rows above it are skipped. An empty header cell covered
  by a merged range takes the range's text when that text is a label not already in the header:
  the usual case is "检查编号" merged down beside a group title ("监测数据") whose lower row
  names the items;
- renders each cell as the text a person sees; numbers stored as text stay text; numbers in a
  date (D) or date-time (T) column are Excel date serials and become dates;
- keeps hidden rows and columns: they are rows the department sent. `hidden_rows(stream)` says
  how many of the data rows were hidden.

openpyxl's read-only mode exposes neither merged ranges nor hidden rows. Both are found by one
streaming scan of the sheet's raw XML (`<mergeCell ref=...>`, `<row ... hidden="1">`), a byte
search that costs a small fraction of openpyxl's own parse and keeps memory flat, whatever the
size of the file; a second, non-read-only workbook would hold the whole sheet in memory.
Any other failure to open or read the file is refused as `wrong-format`; no raw exception escapes.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import weakref
import zipfile
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from common.errors import KcdataError
from common.problems import Refusal
from common.settings import read_settings
from connectors.headers import normalise_header
from connectors.readers import BATCH_ROWS, TextStream, numbered

BOMB_RATIO = 200  # a member expanding more than this many times...
BOMB_MEMBER_BYTES = 50 << 20  # ...to more than this is a zip bomb
HEADER_SEARCH_ROWS = 30  # non-empty rows looked at to find the header
DATE_TYPES = frozenset({"D", "T"})  # item types whose numeric cells are Excel date serials

Hints = Mapping[str, str] | Set[str]  # normalised header label -> item type letter, or labels only

_MB = 1 << 20
_SCAN_CHUNK = 1 << 20
_SCAN_OVERLAP = 4096  # longer than any <row> or <mergeCell> start tag
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LAST_SERIAL = 2958466  # 9999-12-31 is serial 2958465
_HIDDEN = re.compile(rb'hidden="(?:1|true)"')
_ROW_TAG = re.compile(rb"(?:[A-Za-z_][\w.-]*:)?row")
_ROW_CLOSE = re.compile(rb"\s*</")
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
_MERGE = re.compile(rb'mergeCell\b[^>]{0,256}?\bref="([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?"')
_NOTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # stream.batches -> notes of read_xlsx


def _names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


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


def serial_text(value: int | float, epoch: dt.datetime | None = None) -> str | None:
    """An Excel date serial as `YYYY-MM-DD` (or `YYYY-MM-DD HH:MM:SS` with a time part).

    1900 date system by default (serial 1 = 1900-01-01; Excel counts a 1900-02-29 that never
    was, so serials from 61 on are one day late, which `from_excel` undoes); the workbook's own
    epoch when it uses the 1904 system. A number that is no date (below 1, the phantom
    1900-02-29 = 60, past 9999-12-31) stays the number, for validation to report."""
    from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel

    epoch = epoch or WINDOWS_EPOCH
    windows = epoch == WINDOWS_EPOCH
    if not (1 <= value < _LAST_SERIAL) or (windows and value == 60):
        return cell_text(value)
    try:
        moment = from_excel(value, epoch)
        if moment.microsecond:  # round to the second Excel shows
            moment = (moment + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    except (OverflowError, ValueError):
        return cell_text(value)
    return cell_text(moment)


def max_uncompressed_bytes() -> int:
    """The limit on a workbook's inflated size, all members together: KCDATA_XLSX_MAX_BYTES (1 GiB)."""
    return read_settings().xlsx_max_bytes


# --------------------------------------------------------------------------- the stream


def read_xlsx(path: Path, sheet: str | None = None, hints: Hints | None = None) -> TextStream:
    """The header and data rows of the sheet the department meant (see the module docstring).

    `sheet` is the catalog entry's sheet name; `hints` the normalised header labels the
    resource knows, as a set or as a mapping label -> item type letter (C, N, I, D, T, L),
    which also tells which columns hold dates."""
    source = str(path)
    limit = max_uncompressed_bytes()
    _check_zip(path, limit)
    hints = hints or {}
    from openpyxl import load_workbook

    wb = None
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        chosen = _choose_sheet(wb, sheet, hints, source)
        if not chosen.peek:
            raise Refusal(source, "empty-file")
        return sheet_stream(source, wb, chosen, _scan_layout(path, chosen), hints)
    except Exception as exc:
        if wb is not None:
            wb.close()
        if isinstance(exc, (KcdataError, MemoryError)):
            raise
        raise _unreadable(source, exc) from exc


def sheet_stream(source: str, wb: Any, chosen: _Sheet, layout: _Layout, hints: Hints) -> TextStream:
    """The stream of the chosen sheet from its header row on; `wb` (anything with `close()` and
    `epoch`) is closed when the rows run out. Shared with the Excel 97-2003 reader (xls.py)."""
    at, headers = _choose_header(chosen.peek, hints, layout.merges)
    header_line = chosen.peek[at][0]
    width = len(headers)
    dates = _date_columns(headers, hints)
    pending = chosen.peek[at + 1:]
    batches = _batches(source, wb, chosen.rows, pending, width, dates, wb.epoch)
    _NOTES[batches] = {
        "sheet": chosen.ws.title,
        "header_line": header_line,
        "hidden_rows": layout.hidden_after(header_line),
    }
    return TextStream(headers=headers, batches=batches, encoding=None)


def notes(stream: TextStream) -> dict:
    """What read_xlsx noticed about the stream's sheet: `sheet`, `header_line`, `hidden_rows`.

    Empty for a stream read_xlsx did not make."""
    return dict(_NOTES.get(stream.batches, {}))


def hidden_rows(stream: TextStream) -> int | None:
    """How many of the stream's data rows were hidden in Excel (they are kept); None if not XLSX."""
    return notes(stream).get("hidden_rows")


def _unreadable(source: str, exc: BaseException) -> Refusal:
    detail = f"{type(exc).__name__}: {str(exc)[:200]}".rstrip(": ")
    return Refusal(source, "wrong-format", format="XLSX", detail=detail)


def _batches(
    source: str, wb: Any, rows: Iterator[tuple[int, tuple[Any, ...]]], pending: list[tuple[int, tuple[Any, ...]]], width: int,
    dates: frozenset[int], epoch: dt.datetime,
) -> Iterator[pa.RecordBatch]:
    """Record batches of BATCH_ROWS data rows; `_line` is the sheet's own row number."""
    names = _names(width)
    buffer: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    first = 1
    try:
        for line, row in _chain(pending, rows):
            if _blank(row):
                continue  # Excel keeps formatting-only rows; they hold no data
            for i, text in enumerate(_texts(row, width, dates, epoch)):
                buffer[i].append(text)
            lines.append(line)
            if len(lines) == BATCH_ROWS:
                yield numbered([pa.array(col, pa.string()) for col in buffer], names, first, pa.array(lines, pa.int64()))
                first += len(lines)
                buffer, lines = [[] for _ in range(width)], []
        if lines:
            yield numbered([pa.array(col, pa.string()) for col in buffer], names, first, pa.array(lines, pa.int64()))
    except (KcdataError, MemoryError):
        raise
    except Exception as exc:  # a damaged member, a cell openpyxl cannot parse...
        raise _unreadable(source, exc) from exc
    finally:
        wb.close()


def _chain(pending: list, rows: Iterator) -> Iterator:
    yield from pending
    yield from rows


def _blank(row: tuple) -> bool:
    return all(v is None or v == "" for v in row)


def _texts(row: tuple[Any, ...], width: int, dates: frozenset[int], epoch: dt.datetime) -> list[str | None]:
    """The row's first `width` cells as text; numbers in date columns as dates."""
    out: list[str | None] = [None] * width
    for i, value in enumerate(row[:width]):
        kind = type(value)
        if kind is str:
            out[i] = value or None
        elif value is None:
            continue
        elif i in dates and (kind is int or kind is float):
            out[i] = _serial_text(value, epoch)
        else:
            out[i] = cell_text(value)
    return out


@functools.lru_cache(maxsize=1 << 16)
def _serial_text(value: int | float, epoch: dt.datetime) -> str | None:
    return serial_text(value, epoch)  # a column of dates repeats the same few serials


def _date_columns(headers: list[str], hints: Hints) -> frozenset[int]:
    if not isinstance(hints, Mapping):
        return frozenset()
    kinds = {label: str(getattr(kind, "value", kind)) for label, kind in hints.items()}
    return frozenset(i for i, h in enumerate(headers) if h and kinds.get(normalise_header(h)) in DATE_TYPES)


# --------------------------------------------------------------------------- the zip archive


def _check_zip(path: Path, limit: int) -> None:
    """Refuse what is not an XLSX archive, or would inflate beyond reason, before anything reads it."""
    source = str(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise Refusal(source, "not-a-regular-file", detail=f"{type(exc).__name__}: {exc}") from exc
    if not head:
        raise Refusal(source, "empty-file")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise Refusal(source, "wrong-format", format="XLSX", detail=_not_zip_detail(head)) from exc
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise Refusal(source, "wrong-format", format="XLSX", detail=_other_zip_detail(names))
    total = sum(i.file_size for i in infos)
    if total > limit:
        raise Refusal(source, "zip-bomb", detail=f"{_mb(total)} MB uncompressed from {_mb(path.stat().st_size)} MB")
    for i in infos:
        if i.file_size > BOMB_MEMBER_BYTES and i.file_size > BOMB_RATIO * i.compress_size:
            raise Refusal(source, "zip-bomb", detail=f"{_mb(i.file_size)} MB uncompressed from {_mb(i.compress_size)} MB")


def _not_zip_detail(head: bytes) -> str:
    if head.startswith(_OLE2):
        return "an Excel 97-2003 (.xls) or password-protected workbook; save it as .xlsx without a password"
    if head.startswith(b"PK"):
        return "the zip archive is damaged or incomplete (cut short in transfer?)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "plain text, not a workbook (a CSV file renamed .xlsx?)"
        except UnicodeDecodeError:
            pass
        try:
            head.decode("gb18030")
            return "plain text, not a workbook (a CSV file renamed .xlsx?)"
        except UnicodeDecodeError:
            pass
    return "not a zip archive, as every .xlsx file is"


def _other_zip_detail(names: set[str]) -> str:
    if "xl/workbook.bin" in names:
        return "an Excel binary workbook (.xlsb); save it as .xlsx"
    if "content.xml" in names and "mimetype" in names:
        return "an OpenDocument file (.ods?); save it as .xlsx"
    if "word/document.xml" in names:
        return "a Word document, not a workbook"
    return "a zip archive without xl/workbook.xml, not a workbook"


def _mb(size: int) -> str:
    mb = size / _MB
    return f"{mb:,.0f}" if mb >= 10 else f"{mb:.2f}"


# --------------------------------------------------------------------------- the sheet


@dataclass
class _Sheet:
    """A worksheet with its first non-empty rows read; `rows` goes on where `peek` stops."""

    ws: Any  # an openpyxl worksheet, or an .xls sheet dressed as one (connectors/readers/xls.py)
    rows: Iterator[tuple[int, tuple]]
    peek: list[tuple[int, tuple]]
    score: int = 0


def _open_sheet(ws: Any) -> _Sheet:
    ws.reset_dimensions()  # some writers store a wrong <dimension>; read-only mode would cut rows
    rows = enumerate(ws.iter_rows(values_only=True), start=1)
    peek: list[tuple[int, tuple]] = []
    for line, row in rows:
        if not _blank(row):
            peek.append((line, row))
            if len(peek) == HEADER_SEARCH_ROWS:
                break
    return _Sheet(ws, rows, peek)


def _choose_sheet(wb: Any, sheet: str | None, hints: Hints, source: str) -> _Sheet:
    sheets = wb.worksheets
    if sheet:
        ws = _named(sheets, sheet)
        if ws is None:
            raise Refusal(source, "sheet-not-found", sheet=sheet, sheets=[s.title for s in sheets])
        return _open_sheet(ws)
    visible = [s for s in sheets if s.sheet_state == "visible"] or sheets
    if not visible:
        raise Refusal(source, "empty-file")
    if len(visible) == 1:
        return _open_sheet(visible[0])
    best: _Sheet | None = None
    for ws in visible:
        candidate = _open_sheet(ws)
        candidate.score = max((_score(_row_texts(row), hints) for _, row in candidate.peek), default=-1)
        if best is None or candidate.score > best.score:
            best = candidate
    assert best is not None, "two or more visible sheets were scored"
    return best


def _named(sheets: list[Any], name: str) -> Any:
    """The sheet called `name`; else the one sheet whose name differs only by width, case or spaces."""
    for ws in sheets:
        if ws.title == name:
            return ws
    near = [ws for ws in sheets if normalise_header(ws.title) == normalise_header(name)]
    return near[0] if len(near) == 1 else None


# --------------------------------------------------------------------------- the header


def _row_texts(row: tuple) -> list[str]:
    return [cell_text(v) or "" for v in row]


def _score(texts: list[str], hints: Hints) -> int:
    """How many distinct known labels the row names."""
    return len({n for n in (normalise_header(t) for t in texts if t) if n in hints})


def _choose_header(peek: list[tuple[int, tuple]], hints: Hints, merges: list[tuple[int, int, int, int]]) -> tuple[int, list[str]]:
    """The index in `peek` of the header row and its texts: the row naming most labels, else the first."""
    texts_at = {line: _row_texts(row) for line, row in peek}
    best, best_texts, best_score = 0, texts_at[peek[0][0]], 0
    if hints:
        for at, (line, _) in enumerate(peek):
            texts = _fill_merged(texts_at, line, merges, hints)
            score = _score(texts, hints)
            if score > best_score:
                best, best_texts, best_score = at, texts, score
    while best_texts and best_texts[-1] == "":
        best_texts = best_texts[:-1]
    return best, best_texts


def _fill_merged(texts_at: dict[int, list[str]], line: int, merges: list[tuple[int, int, int, int]], hints: Hints) -> list[str]:
    """Row `line`'s texts, with an empty cell inside a merged range taking the range's text when
    that text is a known label the row does not name yet (a duplicate would make the header
    ambiguous); other empty cells stay empty."""
    texts = list(texts_at[line])
    covering = [m for m in merges if m[0] <= line <= m[2]]
    if not covering:
        return texts
    width = max(len(texts), max(m[3] for m in covering))
    texts += [""] * (width - len(texts))
    named = {normalise_header(t) for t in texts if t}
    for r1, c1, _, c2 in sorted(covering, key=lambda m: m[1]):
        above = texts_at.get(r1, [])
        label = above[c1 - 1] if c1 - 1 < len(above) else ""
        key = normalise_header(label) if label else ""
        if not key or key not in hints or key in named:
            continue
        for col in range(c1, c2 + 1):
            if texts[col - 1] == "" and (r1, c1) != (line, col):
                texts[col - 1] = label
                named.add(key)
                break
    return texts


# --------------------------------------------------------------------------- merged ranges and hidden rows


@dataclass
class _Layout:
    """What the sheet XML says that read-only openpyxl does not: merges near the top, hidden rows."""

    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # (min_row, min_col, max_row, max_col)
    hidden_top: set[int] = field(default_factory=set)  # hidden rows with cells, among the rows looked at
    hidden_below: int = 0  # hidden rows with cells below them (or without a row number)

    def hidden_after(self, line: int) -> int:
        return self.hidden_below + sum(1 for r in self.hidden_top if r > line)


def _scan_layout(path: Path, chosen: _Sheet) -> _Layout:
    """One streaming pass over the chosen sheet's XML; nothing kept but the few facts above."""
    member = str(getattr(chosen.ws, "_worksheet_path", "") or "").lstrip("/")
    layout = _Layout()
    if not member or not chosen.peek:
        return layout
    top = chosen.peek[-1][0]
    with zipfile.ZipFile(path) as zf, zf.open(member) as src:
        tail, lo = b"", 0
        while True:
            chunk = src.read(_SCAN_CHUNK)
            buf = tail + chunk
            hi = len(buf) if not chunk else len(buf) - _SCAN_OVERLAP
            if hi > lo:
                _scan(buf, lo, hi, top, layout)
                keep = max(0, hi - _SCAN_OVERLAP)
                tail, lo = buf[keep:], hi - keep
            else:
                tail = buf
            if not chunk:
                return layout


def _scan(buf: bytes, lo: int, hi: int, top: int, layout: _Layout) -> None:
    """Record the hidden rows and the merges near the top whose text starts in buf[lo:hi]."""
    for m in _HIDDEN.finditer(buf, lo, min(len(buf), hi + _SCAN_OVERLAP)):
        if m.start() >= hi:
            break
        start = buf.rfind(b"<", max(0, m.start() - _SCAN_OVERLAP), m.start())
        end = buf.find(b">", m.end())
        tag = buf[start + 1:m.start()].split(None, 1) if start >= 0 else []
        if not tag or end < 0 or not _ROW_TAG.fullmatch(tag[0]):
            continue  # a hidden column, sheet or shape: not a row
        if buf[end - 1:end] == b"/" or _ROW_CLOSE.match(buf, end + 1):
            continue  # an empty row that is only formatting
        number = _ROW_NUMBER.search(buf, start, end)
        if number and int(number.group(1)) <= top:
            layout.hidden_top.add(int(number.group(1)))
        else:
            layout.hidden_below += 1
    for m in _MERGE.finditer(buf, lo, min(len(buf), hi + _SCAN_OVERLAP)):
        if m.start() >= hi:
            break
        if buf[m.start() - 1:m.start()] not in (b"<", b":"):
            continue
        c1, r1 = _column(m.group(1)), int(m.group(2))
        c2, r2 = (_column(m.group(3)), int(m.group(4))) if m.group(3) else (c1, r1)
        if r1 <= top:
            layout.merges.append((r1, c1, r2, c2))


def _column(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n
