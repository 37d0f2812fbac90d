"""The catalog workbook: the 编制指南 columns, one row per resource and per 信息项, and no
formula a spreadsheet would run."""
from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook

from catalog.entries import get_resource, load_catalog
from catalog.spreadsheet_export import write_workbook
from catalog.store import CatalogStore

GUIDE_COLUMNS = [
    "信息资源分类", "信息资源名称", "信息资源代码", "信息资源提供方", "提供方代码", "信息资源摘要", "信息资源格式", "信息项信息",
    "共享类型", "共享条件", "共享方式", "是否向社会开放", "开放条件", "更新周期", "发布日期", "关联资源代码",
]


def _rows(ws) -> list[list]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def _headers(ws) -> list[str]:
    """What a reader sees above each column: the row-2 header, or the header merged over rows 1-2."""
    top, sub = _rows(ws)[:2]
    return [b or a for a, b in zip(top, sub, strict=True)]


def test_workbook_has_the_guide_columns_and_one_row_per_resource(tmp_path: Path):
    store = CatalogStore("sqlite:///" + str(tmp_path / "catalog.db"))
    store.sync_resources(load_catalog())
    store.record_publication("KC-WSJK-001", ckan_id="x", ckan_name="kc-wsjk-001", url="http://portal.example/dataset/kc-wsjk-001",
                             state="published", version=1, fingerprint="a" * 64)
    out = tmp_path / "catalog.xlsx"
    write_workbook(load_catalog(), store, out)

    wb = load_workbook(out)
    assert wb.sheetnames == ["信息资源目录", "信息项"]
    ws = wb["信息资源目录"]
    rows = _rows(ws)
    headers = _headers(ws)
    assert headers[: len(GUIDE_COLUMNS)] == GUIDE_COLUMNS
    assert rows[0][8] == "共享属性" and rows[0][11] == "开放属性"  # grouped headers
    assert ws["A1"].font.bold and ws["I2"].font.bold
    assert ws.freeze_panes == "D3"
    body = rows[2:]
    assert sorted(r[2] for r in body) == sorted(r.code for r in load_catalog())
    by_code = {r[2]: dict(zip(headers, r, strict=True)) for r in body}
    inspections = get_resource("KC-YJGL-001")
    assert by_code["KC-YJGL-001"]["共享类型"] == "有条件共享"
    assert by_code["KC-YJGL-001"]["共享条件"] == inspections.share.condition
    assert by_code["KC-YJGL-001"]["关联资源代码"] == "、".join(inspections.related)
    assert "统一社会信用代码（C）" in by_code["KC-SCJG-001"]["信息项信息"]
    assert by_code["KC-WSJK-001"]["门户地址"] == "http://portal.example/dataset/kc-wsjk-001"
    assert ws.column_dimensions["F"].width > ws.column_dimensions["E"].width  # the summary gets room

    items = _rows(wb["信息项"])
    assert items[0][:6] == ["信息资源代码", "信息项名称", "信息项代码", "数据类型", "数据长度/单位", "敏感级别"]
    assert len(items) - 1 == sum(len(r.items) for r in load_catalog())
    capital = next(r for r in items if r[2] == "registered_capital")
    assert capital[3] == "数值型 N" and capital[4] == "万元"
    assert next(r for r in items if r[2] == "legal_representative")[5] == "个人信息"


def test_formula_like_text_is_neutralised():
    entry = get_resource("KC-SCJG-001").model_copy(update={"summary": "=HYPERLINK(\"http://evil\")", "origin": "@SUM(A1)"})
    buffer = io.BytesIO()
    write_workbook([entry], None, buffer)
    ws = load_workbook(io.BytesIO(buffer.getvalue()))["信息资源目录"]
    row = {h: c for h, c in zip(_headers(ws), ws[3], strict=True)}
    assert row["信息资源摘要"].data_type == "s" and row["信息资源摘要"].value == "'=HYPERLINK(\"http://evil\")"
    assert row["数据来源"].value == "'@SUM(A1)"
