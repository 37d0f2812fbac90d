"""The floor of the ingest benchmark: kcdata's work on one file done by plain DuckDB SQL.

Derived from the catalog entry, so it is fair for any resource: read the file as text (decoding
GB18030 the way the connector does, through Arrow's CSV reader, since DuckDB cannot decode it),
blank the missing-value tokens, check every cell's shape and type, apply the entry's rules
(required, unique, key, pattern or check character, range, allowed values) into a per-row list of
reasons, split the rows into validated and quarantine Parquet plus a feedback CSV, keep one row per
key, and build the marts dbt builds from this resource by running their own SQL (dbt/models,
rendered with plain Jinja: `ref`, `var` and seeds) in DuckDB. Left out: encryption at rest of
personal columns, dbt's data tests, the catalog records and GX Data Docs.

Run in a fresh process by bench_ingest.py: `run_floor(code, file, out)`.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from common.codes import ID_CARD_CHECK_CHARS, ID_CARD_WEIGHTS, USCC_CHARSET, USCC_WEIGHTS
from common.literals import AT_EITHER_END, DATE, DATETIME, EDGE_SPACES, FALSE_WORDS, FULL_WIDTH_CHARS, INTEGER, NUMBER, TRUE_WORDS
from common.sqltext import ident as q
from common.sqltext import literal

ROOT = Path(__file__).resolve().parents[1]
DBT = ROOT / "dbt"
# kcdata's grammar of typed cells (common/literals.py), as coercion applies it
CANONICAL = {"N": NUMBER, "I": INTEGER, "D": DATE, "T": DATETIME}
SQL_TYPES = {"C": "VARCHAR", "N": "DOUBLE", "I": "BIGINT", "D": "DATE", "T": "TIMESTAMP", "L": "BOOLEAN"}
_REF = re.compile(r"""ref\(\s*['"](\w+)['"]\s*\)""")


def lit(value: object) -> str:
    """A SQL literal: a number as itself, anything else quoted as text."""
    if isinstance(value, (int, float)):
        return repr(value)
    return literal(str(value))


def _typed(kind: str, t: str) -> str:
    if kind == "C":
        return t
    if kind == "L":
        return (f"CASE WHEN lower({t}) IN ({', '.join(map(lit, TRUE_WORDS))}) THEN TRUE "
                f"WHEN lower({t}) IN ({', '.join(map(lit, FALSE_WORDS))}) THEN FALSE END")
    return f"CASE WHEN regexp_full_match({t}, {lit(CANONICAL[kind])}) THEN TRY_CAST({t} AS {SQL_TYPES[kind]}) END"


def _problem(kind: str, patterned: bool, t: str, cast: str, trims: bool = True) -> str:
    """The rule a non-empty cell breaks; `cast` is the column holding its typed candidate. As fast
    as plain SQL makes it: a typed cell breaks none (canonical forms are ASCII without spaces), so
    the other checks run only where a CASE branch is reached; full-width only in non-ASCII cells."""
    checks = [f"WHEN {cast} IS NOT NULL THEN NULL"] if kind != "C" else []
    if not trims:  # a trimmed cell has no edge whitespace left
        checks.append(f"WHEN regexp_matches({t}, {lit(AT_EITHER_END)}) THEN 'whitespace'")  # 3x faster than trim(t, chars)
    if kind != "C" or patterned:
        checks.append(f"WHEN strlen({t}) <> length({t}) AND regexp_matches({t}, {lit(FULL_WIDTH_CHARS)}) THEN 'full-width'")
    if kind in ("D", "T"):
        checks.append(f"WHEN {cast} IS NULL THEN 'date-format'")
    elif kind != "C":
        checks.append(f"WHEN {cast} IS NULL THEN 'type'")
    return f"CASE WHEN {t} IS NULL THEN NULL {' '.join(checks)} END"


def _check_char_ok(v: str, charset: str, weights: list[int], modulus: int, checks: str, pick: str) -> str:
    """SQL: the last character of `v` is the check character of the ones before it."""
    value = f"(instr({lit(charset)}, substr({v}, i + 1, 1)) - 1)"
    total = f"list_sum(list_transform(range({len(weights)}), lambda i: {value} * {weights}[i + 1]))"
    return f"substr({lit(checks)}, CAST(({pick.format(total=total, m=modulus)}) + 1 AS BIGINT), 1) = substr({v}, {len(weights) + 1}, 1)"


def _pattern_ok(pattern: str, v: str) -> str:
    if pattern == "uscc":
        ok = _check_char_ok(v, USCC_CHARSET, list(USCC_WEIGHTS), 31, USCC_CHARSET, "(31 - {total} % {m}) % {m}")
        return f"(regexp_full_match({v}, '[0-9A-HJ-NPQRTUWXY]{{18}}') AND {ok})"
    if pattern == "id_card":
        ok = _check_char_ok(v, "0123456789", list(ID_CARD_WEIGHTS), 11, ID_CARD_CHECK_CHARS, "{total} % {m}")
        return f"(regexp_full_match({v}, '[0-9]{{17}}[0-9X]') AND {ok})"
    return f"regexp_matches({v}, {lit(pattern)})"


def reader_sql(con, resource, file: Path) -> str:
    """A relation over the file's rows as text, registered on `con` when Arrow must decode it."""
    encoding = (resource.source.encoding or "utf-8").lower()
    if encoding in ("utf-8", "utf8", "utf-8-sig", "auto"):
        return f"read_csv({lit(str(file))}, all_varchar = true, header = true, quote = '\"', escape = '\"')"
    import pyarrow as pa
    from pyarrow import csv

    with file.open("rb") as fh:
        header = fh.readline().decode(encoding).strip().split(",")
    reader = csv.open_csv(
        file,
        read_options=csv.ReadOptions(encoding=encoding, block_size=8 << 20, use_threads=False),
        convert_options=csv.ConvertOptions(column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                                           quoted_strings_can_be_null=True, null_values=[""]),
    )
    con.register("floor_source", reader)
    return "floor_source"


def checked_sql(resource, source: str) -> str:
    """One SELECT: `_row`, each item as text (t_<code>) and typed (<code>), and `_reasons`."""
    items = resource.source_items
    headers = {i.code: i.name for i in items}
    numbered = ", ".join(["row_number() OVER () AS _row"] + [f"{q(headers[i.code])} AS {q('t_' + i.code)}" for i in items])
    blanked, cast, problems, typed, reasons = ["_row"], ["*"], ["*"], ["*"], []
    groups: list[list[str]] = []  # unique items and the key: duplicates found by a GROUP BY on them alone
    reason_conditions: list[str] = []

    def duplicated(columns: list[str]) -> str:
        groups.append(columns)
        return f"{q(f'__d{len(groups) - 1}')} IS NOT NULL"

    for i in items:
        t, v, kind = q("t_" + i.code), q(i.code), i.type.value
        tokens, trims = resource.missing_tokens(i), resource.trims(i)
        cell = f"trim({t}, {lit(EDGE_SPACES)})" if trims else t
        inside = f"{cell} IN ({', '.join(map(lit, tokens))}) OR " if tokens else ""
        blanked.append(f"CASE WHEN {inside}{cell} = '' THEN NULL ELSE {cell} END AS {t}")
        c, p = q("c_" + i.code), q("p_" + i.code)
        cast.append(f"{_typed(kind, t)} AS {c}")  # each cell is parsed once, in its own layer
        problems.append(f"{_problem(kind, bool(i.pattern), t, c, trims)} AS {p}")
        typed.append(f"CASE WHEN {p} IS NULL THEN {c} END AS {v}")

        def reason(cond: str, rule: str, code: str = i.code, t: str = t) -> None:
            reason_conditions.append(cond)
            reasons.append(f"CASE WHEN {cond} THEN {{'rule': {rule}, 'column': {lit(code)}, 'value': {t}}} END")

        reason(f"{q('p_' + i.code)} IS NOT NULL", q("p_" + i.code))
        if i.required:
            reason(f"{t} IS NULL", "'missing-value'")
        if i.unique or resource.key == [i.code]:
            reason(duplicated([i.code]), "'duplicate-key'")
        if i.pattern:
            reason(f"{v} IS NOT NULL AND NOT {_pattern_ok(i.pattern, v)}", "'pattern'")
        if i.range:
            lo, hi = i.range
            bounds = [f"{v} < {lit(lo)}" if lo is not None else "", f"{v} > {lit(hi)}" if hi is not None else ""]
            reason(f"{v} IS NOT NULL AND ({' OR '.join(b for b in bounds if b)})", "'out-of-range'")
        if i.allowed:
            reason(f"{v} IS NOT NULL AND {v} NOT IN ({', '.join(map(lit, i.allowed))})", "'not-allowed'")
    if len(resource.key) > 1:
        cond = duplicated(list(resource.key))
        first = resource.key[0]
        reason_conditions.append(cond)
        reasons.append(f"CASE WHEN {cond} THEN {{'rule': 'duplicate-key', 'column': {lit(first)}, 'value': {q('t_' + first)}}} END")
    ctes = [f"typed AS (SELECT {', '.join(typed)} FROM (SELECT {', '.join(problems)} FROM (SELECT {', '.join(cast)} FROM "
            f"(SELECT {', '.join(blanked)} FROM (SELECT {numbered} FROM {source})))))"]
    joins = []
    for n, columns in enumerate(groups):
        cols = ", ".join(q(c) for c in columns)
        ctes.append(f"d{n} AS (SELECT {cols}, true AS {q(f'__d{n}')} FROM typed WHERE "
                    f"{' AND '.join(f'{q(c)} IS NOT NULL' for c in columns)} GROUP BY ALL HAVING count(*) > 1)")
        joins.append(f"LEFT JOIN d{n} USING ({cols})")
    hidden = [q(x + i.code) for i in items for x in ("c_", "p_")] + [q(f"__d{n}") for n in range(len(groups))]
    # the list of reasons is built only for rows with one (a CASE branch runs only where reached)
    conditions = " OR ".join(f"({c})" for c in reason_conditions)
    return (
        f"WITH {', '.join(ctes)} SELECT * EXCLUDE ({', '.join(hidden)}), "
        f"CASE WHEN {conditions} THEN list_filter([{', '.join(reasons)}], lambda x: x IS NOT NULL) "
        f"ELSE []::STRUCT(rule VARCHAR, \"column\" VARCHAR, value VARCHAR)[] END AS _reasons FROM typed {' '.join(joins)}"
    )


def downstream_models(table: str) -> list[tuple[str, Path]]:
    """The hand-written dbt models that read stg_<table> (directly or not), in build order."""
    models = {p.stem: p for p in (DBT / "models").rglob("*.sql") if "staging" not in p.parts}
    refs = {name: set(_REF.findall(path.read_text(encoding="utf-8"))) for name, path in models.items()}
    wanted, changed = {f"stg_{table}"}, True
    while changed:
        found = {m for m, r in refs.items() if r & wanted} - wanted
        wanted |= found
        changed = bool(found)
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or name not in models:
            return
        for parent in refs[name]:
            visit(parent)
        order.append(name)

    for name in sorted(wanted):
        visit(name)
    return [(name, models[name]) for name in order if name in wanted]


def _render(path: Path) -> str:
    import jinja2
    import yaml

    project = yaml.safe_load((DBT / "dbt_project.yml").read_text(encoding="utf-8"))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(path.read_text(encoding="utf-8")).render(
        ref=q, var=lambda name: project["vars"][name], config=lambda **_: "",
    )


def run_floor(code: str, file: str, out: str) -> dict:
    """Do the whole floor for `file` of resource `code` under `out`/floor; seconds per step."""
    import duckdb

    from catalog.entries import get_resource

    resource = get_resource(code)
    folder = Path(out) / "floor"
    (folder / "curated" / "resources").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    steps: dict[str, float] = {}
    start = time.perf_counter()
    source = reader_sql(con, resource, Path(file))
    con.execute(f"CREATE TABLE checked AS {checked_sql(resource, source)}")
    steps["read + check"] = time.perf_counter() - start
    mark = time.perf_counter()
    items = [q(i.code) for i in resource.source_items]
    texts = [q("t_" + i.code) for i in resource.source_items]
    validated, quarantine = folder / "validated.parquet", folder / "quarantine.parquet"
    con.execute(f"COPY (SELECT _row, {', '.join(items)}, 'bench' AS _batch, now()::TIMESTAMP AS _loaded_at FROM checked "
                f"WHERE len(_reasons) = 0) TO {lit(str(validated))} (FORMAT parquet)")
    con.execute(f"COPY (SELECT _row, {', '.join(texts)}, _reasons, array_to_string(list_transform(_reasons, "
                f"lambda r: r.rule || ' ' || r.column), '; ') AS _reason FROM checked WHERE len(_reasons) > 0) "
                f"TO {lit(str(quarantine))} (FORMAT parquet)")
    con.execute(f"COPY (SELECT _row AS 行号, r.column AS 列代码, r.value AS 提交的值, r.rule AS 问题代码 FROM "
                f"(SELECT _row, unnest(_reasons) AS r FROM read_parquet({lit(str(quarantine))})) ORDER BY _row) "
                f"TO {lit(str(folder / 'feedback.csv'))} (HEADER)")
    steps["split"] = time.perf_counter() - mark
    mark = time.perf_counter()
    key = ", ".join(q(k) for k in resource.key)
    con.execute(f"CREATE TABLE {q('stg_' + resource.table)} AS SELECT * FROM read_parquet({lit(str(validated))}) "
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _loaded_at DESC, _row DESC) = 1")
    current = folder / "curated" / "resources" / f"{resource.table}.parquet"
    con.execute(f"COPY {q('stg_' + resource.table)} TO {lit(str(current))} (FORMAT parquet)")
    marts = []
    for name, path in downstream_models(resource.table):
        for seed in _REF.findall(path.read_text(encoding="utf-8")):
            csv = DBT / "seeds" / f"{seed}.csv"
            if csv.exists():
                con.execute(f"CREATE TABLE IF NOT EXISTS {q(seed)} AS SELECT * FROM read_csv({lit(str(csv))})")
        sql = _render(path)
        if "marts" in path.parts:
            con.execute(f"COPY ({sql}) TO {lit(str(folder / 'curated' / f'{name}.parquet'))} (FORMAT parquet)")
            marts.append(name)
        else:
            con.execute(f"CREATE VIEW {q(name)} AS {sql}")
    steps["aggregate"] = time.perf_counter() - mark
    accepted, quarantined = con.execute(
        "SELECT count(*) FILTER (len(_reasons) = 0), count(*) FILTER (len(_reasons) > 0) FROM checked").fetchone()
    con.close()
    return {"steps": steps, "accepted": accepted, "quarantined": quarantined, "marts": marts}
