"""The catalog pages: search with facets (`/`, `/search`) and one resource (`/resource/{code}`)."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from web.catalog_state import snapshots
from web.resource_view import resource_page
from web.search import search
from web.search_view import SearchParams, search_page
from web.templates import templates

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
@router.get("/search", response_class=HTMLResponse)
def search_view(request: Request) -> HTMLResponse:
    """Query-string driven (?q=空气&department=…&open_type=…), so every result page is a shareable URL."""
    snapshot = snapshots.get()
    params = SearchParams.from_query(request.query_params, snapshot.index)
    result = search(snapshot.index, params.query, params.selection, params.page)
    return templates.TemplateResponse(request, "search.html", search_page(params, result, snapshot))


@router.get("/resource/{code}", response_class=HTMLResponse)
def resource_view(request: Request, code: str) -> HTMLResponse:
    snapshot = snapshots.get()
    resource = snapshot.resource(code)
    if resource is None:
        raise HTTPException(404, f"目录中没有代码为 {code} 的信息资源。No resource with the code {code} is in the catalog.")
    account = getattr(request.state, "account", None)
    context = resource_page(resource, snapshot, snapshots.store(), account)
    return templates.TemplateResponse(request, "resource.html", context)
