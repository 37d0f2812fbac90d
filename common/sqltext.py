"""Quoting for the SQL text we hand to DuckDB and PostgreSQL: the one place it is done. Item codes
and names, paths and values come from departments and must never break out of their quotes."""
from __future__ import annotations

from pathlib import PurePath


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str | PurePath) -> str:
    """A single-quoted SQL string literal (a path as its text: files are named by departments)."""
    return "'" + str(text).replace("'", "''") + "'"

