"""The exports page and the downloads of the whole catalog: DCAT-AP 3 (Turtle, JSON-LD) and a
spreadsheet, made by catalog.dcat_export and catalog.spreadsheet_export.

Each export is made once per state of the catalog (the snapshot's signature) and then served
from memory, so a harvester polling every minute costs nothing."""
from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from catalog import dcat_export as dcat
from catalog import spreadsheet_export as sheet
from common.settings import read_settings
from web.catalog_state import Snapshot, snapshots
from web.templates import templates

log = logging.getLogger("kcdata.web")
router = APIRouter()

DEFAULT_PORTAL_URL = "http://127.0.0.1:5000"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# name -> (media type, download file name, label zh, label en, what it is for)
EXPORTS = {
    "catalog.ttl": ("text/turtle; charset=utf-8", "kcdata-catalog.ttl", "DCAT-AP 3 Turtle", "DCAT-AP 3 (Turtle)",
                    "供数据门户和 data.europa.eu 等目录收割 For harvesters (CKAN DCAT, data.europa.eu), RDF Turtle"),
    "catalog.jsonld": ("application/ld+json; charset=utf-8", "kcdata-catalog.jsonld", "DCAT-AP 3 JSON-LD", "DCAT-AP 3 (JSON-LD)",
                       "同一目录的 JSON-LD 表示 The same catalogue as JSON-LD, for web tools"),
    "catalog.xlsx": (XLSX, "kcdata-catalog.xlsx", "目录表格", "Catalog spreadsheet (XLSX)",
                     "按《政务信息资源目录编制指南》字段列出全部资源与信息项 Every resource and item with the guide's fields"),
}

_cache: dict[tuple[str, tuple], bytes] = {}
_lock = threading.Lock()


def portal_url() -> str:
    """The DCAT base URI: the portal's address (KCDATA_CKAN_URL), default the local CKAN."""
    return (read_settings().ckan_url or DEFAULT_PORTAL_URL).rstrip("/")


def _dcat(fmt: str) -> Callable[[Snapshot], bytes]:
    def make(snapshot: Snapshot) -> bytes:
        graph = dcat.catalog_graph(list(snapshot.resources.values()), snapshots.store(), portal_url())
        return dcat.serialize(graph, fmt)

    return make


def _xlsx(snapshot: Snapshot) -> bytes:
    out = io.BytesIO()
    sheet.write_workbook(list(snapshot.resources.values()), snapshots.store(), out)
    return out.getvalue()


MAKERS: dict[str, Callable[[Snapshot], bytes]] = {
    "catalog.ttl": _dcat("turtle"),
    "catalog.jsonld": _dcat("json-ld"),
    "catalog.xlsx": _xlsx,
}


def export_bytes(name: str, snapshot: Snapshot) -> bytes:
    key = (name, snapshot.signature + (portal_url(),))
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    body = MAKERS[name](snapshot)
    with _lock:
        for old in [k for k in _cache if k[0] == name]:
            del _cache[old]
        _cache[key] = body
    return body


@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request) -> HTMLResponse:
    snapshot = snapshots.get()
    items = [{"href": f"/export/{name}", "file": spec[1], "zh": spec[2], "en": spec[3], "about": spec[4], "type": spec[0].split(";")[0]}
             for name, spec in EXPORTS.items()]
    return templates.TemplateResponse(request, "exports.html", {
        "nav": "exports", "exports": items, "count": len(snapshot.resources), "base_uri": portal_url(),
    })


@router.get("/export/{name}")
def export(name: str) -> Response:
    if name not in EXPORTS:
        raise HTTPException(404, f"没有名为 {name} 的导出 No export named {name}; see /exports")
    snapshot = snapshots.get()
    body = export_bytes(name, snapshot)
    media_type, filename = EXPORTS[name][0], EXPORTS[name][1]
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
