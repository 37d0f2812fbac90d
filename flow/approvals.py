"""The approval workflow, one function for the CLI and the catalog web alike.

submit (提交发布申请) asks the providing department's reviewer to decide; approve (批准), reject
(驳回, with a reason) and withdraw (撤回批准) are decisions, which the publication gate reads
(portal/gate.py). Each step is an ApprovalRow with its audit event in the same transaction; a
decision then asks a running system for a publish run, so the portal follows at once (through
`request_publish`, handed in by the caller: the flow does not know the running system).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from catalog.accounts import Account, Role
from catalog.audit import Actor
from catalog.model import Resource
from catalog.store import CatalogStore, open_store
from catalog.tables import ApprovalRow
from common.errors import KcdataError

# Asks a running system for a publish run, saying why; the run id, or None when none runs here.
PublishRequest = Callable[[str], str | None]

ACTIONS = ("submit", "approve", "reject", "withdraw")
LABELS = {
    "submit": ("提交发布申请", "Submit for publication"),
    "approve": ("批准", "Approve"),
    "reject": ("驳回", "Reject"),
    "withdraw": ("撤回批准", "Withdraw approval"),
}
DONE = {
    "submit": "submitted for publication",
    "approve": "approved for publication",
    "reject": "rejected",
    "withdraw": "approval withdrawn",
}


# What a department does about a leak-gate block (the CLI, the web and e-mail say the same).
BLOCK_ADVICE = (
    "若命中的并非个人信息（如土地证号被识别为手机号），本部门审核员可登记有期限的例外；否则请修正该信息项的敏感级别或处理方式 "
    "If the matched values are not personal data (a land-certificate number read as a mobile number), a reviewer "
    "of the department records a time-limited exception: kcdata catalog allow {code} --column ITEM --rule RULE "
    "--reason TEXT --expires YYYY-MM-DD --by ACCOUNT (or on the resource page); otherwise correct the item's "
    "sensitivity or treatment in the catalog entry."
)


class NotAllowed(KcdataError):
    """The account may not take this step on this resource (the web answers 403)."""


@dataclass(frozen=True)
class Outcome:
    row: ApprovalRow
    run_id: str | None  # the publish run started on the running system, None when none runs here
    blocks: list[str] = field(default_factory=list)  # what keeps an approved resource off the portal anyway

    @property
    def publish_note(self) -> str:
        """What happens next, in words for the CLI and the web."""
        code = self.row.resource_code
        if self.row.action == "submit":
            return "已提交，等待本部门审核员决定 Submitted: the department's reviewer decides next."
        if self.blocks:
            return (f"但仍不能发布 Approved, but it will not be published: {'; '.join(self.blocks)}. "
                    f"{BLOCK_ADVICE.format(code=code)}")
        if self.run_id:
            return f"已请求发布运行 {self.run_id} A publish run started on the running system: {self.run_id}"
        return (f"系统未运行，发布将在下次运行时生效（或执行 kcdata publish {code}） "
                f"No running system here: the next publish run applies it (or `kcdata publish {code}`).")


def may(account: Account, action: str, resource: Resource) -> bool:
    """Roles: the provider's users and reviewers submit; its reviewers and bureau admins decide."""
    if action not in ACTIONS or account.disabled:
        return False
    own = account.department == resource.provider.slug
    if action == "submit":
        return own and account.role in (Role.department_user, Role.department_reviewer)
    return account.is_admin or (own and account.is_reviewer)


def available_actions(account: Account | None, resource: Resource, store: CatalogStore) -> list[str]:
    """The steps to offer `account` now: submit unless a submission waits; approve and reject
    while no approval stands (or a new submission came after it); withdraw an approval that stands."""
    if account is None:
        return []
    step = store.latest_workflow_step(resource.code)
    decision = store.current_approval(resource.code)
    pending = step is not None and step.action == "submit"
    approved = decision is not None and decision.action == "approve"
    wanted = []
    if not pending:
        wanted.append("submit")
    if pending or not approved:
        wanted += ["approve", "reject"]
    if approved:
        wanted.append("withdraw")
    return [a for a in wanted if may(account, a, resource)]


def act(
    resource: Resource, action: str, by: str, note: str = "", *, actor: Actor, account: Account | None = None,
    store: CatalogStore | None = None, request_publish: PublishRequest | None = None,
) -> Outcome:
    """Take one workflow step as `by` (the name on the record). A web `account` is checked against
    its role (NotAllowed otherwise); the CLI is the operator's own and passes none. Decisions then
    ask the running system for a publish run through `request_publish` (None: no system to ask)."""
    if action not in ACTIONS:
        raise KcdataError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if account is not None and not may(account, action, resource):
        raise NotAllowed(f"无权{LABELS[action][0]} you may not {LABELS[action][1].lower()} {resource.code}")
    store = store or open_store()
    try:
        row = store.record_approval(resource, action, by, note.strip(), actor=actor)
    except ValueError as exc:
        raise KcdataError(str(exc)) from exc
    run_id, blocks = None, []
    if action == "approve":  # said now, not only in a task log: what the gate will still refuse
        from portal.publisher import preview_blocks

        blocks = preview_blocks(resource, store=store)
    if action != "submit" and request_publish is not None:
        run_id = request_publish(f"{action} {resource.code} by {row.by}")
    return Outcome(row, run_id, blocks)


@dataclass(frozen=True)
class GateStatus:
    """Where a resource stands with the publication gate, for `catalog show` and the resource page."""

    reasons: list[str]  # why it is off the portal now (empty: it passes)
    waived: list[dict[str, Any]]  # leak hits that reviewed exceptions allowed in the newest publish run
    leak_blocked: bool = False

    @property
    def advice(self) -> str:
        return BLOCK_ADVICE if self.leak_blocked else ""


def gate_status(resource: Resource, store: CatalogStore) -> GateStatus:
    """The gate's rules now, plus the newest publish run's leak-gate outcome when it was about
    the latest version (a block is shown here, not only in a task log)."""
    from catalog import gate_records
    from portal.publisher import gate_decision

    decision, latest = gate_decision(store, resource)
    last = gate_records.result(store, resource.code)
    reasons = list(decision.reasons)
    if last is None or latest is None or last.version != latest.version:  # not about the latest version
        return GateStatus(reasons, [], False)
    blocked = not reasons and last.action == "blocked"
    if blocked:
        reasons = list(last.reasons)
    return GateStatus(reasons, list(last.waived), blocked)
