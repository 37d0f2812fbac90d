"""Excel 97-2003 (.xls, BIFF) deliveries, read with xlrd into the same stream as .xlsx.

Many departments' systems still export .xls. xlrd reads the workbook; a thin adapter gives its
sheets the few methods the .xlsx reader uses, so both formats share one way of choosing the
sheet, finding the header row below titles and blank rows, reading a two-row header with a
merged group title, rendering cells as the text a person sees and turning date serials in date
columns into dates (xlsx.py). Hidden rows are kept and counted, as for .xlsx.

A BIFF sheet holds at most 65,536 rows and 256 columns, and xlrd holds the workbook in memory
while it is read (a 32 MB file of 65,535 rows by 20 columns peaks at about 650 MB), so a file
over `max_xls_bytes()` (64 MiB; KCDATA_XLS_MAX_BYTES) is refused as `too-large`. What is not
a readable .xls (a password-protected workbook, a Word file, an HTML page or plain text saved
with the .xls name, a damaged file) is refused as `wrong-format`, saying what it is and how to
send it instead.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.errors import KcdataError
from common.problems import Refusal
from common.settings import read_settings
from connectors.readers import TextStream
from connectors.readers.xlsx import Hints, _blank, _choose_sheet, _Layout, _Sheet, sheet_stream


def max_xls_bytes() -> int:
    """The largest .xls read (it is held in memory whole): KCDATA_XLS_MAX_BYTES (64 MiB)."""
    return read_settings().xls_max_bytes


def read_xls(path: Path, sheet: str | None = None, hints: Hints | None = None) -> TextStream:
    """The header and data rows of the sheet the department meant (see xlsx.read_xlsx)."""
    source = str(path)
    size, limit = path.stat().st_size, max_xls_bytes()
    if size > limit:
        mb = f"{limit / (1 << 20):,.1f} MB (for .xls; send .xlsx or CSV)"
        raise Refusal(source, "too-large", size=f"{size / (1 << 20):,.1f} MB", limit=mb)
    book = _open_book(path)
    try:
        chosen = _choose_sheet(book, sheet, hints or {}, source)
        if not chosen.peek:
            raise Refusal(source, "empty-file")
        return sheet_stream(source, book, chosen, _layout(chosen), hints or {})
    except Exception as exc:
        book.close()
        if isinstance(exc, (KcdataError, MemoryError)):
            raise
        raise Refusal(source, "wrong-format", format="XLS", detail=f"the workbook cannot be read ({type(exc).__name__})") from exc


def _open_book(path: Path) -> _Book:
    import xlrd

    try:
        return _Book(xlrd.open_workbook(str(path), formatting_info=True, on_demand=True))
    except MemoryError:
        raise
    except Exception as exc:  # xlrd raises its own errors, struct and index errors on what is no workbook
        raise Refusal(str(path), "wrong-format", format="XLS", detail=_not_a_workbook(path, exc)) from exc


def _not_a_workbook(path: Path, exc: Exception) -> str:
    """What a file named .xls that xlrd cannot open is, and how to send it instead."""
    said = str(exc).lower()
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if "encrypt" in said:
        return "a password-protected workbook; save it without a password (as .xlsx)"
    if "workbook in ole2" in said:
        return "an Office 97-2003 document holding no workbook (a Word file?)"
    if head[:1] == b"<":
        return "an HTML or XML page named .xls (a web system's export?), not a workbook; save it in Excel as .xlsx"
    if head and b"\x00" not in head:
        return "plain text named .xls, not a workbook (tab- or comma-separated?); send it as a .csv file"
    return "not an Excel 97-2003 workbook, or a damaged one; save it as .xlsx or CSV"


class _Book:
    """An xlrd workbook with the parts of an openpyxl one the .xlsx reader uses."""

    def __init__(self, book: Any) -> None:  # an xlrd Book
        from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

        self.book = book
        self.epoch = MAC_EPOCH if book.datemode == 1 else WINDOWS_EPOCH
        self.worksheets = [_XlsSheet(book, i) for i in range(book.nsheets)]

    def close(self) -> None:
        self.book.release_resources()


class _XlsSheet:
    """An xlrd sheet with the parts of a read-only openpyxl worksheet the .xlsx reader uses."""

    def __init__(self, book: Any, index: int) -> None:
        self.sheet = book.sheet_by_index(index)
        self.datemode = book.datemode
        self.title = self.sheet.name
        self.sheet_state = "visible" if self.sheet.visibility == 0 else "hidden"

    def reset_dimensions(self) -> None:
        """Nothing to reset: BIFF records say where each cell is."""

    def iter_rows(self, values_only: bool = True) -> Iterator[tuple]:
        for r in range(self.sheet.nrows):
            yield tuple(_value(cell, self.datemode) for cell in self.sheet.row(r))


def _value(cell: Any, datemode: int) -> object:  # an xlrd Cell
    """A cell as openpyxl gives it: None, text, a number, a bool, a date or time, an error text."""
    import xlrd

    kind, value = cell.ctype, cell.value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "#ERROR")
    if kind == xlrd.XL_CELL_DATE:
        return _date(value, datemode)
    return value


def _date(value: float, datemode: int) -> object:
    """A cell formatted as a date: a datetime, a time of day below serial 1; the number if no date."""
    import xlrd

    try:
        if 0 <= value < 1:
            return dt.time(*xlrd.xldate_as_tuple(value, datemode)[3:])
        return xlrd.xldate_as_datetime(value, datemode)
    except (xlrd.xldate.XLDateError, ValueError, OverflowError):
        return value  # a negative or impossible serial stays a number, for validation to report


def _layout(chosen: _Sheet) -> _Layout:
    """Merged ranges near the top and hidden rows with cells, as the .xlsx reader scans them from XML."""
    sheet = chosen.ws.sheet
    top = chosen.peek[-1][0]
    layout = _Layout()
    for r1, r2, c1, c2 in sheet.merged_cells:  # 0-based, ends excluded
        if r1 + 1 <= top:
            layout.merges.append((r1 + 1, c1 + 1, r2, c2))
    for r, info in sheet.rowinfo_map.items():
        if info.hidden and r < sheet.nrows and not _blank(tuple(sheet.row_values(r))):
            if r + 1 <= top:
                layout.hidden_top.add(r + 1)
            else:
                layout.hidden_below += 1
    return layout

