"""Feedback for the department: what was wrong with a delivery, in Chinese and English, in a
CSV that opens in Excel. Every message is rendered from the problem registry with the item's
own parameters (its range, pattern, allowed values, type)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.model import Item, ItemType, Resource
from common.problems import PARAM_CHARS, problem
from common.sqltext import literal

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from expectations.validate import ValidationOutcome

COLUMNS = ["行号", "信息项", "列代码", "提交的值", "问题代码", "问题说明", "description"]

TYPE_WORDS = {
    ItemType.C: ("文本", "text"),
    ItemType.N: ("数值", "number"),
    ItemType.I: ("整数", "integer"),
    ItemType.D: ("日期", "date (YYYY-MM-DD)"),
    ItemType.T: ("日期时间", "date and time (YYYY-MM-DD HH:MM:SS)"),
    ItemType.L: ("是/否", "yes-or-no value (是/否)"),
}


def item_params(item: Item | None) -> dict:
    """The parameters an item's messages use."""
    if item is None:
        return {}
    lo, hi = item.range or (None, None)
    zh, en = TYPE_WORDS[item.type]
    return {
        "min": "−∞" if lo is None else lo, "max": "+∞" if hi is None else hi,
        "allowed": item.allowed or [], "pattern": item.pattern or "", "type_zh": zh, "type_en": en,
    }


def message(code: str, item: Item | None = None, /, **params: object) -> tuple[str, str]:
    """(Chinese, English) text of problem `code` for `item` (its range, pattern...)."""
    kind = problem(code)
    values = {**item_params(item), **params}
    return kind.render("zh", **values), kind.render("en", **values)


def delivery_lines(resource: Resource, outcome: ValidationOutcome) -> list[list[str | None]]:
    """The lines about the delivery as a whole: held back, columns drifted from the catalog."""
    lines: list[list[str | None]] = []
    if not outcome.passed and outcome.rows:
        zh, en = message("version-held-back", share=f"{outcome.bad_share:.1%}", limit=f"{outcome.max_bad_share:.1%}")
        lines.append([None, None, None, None, "version-held-back", zh, en])
    for drift in outcome.delivery_problems:
        params = {k: v for k, v in drift.items() if k != "code"}
        zh, en = message(drift["code"], **params)
        column = drift.get("column") or f"第{drift.get('position')}列"
        lines.append([None, drift.get("item") or drift.get("header"), column, None, drift["code"], zh, en])
    return lines


MASKED_NOTE = "（已脱敏 masked）"


def masked_columns(resource: Resource) -> list[str]:
    """Columns whose submitted values feedback.csv masks: the personal items, the raw text of an
    unreadable row (column ''), and a compound key's duplicates when the key holds a personal item."""
    from common.lake_crypto import personal_codes

    personal = personal_codes(resource)  # the items encrypted at rest: personal, or undeclared
    if not personal:
        return []
    keyed = [resource.key[0]] if any(k in personal for k in resource.key) else []
    return [*personal, "", *keyed]


SHOWN_VALUE = 200  # characters of a submitted value feedback shows (a 1 MiB cell stays in the lake)


def mask_sql(value: str) -> str:
    """SQL of a personal value as feedback shows it: its first and last character with `*`
    between (only the first when it has three or fewer, none of one) and a note saying it is
    masked; empty stays empty."""

    n = f"length({value})"
    return (
        f"CASE WHEN coalesce({value}, '') = '' THEN {value} WHEN {n} = 1 THEN '*' || {literal(MASKED_NOTE)} "
        f"WHEN {n} <= 3 THEN left({value}, 1) || repeat('*', {n} - 1) || {literal(MASKED_NOTE)} "
        f"ELSE left({value}, 1) || repeat('*', {n} - 2) || right({value}, 1) || {literal(MASKED_NOTE)} END"
    )


def submitted_value_sql(resource: Resource, value: str = "x.value", column: str = 'x."column"') -> str:
    """SQL of the 提交的值 cell: the value as sent, or for a personal item masked (`mask_sql`), so
    feedback.csv (plain text, outside the encrypted lake) holds none; at most SHOWN_VALUE characters."""

    masked = masked_columns(resource)
    shown = f"CASE WHEN length({value}) > {SHOWN_VALUE} THEN left({value}, {SHOWN_VALUE - 1}) || '…' ELSE {value} END"
    if not masked:
        return shown
    columns = ", ".join(literal(c) for c in masked)
    return f"CASE WHEN {column} IN ({columns}) THEN {mask_sql(shown)} ELSE {shown} END"


# Parameters a message takes from its own line (rendered in SQL): what a not-code-shaped value looks
# like, and which items of a row whose columns look shifted failed.
ROW_PARAMS = ("got_zh", "got_en", "count", "columns")
SHAPE_RULES = ("type", "date-format", "not-uscc", "not-id-card", "pattern")  # a shifted row breaks these at once


def _placeholder(name: str) -> str:
    """A parameter's stand-in in a rendered template, filled per line in SQL (`_message_sql`)."""
    return f"\x1f{name}\x1f"


