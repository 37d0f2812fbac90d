"""The SQL of the DataStore load, without CKAN: so the main venv's unit tests can check it.

data.csv is written for people (portal/files.py): text that a spreadsheet would run as a formula
has an apostrophe in front, and whole decimals are plain (3, not 3.0) only below 1e15. The
DataStore must hold the values as they are, so after COPY (into a staging table) one UPDATE takes
the apostrophe off again (except in the cells the publisher names as beginning with one of their own) and trims the
scale of whole numerics (as a JSON number would have landed).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

# the same as common/formulas.py FORMULA_PREFIXES (a unit test keeps them equal)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def quote_ident(name: str) -> str:
    """A double-quoted PostgreSQL identifier (as ckanext.datastore's `identifier`)."""
    return '"' + name.replace('"', '""').replace("\0", "") + '"'


def quote_literal(text: str) -> str:
    """A single-quoted PostgreSQL string (standard_conforming_strings on)."""
    return "'" + text.replace("'", "''").replace("\0", "") + "'"


STAGING = "kcdata_staging"  # the temporary table a load COPYs into (dropped at the commit)
ROW = "_kcdata_row"  # its row number: data rows counted from 1 in the file's order


def staging_sql(table: str, columns: list[str]) -> list[str]:
    """A temporary table with the columns (and types) of the DataStore table, without its index,
    trigger or `_id`, plus the file's row number: COPY fills it fast, and the rows move into the
    DataStore table in one INSERT."""
    names = ", ".join(quote_ident(c) for c in columns)
    return [f"CREATE TEMP TABLE {STAGING} ON COMMIT DROP AS SELECT {names} FROM {quote_ident(table)} WITH NO DATA",
            f"ALTER TABLE {STAGING} ADD COLUMN {ROW} bigserial"]


def full_text_sql(columns: list[str]) -> str:
    """SQL: the `_full_text` CKAN's row trigger would compute for a row of these columns (each
    value's JSON text, joined by spaces, as `json_each_text(row_to_json(...))` gives it), set-based:
    the trigger's JSON round trip per row took ~47 s at 1M rows, this ~15 s, with equal vectors."""
    values = ", ".join(f"to_json({quote_ident(c)}) #>> '{{}}'" for c in columns)
    return f"to_tsvector(concat_ws(' ', {values}))"


def fill_sql(table: str, columns: list[str]) -> str:
    """Move the staged rows into the DataStore table, in the file's order (`_id` counts on), with
    their full-text vectors (CKAN's trigger leaves a row whose vector is given as it is)."""
    names = ", ".join(quote_ident(c) for c in columns)
    return (f'INSERT INTO {quote_ident(table)} ({names}, "_full_text") '
            f"SELECT {names}, {full_text_sql(columns)} FROM {STAGING} ORDER BY {ROW}")


def copy_sql(table: str, columns: list[str]) -> str:
    """COPY the CSV (header line skipped: it holds the Chinese names) into the table's columns, in order."""
    names = ", ".join(quote_ident(c) for c in columns)
    return f"COPY {quote_ident(table)} ({names}) FROM STDIN (FORMAT csv, HEADER true, ENCODING 'UTF8')"


def _neutralised(column: str) -> str:
    """SQL: the cell is text the CSV writer prefixed with an apostrophe."""
    q = quote_ident(column)
    prefixes = ", ".join(f"chr({ord(p)})" for p in FORMULA_PREFIXES)
    return f"(left({q}, 1) = '''' AND substr({q}, 2, 1) IN ({prefixes}))"


def repair_sql(table: str, texts: list[str], numerics: list[str], verbatim: dict[str, list[int]]) -> str | None:
    """One UPDATE of the staged rows giving them their values: texts without the CSV's formula
    apostrophe, whole numerics without a scale. `verbatim` names, per text column, the rows
    (1-based, in file order: the ROW column) whose value itself begins with an apostrophe: kept as
    they are. None when there is nothing to repair."""
    sets, wheres = [], []
    for column in texts:
        q = quote_ident(column)
        cond = _neutralised(column)
        rows = sorted({int(r) for r in verbatim.get(column, [])})
        if rows:
            cond = f"({cond} AND {ROW} NOT IN ({', '.join(str(r) for r in rows)}))"
        sets.append(f"{q} = CASE WHEN {cond} THEN substr({q}, 2) ELSE {q} END")
        wheres.append(cond)
    for column in numerics:
        q = quote_ident(column)
        cond = f"(scale({q}) > 0 AND {q} = trunc({q}))"
        sets.append(f"{q} = CASE WHEN {cond} THEN trim_scale({q}) ELSE {q} END")
        wheres.append(cond)
    if not sets:
        return None
    return f"UPDATE {quote_ident(table)} SET {', '.join(sets)} WHERE {' OR '.join(wheres)}"


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
