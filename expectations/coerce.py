"""Coerce the text cells of a raw batch to the catalog's item types in DuckDB, keeping every
per-cell problem. Cells equal to a declared missing-value token (`NA`, `N/A`, ...) are empty.

Edge whitespace (ASCII and Unicode: U+3000, NBSP, ...) is trimmed first for the items that trim
(`Resource.trims`, on by default) and counted (`trimmed_counts_sql`), a warning; for the others it is
the `whitespace` problem. A `uscc` / `id_card` item whose cell is not code-shaped at all (wrong
length, characters no such code has, Chinese text) is `not-uscc` / `not-id-card`, told apart from
a code-shaped value whose check character is wrong (the GX expectations).

A cell that cannot be coerced becomes NULL in the typed column, and the problem is kept in
the row's `_errors` list as (rule, column, value) so quarantine can say exactly what was sent.
One SQL projection does the whole batch: no per-row Python.
"""
from __future__ import annotations

from catalog.model import DUCKDB_TYPES, Item, ItemType, Resource
from common.codes import USCC_CHARSET
from common.literals import AT_EITHER_END, DATE, DATETIME, EDGE_SPACES, FALSE_WORDS, FULL_WIDTH_CHARS, INTEGER, NUMBER, TRUE_WORDS
from common.problems import problem
from common.sqltext import ident, literal

# Problem codes (common/problems.py) found while coercing.
WHITESPACE = problem("whitespace").code
NOT_USCC = problem("not-uscc").code
NOT_ID_CARD = problem("not-id-card").code
FULL_WIDTH = problem("full-width").code
DATE_FORMAT = problem("date-format").code
TYPE = problem("type").code

# The grammar of typed cells (common/literals.py), shared with the sample writer and the benchmark floor.
CANONICAL = {ItemType.N: NUMBER, ItemType.I: INTEGER, ItemType.D: DATE, ItemType.T: DATETIME}
# Code-shaped values of the named checks: the check character decides the rest (custom.py).
CODE_SHAPES = {"uscc": (f"[{USCC_CHARSET}]{{18}}", NOT_USCC), "id_card": ("[0-9]{17}[0-9Xx]", NOT_ID_CARD)}


def trimmed(t: str) -> str:
    """SQL: text expression `t` without its edge whitespace."""
    return f"trim({t}, {literal(EDGE_SPACES)})"


def _typed(item: Item, t: str) -> str:
    """Typed value of text expression `t`, NULL when it is not canonical."""
    target = DUCKDB_TYPES[item.type]
    if item.type is ItemType.C:
        return t
    if item.type is ItemType.L:
        lowered = f"lower({t})"
        return (
            f"CASE WHEN {lowered} IN ({', '.join(map(literal, TRUE_WORDS))}) THEN TRUE "
            f"WHEN {lowered} IN ({', '.join(map(literal, FALSE_WORDS))}) THEN FALSE END"
        )
    return f"CASE WHEN regexp_full_match({t}, {literal(CANONICAL[item.type])}) THEN TRY_CAST({t} AS {target}) END"


def _problem(item: Item, t: str, typed: str, trims: bool) -> str:
    """The rule a non-empty cell breaks, or NULL: whitespace (unless trimmed), then full-width,
    then the shape of a named code, then type. `typed` is the column holding the cell's typed
    value (computed once, see coercion_sql).

    A cell with a typed value breaks none of them (the canonical forms are ASCII without spaces),
    so for typed items the checks run only on the few cells that could not be typed: DuckDB
    evaluates a CASE branch only for the rows that reach it. Full-width characters are looked for
    only in cells with a non-ASCII character (more bytes than characters)."""
    checks = []
    if item.type is not ItemType.C:
        checks.append(f"WHEN {typed} IS NOT NULL THEN NULL")
    if not trims:  # a trimmed cell has no edge whitespace left
        checks.append(f"WHEN regexp_matches({t}, {literal(AT_EITHER_END)}) THEN {literal(WHITESPACE)}")
    if item.type is not ItemType.C or item.pattern:
        checks.append(
            f"WHEN strlen({t}) <> length({t}) AND regexp_matches({t}, {literal(FULL_WIDTH_CHARS)}) THEN {literal(FULL_WIDTH)}"
        )
    if item.pattern in CODE_SHAPES:
        shape, code = CODE_SHAPES[item.pattern]
        checks.append(f"WHEN NOT regexp_full_match({t}, {literal(shape)}) THEN {literal(code)}")
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
        tokens, trims = resource.missing_tokens(item), resource.trims(item)
        cell = trimmed(t) if trims else t
        missing = f"CASE WHEN {cell} IN ({', '.join(map(literal, tokens))}) THEN NULL ELSE {cell} END" if tokens else cell
        blanked.append(f"{missing} AS {t}")
        typing += [t, f"{_typed(item, t)} AS {v}"]
        inner += [t, v, f"{_problem(item, t, v, trims)} AS {p}"]
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


def trimmed_counts_sql(resource: Resource, present: set[str], relation: str) -> str | None:
    """SELECT over `relation` giving, per trimmed item the file has, how many of its cells trimming
    changed (one row, a column per item code); None when no item trims."""
    codes = [i.code for i in resource.source_items if i.code in present and resource.trims(i)]
    if not codes:
        return None
    counts = ", ".join(f"count_if({ident(c)} <> {trimmed(ident(c))}) AS {ident(c)}" for c in codes)
    return f"SELECT {counts} FROM {relation}"
