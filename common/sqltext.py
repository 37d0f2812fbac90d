"""Quoting for the SQL text we hand to DuckDB (identifiers are Chinese-free item codes, but
paths and values come from departments and must never break out of their quotes)."""
from __future__ import annotations


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"

