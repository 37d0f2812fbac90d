"""Coerce the text cells of a raw batch to the catalog's item types in DuckDB, keeping every
per-cell problem. Cells equal to a declared missing-value token (`NA`, `N/A`, ...) are empty.

A cell that cannot be coerced becomes NULL in the typed column, and the problem is kept in
the row's `_errors` list as (rule, column, value) so quarantine can say exactly what was sent.
One SQL projection does the whole batch: no per-row Python.
"""
from __future__ import annotations

from catalog.model import DUCKDB_TYPES, Item, ItemType, Resource
from common.problems import problem
from common.sqltext import ident, literal

# Problem codes (common/problems.py) found while coercing.
WHITESPACE = problem("whitespace").code
FULL_WIDTH = problem("full-width").code
DATE_FORMAT = problem("date-format").code
TYPE = problem("type").code

_SPACES = " \t\r\n\u3000\u00a0"
_FULL_WIDTH = "[０-９Ａ-Ｚａ-ｚ．－＋，]"
_AT_EITHER_END = f"^[{_SPACES}]|[{_SPACES}]$"  # a cell that trimming would change
_CANONICAL = {  # whole-cell matches (regexp_full_match): ASCII only, no spaces
    ItemType.N: r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?",
    ItemType.I: r"-?[0-9]+",
    ItemType.D: r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    ItemType.T: r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?",
}
_BOOL_TRUE = ("是", "true", "1", "y", "yes")
_BOOL_FALSE = ("否", "false", "0", "n", "no")




def _typed(item: Item, t: str) -> str:
    """Typed value of text expression `t`, NULL when it is not canonical."""
    target = DUCKDB_TYPES[item.type]
    if item.type is ItemType.C:
        return t
    if item.type is ItemType.L:
        lowered = f"lower({t})"
        return (
            f"CASE WHEN {lowered} IN ({', '.join(map(literal, _BOOL_TRUE))}) THEN TRUE "
            f"WHEN {lowered} IN ({', '.join(map(literal, _BOOL_FALSE))}) THEN FALSE END"
        )
    return f"CASE WHEN regexp_full_match({t}, {literal(_CANONICAL[item.type])}) THEN TRY_CAST({t} AS {target}) END"


def _problem(item: Item, t: str, typed: str) -> str:
    """The rule a non-empty cell breaks, or NULL: whitespace, then full-width, then type.
    `typed` is the column holding the cell's typed value (computed once, see coercion_sql).

    A cell with a typed value breaks none of them (the canonical forms are ASCII without spaces),
    so for typed items the checks run only on the few cells that could not be typed: DuckDB
    evaluates a CASE branch only for the rows that reach it. Full-width characters are looked for
    only in cells with a non-ASCII character (more bytes than characters)."""
    checks = []
    if item.type is not ItemType.C:
        checks.append(f"WHEN {typed} IS NOT NULL THEN NULL")
    checks.append(f"WHEN regexp_matches({t}, {literal(_AT_EITHER_END)}) THEN {literal(WHITESPACE)}")
    if item.type is not ItemType.C or item.pattern:
        checks.append(
            f"WHEN strlen({t}) <> length({t}) AND regexp_matches({t}, {literal(_FULL_WIDTH)}) THEN {literal(FULL_WIDTH)}"
        )
    if item.type in (ItemType.D, ItemType.T):
        checks.append(f"ELSE {literal(DATE_FORMAT)}")
    elif item.type is not ItemType.C:
        checks.append(f"ELSE {literal(TYPE)}")
    return f"CASE WHEN {t} IS NULL OR {t} = '' THEN NULL {' '.join(checks)} END"


def coercion_sql(resource: Resource, present: set[str], relation: str) -> str:
    """SELECT over `relation` (text columns named by item code) giving typed items + `_errors`.

    `present` are the item codes the file has; absent optional items come out as typed NULLs.
    The relation must carry `_row`. Each cell's typed value is computed once, in the innermost
    query; its problem once, in the next.
    """
    typing: list[str] = ["_row"]  # the cell as text, and its typed value
    inner: list[str] = ["_row"]
    selects: list[str] = ["_row"]
    problems: list[str] = []
    blanked: list[str] = ["_row"]  # declared missing-value tokens read as empty cells
    for item in resource.source_items:
        target = DUCKDB_TYPES[item.type]
        if item.code not in present:
            selects.append(f"CAST(NULL AS {target}) AS {ident(item.code)}")
            continue
        t, p, v = ident(item.code), ident("__p_" + item.code), ident("__v_" + item.code)
        tokens = resource.missing_tokens(item)
        blanked.append(f"CASE WHEN {t} IN ({', '.join(map(literal, tokens))}) THEN NULL ELSE {t} END AS {t}" if tokens else t)
        typing += [t, f"{_typed(item, t)} AS {v}"]
        inner += [t, v, f"{_problem(item, t, v)} AS {p}"]
        selects.append(f"CASE WHEN {p} IS NULL AND {t} <> '' THEN {v} END AS {ident(item.code)}")
        problems.append(f"CASE WHEN {p} IS NOT NULL THEN {{'rule': {p}, 'column': {literal(item.code)}, 'value': {t}}} END")
    empty = "[]::STRUCT(rule VARCHAR, \"column\" VARCHAR, value VARCHAR)[]"
    clean = " AND ".join(f"{ident('__p_' + i.code)} IS NULL" for i in resource.source_items if i.code in present)
    # the list is built only for the few rows with a problem (a CASE branch runs only where reached)
    errors = (
        f"CASE WHEN {clean} THEN {empty} ELSE list_filter([{', '.join(problems)}], lambda x: x IS NOT NULL) END"
        if problems
        else empty
    )
    return (
        f"SELECT {', '.join(selects)}, {errors} AS _errors "
        f"FROM (SELECT {', '.join(inner)} FROM (SELECT {', '.join(typing)} FROM (SELECT {', '.join(blanked)} FROM {relation})))"
    )
