"""The approval workflow in the browser: the same act as `kcdata catalog submit|approve|reject|
withdraw` (kcdata/approvals.py), from buttons on the resource page, and the review queue /review."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog.accounts import Account
from catalog.entries import get_resource
from catalog.model import Resource
from catalog.tables import ApprovalRow
from common.errors import KcdataError
from kcdata.approvals import ACTIONS, LABELS, NotAllowed, act, available_actions
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


def workflow_state(request: Request, resource: Resource) -> WorkflowState:
    """For `workflow/_actions.html` (a Jinja global, since the include gets only resource and request)."""
    from portal.publisher import gate_decision

    store = get_store()
    step = store.latest_workflow_step(resource.code)
    decision, _ = gate_decision(store, resource)
    return WorkflowState(
        available_actions(current_account(request), resource, store), store.current_approval(resource.code),
        step if step is not None and step.action == "submit" else None, decision.reasons,
    )


def _resource(code: str) -> Resource:
    try:
        return get_resource(code)
    except KcdataError as exc:
        raise HTTPException(404, "没有这个资源 No such resource.") from exc


def _by(account: Account) -> str:
    return f"{account.display_name} ({account.username})" if account.display_name else account.username


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
            act, resource, action, _by(account), note, actor=account.actor(client_address(request)), account=account,
            store=get_store(),
        )
    except NotAllowed as exc:
        raise HTTPException(403, str(exc)) from exc
    except KcdataError as exc:
        return flash(RedirectResponse(f"/resource/{resource.code}", status_code=303), request, str(exc), "error")
    zh, en = LABELS[action]
    text = f"{resource.code}：已{zh} {en} done. {outcome.publish_note}"
    return flash(RedirectResponse(f"/resource/{resource.code}", status_code=303), request, text, "success")


@router.get("/review", response_class=HTMLResponse)
def review_queue(
    request: Request, account: ReviewerOrAdmin,
) -> Response:
    rows = get_store().awaiting_review(None if account.is_admin else account.department)
    return templates.TemplateResponse(request, "workflow/review.html", {"rows": rows, "nav": "review"})


def install_globals() -> None:
    templates.env.globals.update(workflow_state=workflow_state, workflow_labels=LABELS)


install_globals()
