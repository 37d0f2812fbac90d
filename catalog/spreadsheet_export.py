"""The whole catalog as an Excel workbook in the columns of 《政务信息资源目录编制指南（试行）》.

Departments and the bureau exchange catalogs as spreadsheets, so the export follows the guide's
table: one row per resource on the first sheet (共享属性 and 开放属性 as grouped headers), one row
per 信息项 on the second. Every cell is text, and text that a spreadsheet would run as a formula
(starting with = + - @) is prefixed with an apostrophe.
"""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from catalog.licences import licence
from catalog.model import ItemType, Resource, Sensitivity
from catalog.store import CatalogStore
from catalog.tables import PublicationRow
from common.formulas import neutralise

# (group header or None, column header): a group spans its consecutive columns.
RESOURCE_COLUMNS: list[tuple[str | None, str]] = [
    (None, "信息资源分类"), (None, "信息资源名称"), (None, "信息资源代码"), (None, "信息资源提供方"), (None, "提供方代码"),
    (None, "信息资源摘要"), (None, "信息资源格式"), (None, "信息项信息"),
    ("共享属性", "共享类型"), ("共享属性", "共享条件"), ("共享属性", "共享方式"),
    ("开放属性", "是否向社会开放"), ("开放属性", "开放条件"),
    (None, "更新周期"), (None, "发布日期"), (None, "关联资源代码"),
    (None, "数据分级"), (None, "开放许可"), (None, "署名"), (None, "数据来源"), (None, "关键词"), (None, "门户地址"),
]
ITEM_COLUMNS = ["信息资源代码", "信息项名称", "信息项代码", "数据类型", "数据长度/单位", "敏感级别", "开放处理方式", "是否必填", "说明"]
TYPE_LABELS = {
    ItemType.C: "字符型 C", ItemType.N: "数值型 N", ItemType.I: "整数型 I", ItemType.D: "日期型 D",
    ItemType.T: "日期时间型 T", ItemType.L: "布尔型 L",
}
SENSITIVITY_LABELS: dict[Sensitivity | None, str] = {  # None: not declared yet
    Sensitivity.public: "公开", Sensitivity.internal: "内部", Sensitivity.personal: "个人信息",
    Sensitivity.sensitive_personal: "敏感个人信息",
}
MAX_WIDTH = 60


def _published_urls(store: CatalogStore | None) -> dict[str, str]:
    if store is None:
        return {}
    with store.session() as s:
        return {p.resource_code: p.url for p in s.scalars(select(PublicationRow).where(PublicationRow.state == "published"))}


def resource_row(r: Resource, portal_url: str = "") -> list[str]:
    """One resource in the guide's columns (RESOURCE_COLUMNS order)."""
    lic = licence(r.licence)
    return [
        r.category, r.name, r.code, r.provider.name, r.provider.code, r.summary, r.format,
        "；".join(f"{i.name}（{i.type.value}）" for i in r.items),
        r.share.type.value, r.share.condition or "", r.share.method,
        r.open.type.value, r.open.condition or "",
        r.update_cycle.value, r.published_at.isoformat(), "、".join(r.related),
        r.grade.value, f"{lic.title_zh}（{lic.spdx}）", r.attribution_text, r.origin, "、".join(r.all_keywords), portal_url,
    ]


def item_rows(r: Resource) -> list[list[str]]:
    return [
        [r.code, i.name, i.code, TYPE_LABELS[i.type], i.unit or "", SENSITIVITY_LABELS.get(i.sensitivity, "未声明"), i.treatment_label,
         "是" if i.required else "否", i.description]
        for i in r.items
    ]


def _width(text: str) -> float:
    """Display width: CJK characters take about two Latin ones."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _fit_columns(ws: Worksheet) -> None:
    widths: dict[int, float] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None:
                widths[cell.column] = max(widths.get(cell.column, 0), _width(str(cell.value)))
    for column, width in widths.items():
        ws.column_dimensions[get_column_letter(column)].width = min(MAX_WIDTH, max(8, width + 2))


def _resource_sheet(ws: Worksheet, resources: list[Resource], urls: dict[str, str]) -> None:
    ws.title = "信息资源目录"
    bold, centre = Font(bold=True), Alignment(horizontal="center", vertical="center", wrap_text=True)
    for col, (group, header) in enumerate(RESOURCE_COLUMNS, start=1):
        ws.cell(1, col, group or header)
        ws.cell(2, col, header)
    col = 1
    while col <= len(RESOURCE_COLUMNS):  # merge: a group across its columns, a plain header down both rows
        group = RESOURCE_COLUMNS[col - 1][0]
        end = col
        while group and end < len(RESOURCE_COLUMNS) and RESOURCE_COLUMNS[end][0] == group:
            end += 1
        if group:
            ws.merge_cells(start_row=1, start_column=col, end_row=1, end_column=end)
        else:
            ws.merge_cells(start_row=1, start_column=col, end_row=2, end_column=col)
        col = end + 1
    for row in ws.iter_rows(min_row=1, max_row=2):
        for cell in row:
            cell.font, cell.alignment = bold, centre
    for r in resources:
        ws.append([neutralise(v) for v in resource_row(r, urls.get(r.code, ""))])
    ws.freeze_panes = "D3"
    _fit_columns(ws)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = wrap


def _item_sheet(ws: Worksheet, resources: list[Resource]) -> None:
    ws.append(ITEM_COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in resources:
        for row in item_rows(r):
            ws.append([neutralise(v) for v in row])
    ws.freeze_panes = "A2"
    _fit_columns(ws)


def write_workbook(resources: list[Resource], store: CatalogStore | None, out: Path | BinaryIO) -> None:
    """Write the catalog workbook (sheets 信息资源目录 and 信息项) to a path or a binary stream."""
    wb = Workbook()
    _resource_sheet(wb.active, resources, _published_urls(store))
    _item_sheet(wb.create_sheet("信息项"), resources)
    wb.save(out)
