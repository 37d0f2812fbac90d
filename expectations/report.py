"""Feedback for the department: what was wrong with a delivery, in Chinese and English, in a
CSV that opens in Excel. Every message is rendered from the problem registry with the item's
own parameters (its range, pattern, allowed values, type)."""
from __future__ import annotations

import json
from pathlib import Path

from catalog.model import Item, ItemType, Resource
from common.problems import problem

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


def delivery_lines(resource: Resource, outcome) -> list[list]:
    """The lines about the delivery as a whole: held back, columns drifted from the catalog."""
    lines = []
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


def submitted_value_sql(resource: Resource, value: str = "x.value", column: str = 'x."column"') -> str:
    """SQL of the 提交的值 cell: the value as sent, or for a personal item its first and last
    character with `*` between (only the first when it has three or fewer, none of one) and a note
    saying it is masked, so feedback.csv (plain text, outside the encrypted lake) holds none."""
    from common.sqltext import literal

    masked = masked_columns(resource)
    if not masked:
        return value
    n = f"length({value})"
    stars = (
        f"CASE WHEN {n} = 1 THEN '*' WHEN {n} <= 3 THEN left({value}, 1) || repeat('*', {n} - 1) "
        f"ELSE left({value}, 1) || repeat('*', {n} - 2) || right({value}, 1) END || {literal(MASKED_NOTE)}"
    )
    columns = ", ".join(literal(c) for c in masked)
    return f"CASE WHEN coalesce({value}, '') <> '' AND {column} IN ({columns}) THEN {stars} ELSE {value} END"


def write_feedback(con, resource: Resource, path: Path, outcome) -> None:
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
    texts = [(rule, column, *message(rule, items.get(column))) for rule, column in pairs]
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
    rows = con.sql(
        f"""
        SELECT r._row AS "行号", coalesce(n.item_name, nullif(x."column", '')) AS "信息项", nullif(x."column", '') AS "列代码",
               {submitted_value_sql(resource)} AS "提交的值", x.rule AS "问题代码",
               coalesce(m.zh, p.zh) AS "问题说明", coalesce(m.en, p.en) AS "description"
        FROM (SELECT _row, unnest(_reasons) AS x FROM reasons) r
        LEFT JOIN item_names n ON n."column" = x."column"
        LEFT JOIN messages m ON m.rule = x.rule AND m."column" = x."column"
        LEFT JOIN row_messages p ON p._row = r._row AND x."column" = ''
        ORDER BY r._row, x."column", x.rule
        """
    ).to_arrow_table()
    head = delivery_lines(resource, outcome)
    first = pa.table({c: pa.array([line[n] for line in head], rows.schema.field(c).type) for n, c in enumerate(COLUMNS)})
    with path.open("wb") as fh:
        fh.write(b"\xef\xbb\xbf")
        pacsv.write_csv(pa.concat_tables([first, rows.rename_columns(COLUMNS)]), fh)


def refusal_feedback(resource: Resource, refusal, folder: Path) -> Path:
    """feedback.csv for a delivery refused as a whole: one line saying why, in the same columns
    as any other feedback (written once per refused file content)."""
    import csv

    from common.atomic import staged_dir

    path = folder / "feedback.csv"
    if path.exists():
        return path
    item = next((i for i in resource.items if i.code == refusal.column), None)
    zh, en = message(refusal.code, item, **refusal.params)
    with staged_dir(folder) as tmp, (tmp / "feedback.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(COLUMNS)
        writer.writerow([refusal.row or "", item.name if item else "", refusal.column or "", "", refusal.code, zh, en])
    return path
