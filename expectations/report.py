"""Feedback for the department: one line per problem cell, in Chinese, opened in Excel."""
from __future__ import annotations

from pathlib import Path

from catalog.model import Resource
from expectations.rules import RULES, rule


def write_feedback(con, resource: Resource, path: Path, held_back: tuple[str, str] | None = None) -> None:
    """Write feedback.csv (UTF-8 with BOM) from the `reasons` table on `con`.

    Columns: 行号 (data row, header excluded), 信息项, 列代码, 提交的值, 问题代码, 问题说明, description.
    When the whole version is held back (`held_back` says why, with the share and the limit), the
    first line says so (Chinese, English), without a row number, before the per-cell lines.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = pa.table(
        {"column": [i.code for i in resource.items], "item_name": [i.name for i in resource.items]}
    )
    seen = con.execute("SELECT DISTINCT x.rule FROM (SELECT unnest(_reasons) x FROM reasons)").fetchall()
    codes = sorted({*RULES, *(r for (r,) in seen)})
    messages = pa.table(
        {"rule": codes, "zh": [rule(c).zh for c in codes], "en": [rule(c).en for c in codes]}
    )
    con.register("item_names", names)
    con.register("rule_messages", messages)
    zh, en = held_back or (None, None)
    held = pa.table({"zh": pa.array([zh], pa.string()), "en": pa.array([en], pa.string())})
    con.register("held_back", held)
    table = con.sql(
        """
        SELECT * EXCLUDE (_first) FROM (
            SELECT TRUE AS _first, NULL::BIGINT AS "行号", NULL AS "信息项", NULL AS "列代码", NULL AS "提交的值",
                   'version-held-back' AS "问题代码", zh AS "问题说明", en AS "description"
            FROM held_back WHERE en IS NOT NULL
            UNION ALL
            SELECT FALSE, _row, coalesce(n.item_name, x."column"), x."column", x.value, x.rule, m.zh, m.en
            FROM (SELECT _row, unnest(_reasons) AS x FROM reasons) r
            LEFT JOIN item_names n ON n."column" = x."column"
            LEFT JOIN rule_messages m ON m.rule = x.rule
        )
        ORDER BY _first DESC, "行号", "列代码"
        """
    ).to_arrow_table()
    with path.open("wb") as fh:
        fh.write(b"\xef\xbb\xbf")
        pacsv.write_csv(table, fh)

