"""The approval workflow in the browser: the same act as `kcdata catalog submit|approve|reject|
withdraw` (flow/approvals.py), from buttons on the resource page, and the review queue /review."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog import gate_records
from catalog.entries import get_resource
from catalog.model import Resource
from catalog.tables import ApprovalRow, GateExceptionRow
from common.errors import KcdataError
from flow.approvals import ACTIONS, LABELS, NotAllowed, act, available_actions, gate_status, may
from system.running import request_publish
from web.auth import ReviewerOrAdmin, SignedIn, client_address, current_account, flash, get_store
from web.templates import templates

router = APIRouter()


@dataclass(frozen=True)
class WorkflowState:
    """What the resource page's workflow box shows."""

    actions: list[str]
    decision: ApprovalRow | None  # newest approve/reject/withdraw
    pending: ApprovalRow | None  # a submission waiting for a decision
    gate_reasons: list[str]  # why the gate keeps it off the portal now (empty: it publishes)
    gate_advice: str  # what the department can do about a leak-gate block ("" otherwise)
    waived: list[dict]  # leak hits the newest publish run allowed by an exception
    exceptions: list[tuple[GateExceptionRow, str]]  # (exception, its status) newest first
    may_except: bool  # this account may record a leak-gate exception here


def workflow_state(request: Request, resource: Resource) -> WorkflowState:
    """For `workflow/_actions.html` (a Jinja global, since the include gets only resource and request)."""
    store = get_store()
    account = current_account(request)
    step = store.latest_workflow_step(resource.code)
    gate = gate_status(resource, store)
    rows = gate_records.exceptions(store, resource.code)
    return WorkflowState(
        available_actions(account, resource, store), store.current_approval(resource.code),
        step if step is not None and step.action == "submit" else None, gate.reasons,
        gate.advice.format(code=resource.code), gate.waived, [(r, gate_records.status_label(r)) for r in rows],
        account is not None and may(account, "approve", resource),
    )


def _resource(code: str) -> Resource:
    try:
        return get_resource(code)
    except KcdataError as exc:
        raise HTTPException(404, "没有这个资源 No such resource.") from exc


@router.post("/resource/{code}/workflow/{action}")
async def take_step(
    request: Request, code: str, action: str, account: SignedIn, note: str = Form(""),
) -> Response:
    if action not in ACTIONS:
        raise HTTPException(404, "没有这个操作 No such action.")
    resource = _resource(code)
    if action == "reject" and not note.strip():
        response = RedirectResponse(f"/resource/{resource.code}", status_code=303)
        return flash(response, request, "驳回须填写理由 A rejection needs a reason.", "error")
    try:
        outcome = await run_in_threadpool(
            act, resource, action, account.record_name, note, actor=account.actor(client_address(request)), account=account,
            store=get_store(), request_publish=request_publish,
        )
    except NotAllowed as exc:
        raise HTTPException(403, str(exc)) from exc
    except KcdataError as exc:
        return flash(RedirectResponse(f"/resource/{resource.code}", status_code=303), request, str(exc), "error")
    zh, en = LABELS[action]
    text = f"{resource.code}：已{zh} {en} done. {outcome.publish_note}"
    return flash(RedirectResponse(f"/resource/{resource.code}", status_code=303), request, text, "success")


@router.post("/resource/{code}/gate-exception")
async def record_exception(
    request: Request, code: str, account: SignedIn, column: str = Form(...), rule: str = Form(...),
    reason: str = Form(""), expires: str = Form(...),
) -> Response:
    """A reviewer's time-limited exception to one leak-gate rule on one column (as `kcdata catalog allow`)."""
    from datetime import datetime

    resource = _resource(code)
    back = RedirectResponse(f"/resource/{resource.code}", status_code=303)
    if not may(account, "approve", resource):
        raise HTTPException(403, "只有本部门审核员可以登记例外 Only a reviewer of the providing department may record an exception.")
    try:
        until = datetime.strptime(expires, "%Y-%m-%d")
        row = await run_in_threadpool(gate_records.add_exception, get_store(), resource, column, rule, reason, until,
                                      account, account.actor(client_address(request)))
    except ValueError:
        return flash(back, request, "有效期格式应为 YYYY-MM-DD The expiry must be a date, YYYY-MM-DD.", "error")
    except KcdataError as exc:
        return flash(back, request, str(exc), "error")
    await run_in_threadpool(request_publish, f"leak-gate exception #{row.id} on {resource.code}")
    return flash(back, request, f"{resource.code}：已登记例外 #{row.id} Exception #{row.id} recorded: {row.rule} allowed on "
                 f"{row.column} until {row.expires_at:%Y-%m-%d}; the next publish run applies it.", "success")


@router.get("/review", response_class=HTMLResponse)
def review_queue(
    request: Request, account: ReviewerOrAdmin,
) -> Response:
    rows = get_store().awaiting_review(None if account.is_admin else account.department)
    return templates.TemplateResponse(request, "workflow/review.html", {"rows": rows, "nav": "review"})


def resource_deliveries(resource: Resource) -> list:
    """The resource's newest deliveries and where each stands (as `kcdata deliveries` shows them)."""
    from common.settings import get_paths
    from flow.deliveries import deliveries

    return deliveries(resource, get_paths(), get_store(), limit=10)


def install_globals() -> None:
    templates.env.globals.update(workflow_state=workflow_state, workflow_labels=LABELS, leak_rules=gate_records.LEAK_RULES,
                                 resource_deliveries=resource_deliveries)


install_globals()
