"""The audit log in the browser: bureau admins see every event, reviewers their department's."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from catalog import audit
from web.auth import ReviewerOrAdmin, get_store
from web.templates import templates

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, account: ReviewerOrAdmin, resource: str = "", action: str = "",
) -> Response:
    store = get_store()
    department = None if account.is_admin else account.department
    rows = audit.events(store, department=department, resource_code=resource.strip() or None, action=action.strip() or None)
    return templates.TemplateResponse(request, "audit/index.html", {
        "events": rows, "actions": audit.actions(store), "resource": resource, "action": action, "nav": "audit",
    })
