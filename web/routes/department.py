"""A department's problems: deliveries refused as a whole and quarantined rows per version, with
the reasons, as pages and as CSV files (UTF-8 with BOM, for Excel) to fix and resubmit.

Only the department's own people and bureau admins see them; anybody else gets 404 for every
URL under /department/<slug>/, so guessing codes or versions reveals nothing.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from catalog.accounts import Account
from catalog.entries import load_catalog, load_departments
from catalog.model import Resource
from catalog.tables import RefusedDelivery, VersionRow
from common.errors import KcdataError
from common.formulas import neutralise
from common.lake import FEEDBACK_FILE
from common.lake_store import lake_root
from common.problems import hide_paths
from web.auth import can_see_department, get_store, require_account
from web.templates import file_name, templates

log = logging.getLogger("kcdata.web")

router = APIRouter()
PREVIEW_LINES = 50
NOT_FOUND = "未找到 Not found."


def csv_response(header: list[str], rows: list[list], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([[neutralise(v) for v in row] for row in rows])
    return Response(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@dataclass(frozen=True)
class VersionProblems:
    version: VersionRow
    feedback: list[dict]  # lines of feedback.csv (行号, 信息项, 列代码, 提交的值, 问题代码, 问题说明, description)


@dataclass(frozen=True)
class ResourceProblems:
    resource: Resource
    refused: list[RefusedDelivery]
    versions: list[VersionProblems]


def _department_or_404(request: Request, slug: str) -> Account:
    account = require_account(request)
    if not can_see_department(account, slug) or slug not in load_departments():
        raise HTTPException(404, NOT_FOUND)
    return account


def _feedback(version: VersionRow) -> list[dict]:
    path = lake_root(version.quarantine_path).parent / FEEDBACK_FILE  # a local path or s3://
    if not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _problems(slug: str) -> list[ResourceProblems]:
    store = get_store()
    out = []
    for resource in load_catalog():
        if resource.provider.slug != slug:
            continue
        _, versions, _ = store.resource(resource.code)
        with_problems = [
            VersionProblems(v, _feedback(v)) for v in reversed(versions)
            if v.rows_quarantined or v.delivery_problems or not v.validation_passed
        ]
        out.append(ResourceProblems(resource, store.refused_deliveries(resource.code), with_problems))
    return out


def _resource_of(slug: str, code: str) -> Resource:
    for resource in load_catalog():
        if code in (resource.code, resource.table) and resource.provider.slug == slug:
            return resource
    raise HTTPException(404, NOT_FOUND)


@router.get("/department/{slug}/problems", response_class=HTMLResponse)
def problems_page(request: Request, slug: str) -> Response:
    _department_or_404(request, slug)
    department = load_departments()[slug]
    return templates.TemplateResponse(
        request, "department/problems.html",
        {"department": department, "problems": _problems(slug), "preview": PREVIEW_LINES, "nav": "department"},
    )


@router.get("/department/{slug}/problems/{code}/refused.csv")
def refused_csv(request: Request, slug: str, code: str) -> Response:
    _department_or_404(request, slug)
    resource = _resource_of(slug, code)
    rows = [
        [file_name(r.source_file), r.resource_code, r.row or "", r.column or "", r.code, hide_paths(r.message_zh), hide_paths(r.message_en),
         r.refused_at.isoformat(sep=" ", timespec="seconds")]
        for r in get_store().refused_deliveries(resource.code)
    ]
    header = ["文件 File", "资源代码 Code", "行号 Row", "列 Column", "问题代码 Problem", "问题说明", "description", "时间 When (UTC)"]
    return csv_response(header, rows, f"{resource.code}-refused.csv")


@router.get("/department/{slug}/problems/{code}/v{version}.csv")
def quarantine_csv(request: Request, slug: str, code: str, version: str) -> Response:
    """The quarantined rows of one version as sent, each with its reasons, to fix and resubmit."""
    _department_or_404(request, slug)
    resource = _resource_of(slug, code)
    _, versions, _ = get_store().resource(resource.code)
    row = next((v for v in versions if str(v.version) == version), None)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    try:
        header, lines = _quarantine_lines(resource, row)
    except KcdataError as exc:  # the lake's key is missing or wrong on this server: say so, keep the log
        log.error("quarantine of %s v%s cannot be opened: %s", resource.code, version, exc)
        raise HTTPException(503, "隔离数据暂时无法解密，数据局已记录。The quarantined rows cannot be decrypted on this "
                                 "server right now (the lake's key); the bureau has been told.") from None
    return csv_response(header, lines, f"{resource.code}-v{version}-quarantine.csv")


def _quarantine_lines(resource: Resource, version: VersionRow) -> tuple[list[str], list[list]]:
    """Lines about the whole delivery first (no row number), then each quarantined row's values
    as sent with its reasons joined (Chinese and English). The personal items are encrypted in
    the quarantine; the department's own people see them, decrypted with the lake's key. A row
    the reader could not split into the header's columns (ragged) shows its cells as parsed under
    the columns their positions have, masked where personal (expectations/ragged.py); fields past
    the header, or under columns no item claims, go to a last column."""
    from common.lake_crypto import read_table

    reasons: dict[str, list[dict]] = {}
    general: list[dict] = []
    for line in _feedback(version):
        (reasons.setdefault(line["行号"], []) if line.get("行号") else general).append(line)
    items = [i for i in resource.items if not i.derived]
    header = ["行号 Row", "问题说明", "description", "问题代码 Problem"] + [i.name for i in items]
    lines = [["", g.get("问题说明", ""), g.get("description", ""), g.get("问题代码", "")] + [""] * (len(items) + 1) for g in general]
    path = lake_root(version.quarantine_path)
    if path.is_file():
        table = read_table(path)
        present = set(table.column_names)
        for record in table.to_pylist():
            found = reasons.get(str(record.get("_row")), [])
            cells, other = _ragged(record.get("_cells"), {i.code for i in items})
            lines.append([
                record.get("_row"),
                "；".join(f"{r.get('信息项') or ''}：{r.get('问题说明')}".lstrip("：") for r in found),
                "; ".join(f"{r.get('列代码') or ''}: {r.get('description')}".lstrip(": ") for r in found),
                ",".join(sorted({r.get("问题代码", "") for r in found})),
            ] + [cells.get(i.code, record.get(i.code) if i.code in present else "") for i in items] + [other])
    if any(line[-1] for line in lines):
        header.append(OTHER_FIELDS)
    else:
        lines = [line[:len(header)] for line in lines]
    return header, lines


OTHER_FIELDS = "其他字段 Other fields (as parsed)"


def _ragged(cells: list[dict] | None, codes: set[str]) -> tuple[dict[str, str], str]:
    """A ragged row's cells by item code, and the others (past the header, unclaimed columns)
    joined with ` | `; nothing for a row the reader could split."""
    if not cells:
        return {}, ""
    by_item = {c["column"]: c["value"] or "" for c in cells if c["column"] in codes}
    other = " | ".join(c["value"] or "" for c in cells if c["column"] not in codes)
    return by_item, other
