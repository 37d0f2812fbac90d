"""JSON deliveries, read by DuckDB as text: an array of objects, JSON lines, or, when the entry
names a `records_path` (`erDataList`, `data.items`), the list of objects at that path inside the
file's object (the way many systems export: `{"total": 3, "erDataList": [...]}`).

Arrays and JSON lines stream. A wrapped file is one JSON value, so DuckDB holds it whole while
reading it (about the file's size). A file that is no list of records where one is expected is
refused as `not-a-list-of-records`, naming where the file does hold lists of records, so the
catalog entry can say `records_path`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from common.problems import Refusal, excerpt
from common.sqltext import ident, literal
from connectors.readers import BATCH_ROWS, TextStream, binary_kind, numbered

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection
    from duckdb.sqltypes import DuckDBPyType

SUGGESTED_LISTS = 5  # paths of lists of records a refusal names
_SEARCH_DEPTH = 4  # how deep in an object lists of records are looked for
_SCALARS = {'"': "a text value", "t": "a true/false value", "f": "a true/false value", "n": "null"}


def _names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def read_json(path: Path, records_path: str = "") -> TextStream:
    """The records of a JSON delivery; their keys are the headers (in order of first appearance)."""
    import duckdb

    con = duckdb.connect()
    try:
        keys, query = _wrapped(con, path, records_path) if records_path else _top_level(con, path)
        reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
    except duckdb.Error as exc:
        con.close()
        raise _not_json(path, exc) from exc
    except BaseException:
        con.close()
        raise
    names = _names(len(keys))

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            first = 1
            for batch in reader:
                yield numbered(batch.columns, names, first)
                first += batch.num_rows
        finally:
            con.close()

    diagnose = None if records_path else (lambda labels: _diagnose(path))
    return TextStream(headers=keys, batches=batches(), encoding="utf-8", diagnose=diagnose)


def _read(path: Path, whole: bool = False, columns: str = "") -> str:
    """DuckDB's reader of the file; `whole` lets one JSON value be as large as the file (which
    costs a buffer that large, so only for a file that is one object)."""
    options = f", maximum_object_size={max(path.stat().st_size + 1, 16 << 20)}" if whole else ""
    options += f", columns={{{columns}}}" if columns else ", sample_size=-1"
    return f"read_json({literal(path)}, format='auto'{options})"


@dataclass(frozen=True)
class _Type:
    """A DuckDB type as plain data (DuckDB's own objects must not outlive their connection)."""

    id: str  # struct, list, varchar, bigint...
    text: str  # as DuckDB writes it: JSON, BIGINT[]...
    children: tuple[tuple[str, _Type], ...] = ()  # a struct's fields
    child: _Type | None = None  # a list's items

    @classmethod
    def of(cls, kind: DuckDBPyType) -> _Type:
        if kind.id == "struct":
            # a struct's children are types (a DECIMAL's are its width and scale)
            return cls(kind.id, str(kind), tuple((name, cls.of(t)) for name, t in kind.children))  # type: ignore[arg-type]
        return cls(kind.id, str(kind), child=cls.of(kind.child) if kind.id == "list" else None)


def _described(con: DuckDBPyConnection, path: Path, whole: bool = False) -> list[tuple[str, _Type]]:
    """The file's keys and their types, as DuckDB infers them from every value."""
    rel = con.sql(f"SELECT * FROM {_read(path, whole)}")
    return [(name, _Type.of(kind)) for name, kind in zip(rel.columns, rel.types, strict=True)]


# --------------------------------------------------------------------------- an array or JSON lines


def _top_level(con: DuckDBPyConnection, path: Path) -> tuple[list[str], str]:
    """The keys of an array of objects or of JSON lines, and the query giving their values as text."""
    try:
        keys = [name for name, _ in _described(con, path)]
    except Exception as exc:
        if "maximum_object_size" in str(exc) and _first_character(path) == "{":
            raise _one_object(con, path) from exc  # one value larger than a record ever is: a wrapper
        raise
    columns = ", ".join(f"{literal(k)}: 'VARCHAR'" for k in keys)
    select = ", ".join(f"{ident(k)} AS {n}" for k, n in zip(keys, _names(len(keys)), strict=True))
    return keys, f"SELECT {select} FROM {_read(path, columns=columns)}"


# --------------------------------------------------------------------------- records inside an object


def _wrapped(con: DuckDBPyConnection, path: Path, records_path: str) -> tuple[list[str], str]:
    """The keys of the records at `records_path` and the query giving their values as text;
    refused unless the file's object holds a list of objects there."""
    if _first_character(path) == "[":
        raise Refusal(str(path), "not-a-list-of-records", found=f"the file is a list, not an object holding one at {records_path}",
                      hint="; remove source.records_path from the catalog entry")
    top = _described(con, path, whole=True)
    kind = _at(top, records_path.split("."))
    parts = records_path.split(".")
    at = ".".join(ident(p) for p in parts)
    if kind is None or kind.id != "list":
        found = f"nothing at records_path {records_path} is a list of objects"
        raise Refusal(str(path), "not-a-list-of-records", found=found, hint=_suggestion(top))
    items = kind.child
    assert items is not None, "_Type.of gives every list the type of its items"
    if items.id != "struct":
        if not con.execute(f"SELECT coalesce(sum(len({at})), 0) FROM {_read(path, whole=True)}").fetchall()[0][0]:
            raise Refusal(str(path), "no-data-rows")
        found = f"the list at records_path {records_path} holds {_type_name(items)}, not objects"
        raise Refusal(str(path), "not-a-list-of-records", found=found, hint="")
    keys = [name for name, _ in items.children]
    record = "STRUCT(" + ", ".join(f"{ident(k)} VARCHAR" for k in keys) + ")[]"
    for part in reversed(parts[1:]):
        record = f"STRUCT({ident(part)} {record})"
    column = f"{literal(parts[0])}: {literal(record)}"
    select = ", ".join(f"s.{ident(k)} AS {n}" for k, n in zip(keys, _names(len(keys)), strict=True))
    return keys, f"SELECT {select} FROM (SELECT unnest({at}) AS s FROM {_read(path, whole=True, columns=column)})"


def _at(described: list[tuple[str, _Type]], parts: list[str]) -> _Type | None:
    """The DuckDB type at the dotted path `parts` of the file's object, or None."""
    children: Sequence[tuple[str, _Type]] = described
    kind = None
    for part in parts:
        kind = next((t for name, t in children if name == part), None)
        if kind is None:
            return None
        children = kind.children if kind.id == "struct" else []
    return kind


def record_lists(described: Sequence[tuple[str, _Type]], prefix: str = "", depth: int = 0) -> list[str]:
    """Dotted paths of the lists of objects in a described JSON object, the shallowest first."""
    found, deeper = [], []
    for name, kind in described:
        at = f"{prefix}.{name}" if prefix else name
        if kind.id == "list" and kind.child is not None and kind.child.id == "struct":
            found.append(at)
        elif kind.id == "struct" and depth + 1 < _SEARCH_DEPTH:
            deeper += record_lists(kind.children, at, depth + 1)
    return found + deeper


def _suggestion(described: list[tuple[str, _Type]]) -> str:
    """`; its list of records is at erDataList: declare source.records_path: erDataList`."""
    paths = record_lists(described)
    if not paths:
        return f"; its keys ({excerpt(', '.join(name for name, _ in described), 60)}) hold no list of records"
    shown = ", ".join(excerpt(p, 40) for p in paths[:SUGGESTED_LISTS])
    if len(paths) == 1:
        return f"; its list of records is at {shown}: declare source.records_path: {shown}"
    return f"; lists of records are at {shown}: declare source.records_path as one of them"


def _type_name(kind: _Type) -> str:
    name = {"struct": "objects", "list": "lists", "varchar": "text values", "boolean": "true/false values"}.get(kind.id, "numbers")
    return "JSON values of mixed kinds" if kind.text == "JSON" else name


# --------------------------------------------------------------------------- why the keys do not match


def _diagnose(path: Path) -> Refusal | None:
    """When the keys lack required items: a file that is one object holding lists of records, or
    that holds no objects at all, is not a list of records; None when keys are really missing."""
    import duckdb

    first = _first_character(path)
    if first not in "[{":
        kind = _SCALARS.get(first, "a number")
        return Refusal(str(path), "not-a-list-of-records", found=f"the top level is {kind}", hint=", not a list of objects")
    con = duckdb.connect()
    try:
        described = _described(con, path)
        if first == "[":
            if [name for name, _ in described] == ["json"] and described[0][1].id != "struct":
                if not _values(con, path, "array"):
                    return Refusal(str(path), "no-data-rows")
                found = f"a list of {_type_name(described[0][1])}"
                return Refusal(str(path), "not-a-list-of-records", found=found, hint=", not of objects")
            return None
        if not record_lists(described) or _values(con, path) > 1:
            return None  # records (JSON lines) whose keys are not the entry's
        return Refusal(str(path), "not-a-list-of-records", found="the top level is one object, not a list", hint=_suggestion(described))
    except duckdb.Error:
        return None
    finally:
        con.close()


def _one_object(con: DuckDBPyConnection, path: Path) -> Refusal:
    """A file that is one JSON object too large to be a record: say where its lists are."""
    described = _described(con, path, whole=True)
    return Refusal(str(path), "not-a-list-of-records", found="the top level is one large object, not a list", hint=_suggestion(described))


def _values(con: DuckDBPyConnection, path: Path, form: str = "unstructured") -> int:
    """How many JSON values the file holds (at the top level, or in its top-level array), up to 2."""
    values = f"read_json_objects({literal(path)}, format={literal(form)})"
    return con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {values} LIMIT 2)").fetchall()[0][0]


def _first_character(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("latin-1")


def _not_json(path: Path, exc: Exception) -> Refusal:
    """The file is no JSON at all: say what was expected, and what DuckDB's parser saw (short)."""
    with path.open("rb") as fh:
        kind = binary_kind(fh.read(16))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r'^[\w ]*Error:\s*|\s*in file "[^"]*"', "", first)  # DuckDB's prefix; the server's path
    seen = f"it is {kind}" if kind else excerpt(first, 70)
    return Refusal(str(path), "wrong-format", format="JSON", detail=f"expected an array of objects or JSON lines; {seen}")