def _looks_like_sql(value: str, lang: str) -> str:
    """SQL: what a value that is not code-shaped looks like, in words ("an address-like value"),
    so the department sees a value from another column rather than a typo. Only a USCC (public)
    has its first foreign character quoted; an ID number is personal."""
    from common.codes import USCC_CHARSET
    from expectations.coerce import trimmed

    v = trimmed(value)
    han = f"regexp_matches({v}, '\\p{{Han}}')"
    foreign = f"regexp_extract({v}, '[^{USCC_CHARSET}]')"
    n = f"CAST(length({v}) AS VARCHAR)"
    said = {  # condition: (Chinese, English), as SQL expressions
        f"{han} AND regexp_matches({v}, '[省市区县镇乡村路街道巷弄号楼室幢]')": ("'像地址的值'", "'an address-like value'"),
        han: ("'中文文字'", "'Chinese text'"),
        f"regexp_matches({v}, '^[0-9]{{4}}[-/.年][0-9]{{1,2}}')": ("'日期'", "'a date'"),
        f"length({v}) <> 18": (f"{n} || ' 个字符的值'", f"'a value of ' || {n} || ' characters'"),
        f"x.rule = 'not-uscc' AND {foreign} <> ''": (
            f"'含字符“' || {foreign} || '”的值'", f"'a value with ' || {literal(chr(39))} || {foreign} || {literal(chr(39))}"),
    }
    pick = 0 if lang == "zh" else 1
    whens = " ".join(f"WHEN {condition} THEN {texts[pick]}" for condition, texts in said.items())
    other = ("'含代码中没有的字符的值'", "'a value with characters no such code has'")[pick]
    return f"CASE {whens} ELSE {other} END"


def _row_param_sql(name: str) -> str:
    """SQL of one ROW_PARAMS parameter over a feedback line (`x`, the row's `_reasons`)."""
    if name in ("got_zh", "got_en"):
        return _looks_like_sql("x.value", name[-2:])
    if name == "columns":  # the items' names, capped like any parameter
        return f"CASE WHEN length(x.value) > {PARAM_CHARS} THEN left(x.value, {PARAM_CHARS - 1}) || '…' ELSE x.value END"
    shape = ", ".join(literal(r) for r in SHAPE_RULES)
    return f'CAST(len(list_distinct([y."column" FOR y IN r._reasons IF y.rule IN ({shape})])) AS VARCHAR)'


def _message_sql(text: str) -> str:
    """SQL of a message column whose template was rendered with placeholders for ROW_PARAMS (the
    parameters are computed only for the lines whose message has one)."""
    filled = text
    for name in ROW_PARAMS:
        filled = f"replace({filled}, {literal(_placeholder(name))}, coalesce({_row_param_sql(name)}, '?'))"
    return f"CASE WHEN contains({text}, '\x1f') THEN {filled} ELSE {text} END"


def write_feedback(con: DuckDBPyConnection, resource: Resource, path: Path, outcome: ValidationOutcome) -> None:
    """Write feedback.csv (UTF-8 with BOM) from the `reasons` table and the `raw` view on `con`.

    Columns: 行号 (data row, header excluded), 信息项, 列代码, 提交的值 (as sent; masked for
    personal items, see `submitted_value_sql`), 问题代码, 问题说明, description. Lines about the
    whole delivery come first, without a row number."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    items = {i.code: i for i in resource.items}
    pairs = con.execute(
        "SELECT DISTINCT x.rule, x.\"column\" FROM (SELECT unnest(_reasons) x FROM reasons) WHERE x.rule NOT IN "
        "(SELECT DISTINCT _problem FROM raw WHERE _problem IS NOT NULL)"
    ).fetchall()
    placeholders = {name: _placeholder(name) for name in ROW_PARAMS}
    texts = [(rule, column, *message(rule, items.get(column), **placeholders)) for rule, column in pairs]
    row_texts = []
    for row, line, code, params in con.execute(
        "SELECT _row, _line, _problem, _problem_params FROM raw WHERE _problem IS NOT NULL"
    ).fetchall():
        zh, en = message(code, **json.loads(params or "{}"))
        if line is not None:
            zh, en = f"{zh}（文件第 {line} 行）", f"{en} (line {line} of the file)"
        row_texts.append((row, zh, en))
    con.register("messages", pa.table({k: [t[n] for t in texts] for n, k in enumerate(("rule", "column", "zh", "en"))},
                                      schema=pa.schema([(k, pa.string()) for k in ("rule", "column", "zh", "en")])))
    con.register("row_messages", pa.table({k: [t[n] for t in row_texts] for n, k in enumerate(("_row", "zh", "en"))},
                                          schema=pa.schema([("_row", pa.int64()), ("zh", pa.string()), ("en", pa.string())])))
    con.register("item_names", pa.table({"column": list(items), "item_name": [i.name for i in items.values()]}))
    cells = "array_to_string([coalesce(c.value, '') FOR c IN g._cells], ' | ')"  # a ragged row, as parsed, masked
    rows = con.sql(
        f"""
        SELECT r._row AS "行号", coalesce(n.item_name, nullif(x."column", '')) AS "信息项", nullif(x."column", '') AS "列代码",
               CASE WHEN x.rule = 'shifted-columns' THEN NULL WHEN g._cells IS NOT NULL THEN {cells}
                    ELSE {submitted_value_sql(resource)} END AS "提交的值",
               x.rule AS "问题代码",
               coalesce({_message_sql("m.zh")}, p.zh) AS "问题说明", coalesce({_message_sql("m.en")}, p.en) AS "description"
        FROM (SELECT _row, _reasons, unnest(_reasons) AS x FROM reasons) r
        LEFT JOIN item_names n ON n."column" = x."column"
        LEFT JOIN messages m ON m.rule = x.rule AND m."column" = x."column"
        LEFT JOIN row_messages p ON p._row = r._row AND x."column" = ''
        LEFT JOIN ragged_cells g ON g._row = r._row AND x.rule = 'ragged-row'
        ORDER BY r._row, x."column", x.rule
        """
    ).to_arrow_table()
    head = delivery_lines(resource, outcome)
    first = pa.table({c: pa.array([line[n] for line in head], rows.schema.field(c).type) for n, c in enumerate(COLUMNS)})
    with path.open("wb") as fh:
        fh.write(b"\xef\xbb\xbf")
        pacsv.write_csv(pa.concat_tables([first, rows.rename_columns(COLUMNS)]), fh)

