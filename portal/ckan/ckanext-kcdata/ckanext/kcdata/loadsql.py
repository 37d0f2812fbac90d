"""The SQL of the DataStore load, without CKAN: so the main venv's unit tests can check it.

data.csv is written for people (portal/files.py): text that a spreadsheet would run as a formula
has an apostrophe in front, and whole decimals are plain (3, not 3.0) only below 1e15. The
DataStore must hold the values as they are, so the rows COPYed into the staging table are read
back through `value_sql`: the apostrophe taken off again (except in the cells the publisher names
as beginning with one of their own) and the scale of whole numerics trimmed (as a JSON number would
have landed).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

# the same as common/formulas.py FORMULA_PREFIXES (a unit test keeps them equal)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ROW = "_kcdata_row"  # the staging table's row number: data rows counted from 1 in the file's order
# types whose JSON text (what CKAN's trigger indexes) is their plain text: cast, not sent through JSON
PLAIN_TEXT_TYPES = {"text", "character varying", "numeric", "integer", "bigint", "smallint", "real",
                    "double precision", "boolean"}


def quote_ident(name: str) -> str:
    """A double-quoted PostgreSQL identifier (as ckanext.datastore's `identifier`)."""
    return '"' + name.replace('"', '""').replace("\0", "") + '"'


def quote_literal(text: str) -> str:
    """A single-quoted PostgreSQL string (standard_conforming_strings on)."""
    return "'" + text.replace("'", "''").replace("\0", "") + "'"


def staging_name(table: str) -> str:
    """The load's staging table (unlogged, created and dropped inside the load's transaction)."""
    return f"{table}_kcdata_load"


def next_name(table: str) -> str:
    """The table a load builds beside the live one, renamed to it at the swap."""
    return f"{table}_kcdata_next"


def staging_sql(table: str, columns: list[str]) -> list[str]:
    """An unlogged table with the columns (and types) of the DataStore table, without its index,
    trigger or `_id`, plus the file's row number: COPY fills it fast, and, unlike a temporary table,
    PostgreSQL's parallel workers can read it."""
    names = ", ".join(quote_ident(c) for c in columns)
    staging = quote_ident(staging_name(table))
    return [f"CREATE UNLOGGED TABLE {staging} AS SELECT {names} FROM {quote_ident(table)} WITH NO DATA",
            f"ALTER TABLE {staging} ADD COLUMN {ROW} bigserial"]


def copy_sql(table: str, columns: list[str]) -> str:
    """COPY the CSV (header line skipped: it holds the Chinese names) into the table's columns, in order."""
    names = ", ".join(quote_ident(c) for c in columns)
    return f"COPY {quote_ident(table)} ({names}) FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')"


def _neutralised(column: str) -> str:
    """SQL: the cell is text the CSV writer prefixed with an apostrophe."""
    q = quote_ident(column)
    prefixes = ", ".join(f"chr({ord(p)})" for p in FORMULA_PREFIXES)
    return f"(left({q}, 1) = '''' AND substr({q}, 2, 1) IN ({prefixes}))"


def value_sql(column: str, kind: str, verbatim: Iterable[int] = ()) -> str:
    """SQL: the stored value of a staged cell. Text without the CSV's formula apostrophe, except in
    the `verbatim` rows (1-based, in file order) whose value itself begins with one; a whole numeric
    without a scale; anything else as COPY read it."""
    q = quote_ident(column)
    if kind == "text":
        cond = _neutralised(column)
        rows = sorted({int(r) for r in verbatim})
        if rows:
            cond = f"({cond} AND {ROW} NOT IN ({', '.join(str(r) for r in rows)}))"
        return f"CASE WHEN {cond} THEN substr({q}, 2) ELSE {q} END"
    if kind == "numeric":
        return f"CASE WHEN scale({q}) > 0 AND {q} = trunc({q}) THEN trim_scale({q}) ELSE {q} END"
    return q


def full_text_sql(columns: list[tuple[str, str]]) -> str:
    """SQL: the `_full_text` CKAN's row trigger would compute for a row of these (column, type)s
    (each value's JSON text, joined by spaces, as `json_each_text(row_to_json(...))` gives it),
    set-based. A type whose JSON text is its plain text is cast (4 s less at 1M rows than the round
    trip through JSON); the others (timestamps: ISO 8601 with a T) go through JSON."""
    values = ", ".join(f"{quote_ident(c)}::text" if kind in PLAIN_TEXT_TYPES else f"to_json({quote_ident(c)}) #>> '{{}}'"
                       for c, kind in columns)
    return f"to_tsvector(concat_ws(' ', {values}))"


def _repaired(table: str, columns: list[tuple[str, str]], verbatim: dict[str, list[int]]) -> str:
    """SQL: the staged rows with their stored values (and their row number)."""
    values = ", ".join(f"{value_sql(c, kind, verbatim.get(c, []))} AS {quote_ident(c)}" for c, kind in columns)
    return f"(SELECT {ROW}, {values} FROM {quote_ident(staging_name(table))}) AS staged"


def fill_sql(table: str, columns: list[tuple[str, str]], verbatim: dict[str, list[int]]) -> str:
    """Move the staged rows into the live DataStore table, in the file's order (`_id` counts on),
    with their full-text vectors (CKAN's trigger leaves a row whose vector is given as it is)."""
    names = ", ".join(quote_ident(c) for c, _ in columns)
    return (f'INSERT INTO {quote_ident(table)} ({names}, "_full_text") '
            f"SELECT {names}, {full_text_sql(columns)} FROM {_repaired(table, columns, verbatim)} ORDER BY {ROW}")


def build_sql(table: str, layout: list[tuple[str, str]], verbatim: dict[str, list[int]]) -> str:
    """The new table, built beside the live one in a statement PostgreSQL runs in parallel: the
    live table's columns in its order (`layout`: (column, type), `_id` and `_full_text` included),
    `_id` the row's number in the file."""
    columns = [(c, kind) for c, kind in layout if c not in ("_id", "_full_text")]
    select = []
    for c, kind in layout:
        if c == "_id":
            select.append(f"{ROW}::{'bigint' if kind == 'bigint' else 'integer'} AS \"_id\"")
        elif c == "_full_text":
            select.append(f'{full_text_sql(columns)} AS "_full_text"')
        else:
            select.append(quote_ident(c))
    return f"CREATE TABLE {quote_ident(next_name(table))} AS SELECT {', '.join(select)} FROM {_repaired(table, columns, verbatim)}"


def moved_definition(definition: str, on: str, new_on: str, name: str = "", new_name: str = "") -> str | None:
    """An index's or trigger's definition (pg_get_indexdef / pg_get_triggerdef) moved to the table
    `new_on` (and, for an index, renamed), or None when the names are not where PostgreSQL writes
    them (then the load keeps the table and fills it in place)."""
    head, moved = (f" {name} ON {on} ", f" {new_name} ON {new_on} ") if name else (f" ON {on} ", f" ON {new_on} ")
    if definition.count(head) != 1:
        return None
    return definition.replace(head, moved)


class ChunkReader:
    """A file-like `read()` over an iterable of byte chunks (a storage's stream), for COPY FROM STDIN."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._chunk = b""
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = size if size >= 0 else None
        while wanted is None or wanted > 0:
            if self._at >= len(self._chunk):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._chunk, self._at = bytes(chunk), 0
                continue
            end = len(self._chunk) if wanted is None else min(len(self._chunk), self._at + wanted)
            parts.append(self._chunk[self._at:end])
            if wanted is not None:
                wanted -= end - self._at
            self._at = end
        return b"".join(parts)
