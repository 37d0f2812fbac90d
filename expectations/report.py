"""Feedback for the department: one line per problem cell, in Chinese, opened in Excel."""
from __future__ import annotations

from pathlib import Path

from catalog.model import Resource
from expectations.rules import RULES, rule


def write_feedback(con, resource: Resource, path: Path) -> None:
    """Write feedback.csv (UTF-8 with BOM) from the `reasons` table on `con`.

    Columns: 行号 (data row, header excluded), 信息项, 列代码, 提交的值, 问题代码, 问题说明, description.
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
    table = con.sql(
        """
        SELECT _row AS "行号", coalesce(n.item_name, x."column") AS "信息项", x."column" AS "列代码",
               x.value AS "提交的值", x.rule AS "问题代码", m.zh AS "问题说明", m.en AS "description"
        FROM (SELECT _row, unnest(_reasons) AS x FROM reasons) r
        LEFT JOIN item_names n ON n."column" = x."column"
        LEFT JOIN rule_messages m ON m.rule = x.rule
        ORDER BY _row, x."column"
        """
    ).to_arrow_table()
    with path.open("wb") as fh:
        fh.write(b"\xef\xbb\xbf")
        pacsv.write_csv(table, fh)
