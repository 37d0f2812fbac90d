"""Write chunks of text columns as the file a department would send: CSV, XLSX or JSON.

Headers are the Chinese item names. CSV and JSON are built with pyarrow.compute one chunk at a
time and written as raw bytes, so memory stays bounded at 10 million rows. pyarrow.csv is not
used for CSV because its "needed" quoting quotes every text cell and "none" raises on commas;
departments' exports quote only the cells that need it (RFC 4180), as done here.
"""
from __future__ import annotations

import codecs
import json
import re
import shutil
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.model import ItemType, Resource, SourceFormat
from common.literals import DATE, DATETIME, INTEGER, NUMBER

XLSX_MAX_ROWS = 1_048_575  # 1,048,576 sheet rows minus the header
CSV_EOL = "\r\n"  # what Excel and most departmental exports write
_TRANSCODE_BYTES = 8 << 20
# A cell is written as a typed value exactly when coercion would accept its text (common/literals.py);
# anything else is written as the text sent, as a department's malformed export would be.
_INT_RE = re.compile(INTEGER)
_NUM_RE = re.compile(NUMBER)
_DATE_RE = re.compile(DATE)
_DATETIME_RE = re.compile(DATETIME)
_JSON_NUMBER = f"^(?:{NUMBER})$"
_LEADING_ZERO = r"^-?0[0-9]"  # 007 is a number to coercion but not to JSON: written as text


class SampleWriter(Protocol):
    def write(self, columns: list[pa.Array]) -> None: ...

    def close(self) -> None: ...


def extension(resource: Resource) -> str:
    return resource.source.format.value


def open_writer(resource: Resource, path: Path) -> SampleWriter:
    """The writer for the resource's source format, writing to `path` (a temporary name)."""
    if resource.source.format is SourceFormat.csv:
        return CsvWriter(resource, path)
    if resource.source.format is SourceFormat.xlsx:
        return XlsxWriter(resource, path)
    return JsonWriter(resource, path)


def _joined_bytes(lines: pa.Array) -> memoryview:
    """The concatenated UTF-8 of a null-free string array, straight from its data buffer."""
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if len(lines) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


class CsvWriter:
    """utf-8, utf-8-sig (BOM) or any Python codec such as gb18030, transcoded chunk by chunk."""

    def __init__(self, resource: Resource, path: Path) -> None:
        encoding = resource.source.encoding.lower()
        self._codec = None if encoding in ("auto", "utf-8", "utf8", "utf-8-sig") else codecs.lookup(encoding).name
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        if encoding == "utf-8-sig":
            self._file.write(codecs.BOM_UTF8)
        header = ",".join(_csv_quote(i.name) for i in resource.source_items) + CSV_EOL
        self._emit(memoryview(header.encode("utf-8")))

    def _emit(self, data: memoryview) -> None:
        if self._codec is None:
            self._file.write(data)
            return
        start = 0
        while start < len(data):  # transcode ~8 MB at a time, cut after a newline
            end = bytes(data[start : start + _TRANSCODE_BYTES]).rfind(b"\n") + start + 1
            end = len(data) if end <= start or start + _TRANSCODE_BYTES >= len(data) else end
            self._file.write(str(data[start:end], "utf-8").encode(self._codec))
            start = end

    def write(self, columns: list[pa.Array]) -> None:
        fields = [_csv_field(c) for c in columns]
        line = pc.binary_join_element_wise(*fields, ",")
        self._emit(_joined_bytes(pc.binary_join_element_wise(line, "", CSV_EOL)))

    def close(self) -> None:
        self._file.close()


def _csv_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if re.search(r'[",\r\n]', text) else text


def _csv_field(column: pa.Array) -> pa.Array:
    column = pc.fill_null(column, "")
    needs = pc.match_substring_regex(column, r'[",\r\n]')
    if not pc.any(needs).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, column)


