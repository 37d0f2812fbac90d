"""Spreadsheet formula injection (CSV injection): a cell whose text starts with one of these is
run as a formula by Excel or LibreOffice, so text we hand out (published CSV, the catalog
workbook, a department's quarantine download) gets an apostrophe in front."""
from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """The cell text, with an apostrophe before anything a spreadsheet would run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def neutralise_sql(column: str) -> str:
    """The same rule as a DuckDB expression over a text column (for files written by DuckDB)."""
    starts = " OR ".join(f"starts_with({column}, chr({ord(p)}))" for p in FORMULA_PREFIXES)
    return f"CASE WHEN {starts} THEN '''' || {column} ELSE {column} END"
