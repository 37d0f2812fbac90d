"""Sharing among departments in the browser (catalog/sharing.py decides): request a 有条件共享
resource of another department, and the provider's reviewer approves, refuses or revokes."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog import sharing
from catalog.accounts import Account
from catalog.entries import get_resource
from catalog.model import Resource
from common.errors import KcdataError
from web.auth import SignedIn, client_address, flash, get_store
from web.templates import templates

if TYPE_CHECKING:
    from catalog.store import CatalogStore
    from catalog.tables import SharingRequestRow

router = APIRouter()
DEFAULT_PERIOD = timedelta(days=90)  # what the request form proposes


def _resource(code: str) -> Resource:
    try:
        return get_resource(code)
    except KcdataError as exc:
        raise HTTPException(404, "没有这个资源 No such resource.") from exc


def _moment(text: str, field: str) -> datetime:
    """A datetime-local value ('2026-11-23T15:04' or with seconds), read as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise sharing.SharingRefused(f"{field}格式有误，应为 YYYY-MM-DD HH:MM[:SS] {field}: use YYYY-MM-DD HH:MM[:SS]") from exc
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def _page(request: Request, account: Account) -> Response:
    requests = sharing.requests_for(get_store(), account)
    return templates.TemplateResponse(request, "sharing/index.html", {
        "mine": requests.mine, "to_us": requests.to_us, "status_of": sharing.status, "labels": sharing.STATUS_LABELS,
        "may_decide": lambda row: sharing.may_decide(account, row), "nav": "sharing",
    })


@router.get("/sharing", response_class=HTMLResponse)
def sharing_index(request: Request, account: SignedIn) -> Response:
    return _page(request, account)


@router.get("/sharing/request/{code}", response_class=HTMLResponse)
def request_form(request: Request, code: str, account: SignedIn) -> Response:
    resource = _resource(code)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    return templates.TemplateResponse(request, "sharing/request.html", {
        "resource": resource, "refusal": sharing.request_refusal(account, resource), "error": "",
        "valid_from": now.isoformat(), "valid_until": (now + DEFAULT_PERIOD).isoformat(),
        "purpose": "", "nav": "sharing",
    }, status_code=200)


@router.post("/sharing/request/{code}")
async def make_request(
    request: Request, code: str, account: SignedIn, purpose: str = Form(""), valid_from: str = Form(""),
    valid_until: str = Form(""),
) -> Response:
    resource = _resource(code)
    refusal = sharing.request_refusal(account, resource)
    if refusal:
        return templates.TemplateResponse(request, "sharing/request.html", {
            "resource": resource, "refusal": refusal, "error": "", "nav": "sharing",
            "valid_from": valid_from, "valid_until": valid_until, "purpose": purpose,
        }, status_code=403)
    try:
        start, end = _moment(valid_from, "开始时间 Valid from"), _moment(valid_until, "截止时间 Valid until")
        row = await run_in_threadpool(
            sharing.request_access, get_store(), account, resource, purpose, start, end, client_address(request))
    except sharing.SharingRefused as exc:
        return templates.TemplateResponse(request, "sharing/request.html", {
            "resource": resource, "refusal": None, "error": str(exc), "nav": "sharing",
            "valid_from": valid_from, "valid_until": valid_until, "purpose": purpose,
        }, status_code=400)
    text = f"共享申请 #{row.id} 已提交，等待{resource.provider.name}审核 Request #{row.id} sent to {resource.provider.name_en}."
    return flash(RedirectResponse("/sharing", status_code=303), request, text, "success")


@router.post("/sharing/{request_id}/{step}")
async def decide(
    request: Request, request_id: int, step: str, account: SignedIn, reason: str = Form(""),
) -> Response:
    steps: dict[str, Callable[[CatalogStore, Account, int, str, str], SharingRequestRow]] = {
        "approve": sharing.approve, "refuse": sharing.refuse, "revoke": sharing.revoke}
    if step not in steps:
        raise HTTPException(404, "没有这个操作 No such action.")
    try:
        row = await run_in_threadpool(steps[step], get_store(), account, request_id, reason, client_address(request))
    except sharing.SharingForbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except sharing.SharingRefused as exc:
        return flash(RedirectResponse("/sharing", status_code=303), request, str(exc), "error")
    text = f"共享申请 #{row.id}：{sharing.STATUS_LABELS[row.status]}"
    return flash(RedirectResponse("/sharing", status_code=303), request, text, "success")