class JsonWriter:
    """A UTF-8 JSON array of objects, one per line: numbers for valid N/I text, null for missing."""

    def __init__(self, resource: Resource, path: Path) -> None:
        self._items = resource.source_items
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(b"[")
        self._first = True

    def write(self, columns: list[pa.Array]) -> None:
        parts: list[pa.Array | str] = []
        for k, (item, column) in enumerate(zip(self._items, columns, strict=True)):
            key = json.dumps(item.name, ensure_ascii=False)
            parts += [("{" if k == 0 else ", ") + key + ": ", _json_values(column, item.type)]
        lines = pc.binary_join_element_wise(",\n", *parts, "}", "")
        data = _joined_bytes(lines)
        if self._first and len(data):
            data, self._first = data[1:], False  # the first object needs no comma
        self._file.write(data)

    def close(self) -> None:
        self._file.write(b"\n]\n")
        self._file.close()


def _json_values(column: pa.Array, kind: ItemType) -> pa.Array:
    text = pc.fill_null(column, "")
    if pc.any(pc.match_substring_regex(text, r"[\x00-\x08\x0b\x0c\x0e-\x1f]")).as_py():
        quoted = pa.array([json.dumps(v, ensure_ascii=False) for v in text.to_pylist()], pa.string())
    else:
        escaped = text
        for raw, esc in (("\\", "\\\\"), ('"', '\\"'), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            escaped = pc.replace_substring(escaped, raw, esc)
        quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    if kind in (ItemType.N, ItemType.I):
        bare = pc.and_(pc.match_substring_regex(text, _JSON_NUMBER), pc.invert(pc.match_substring_regex(text, _LEADING_ZERO)))
        quoted = pc.if_else(bare, text, quoted)
    return pc.if_else(pc.is_null(column), "null", quoted)


class XlsxWriter:
    """openpyxl write-only: numbers and dates as typed cells, anything malformed as the text sent.

    openpyxl stamps the current time into docProps/core.xml and every zip entry; both are pinned
    so the same arguments give the same bytes.
    """

    def __init__(self, resource: Resource, path: Path) -> None:
        from openpyxl import Workbook

        self._path = path
        self._types = [i.type for i in resource.source_items]
        self._book = Workbook(write_only=True)
        self._stamp = datetime.combine(resource.published_at, time(9, 0))
        self._book.properties.created = self._book.properties.modified = self._stamp
        self._book.properties.creator = resource.provider.name
        self._sheet = self._book.create_sheet(title=resource.source.sheet or "Sheet1")
        self._sheet.append([i.name for i in resource.source_items])

    def write(self, columns: list[pa.Array]) -> None:
        converters = [_CELL[t] for t in self._types]
        values = [c.to_pylist() for c in columns]
        for row in zip(*values, strict=True):
            self._sheet.append([None if v is None else f(v) for f, v in zip(converters, row, strict=True)])

    def close(self) -> None:
        from openpyxl.xml.functions import tostring

        raw = self._path.with_name(self._path.name + ".raw")
        try:
            self._book.save(raw)  # stamps properties.modified with the current time
            self._book.properties.modified = self._stamp
            _pin_zip(raw, self._path, {"docProps/core.xml": tostring(self._book.properties.to_tree())})
        finally:
            raw.unlink(missing_ok=True)


def _pin_zip(source: Path, target: Path, replace: dict[str, bytes]) -> None:
    """Copy a zip with every entry dated 1980-01-01 (and some replaced), so bytes depend on content only."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            pinned = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = 0o644 << 16
            if info.filename in replace:
                zout.writestr(pinned, replace[info.filename])
                continue
            with zin.open(info) as src, zout.open(pinned, "w", force_zip64=info.file_size > 2**31) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _as_int(v: str) -> Any:
    return int(v) if _INT_RE.fullmatch(v) else v


def _as_float(v: str) -> Any:
    return float(v) if _NUM_RE.fullmatch(v) else v


def _as_date(v: str) -> Any:
    try:
        return date.fromisoformat(v) if _DATE_RE.fullmatch(v) else v
    except ValueError:
        return v


def _as_datetime(v: str) -> Any:
    try:
        return datetime.fromisoformat(v) if _DATETIME_RE.fullmatch(v) else v
    except ValueError:
        return v


def _as_text(v: str) -> Any:
    return v


_CELL = {
    ItemType.I: _as_int,
    ItemType.N: _as_float,
    ItemType.D: _as_date,
    ItemType.T: _as_datetime,
    ItemType.C: _as_text,
    ItemType.L: _as_text,
}
