"""Sharing among departments (共享): one department asks for another's 有条件共享 resource, with a
purpose and a period; the providing department's reviewer (or a bureau admin) approves or refuses.

An approval is a time-limited grant: it counts from `valid_from` until `valid_until` and is
expired after (已过期). It can be revoked. 不予共享 resources cannot be requested at all and
无条件共享 ones need no request. Every step writes its audit event in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select

from catalog.accounts import Account, Role
from catalog.audit import add_event
from catalog.model import Resource, ShareType
from catalog.tables import SharingRequestRow
from common.errors import KcdataError

if TYPE_CHECKING:
    from catalog.store import CatalogStore

STATUS_LABELS = {
    "pending": "待审批 Pending",
    "approved": "已批准 Approved",
    "not_yet": "已批准，未到生效时间 Approved, not yet valid",
    "expired": "已过期 Expired",
    "refused": "已拒绝 Refused",
    "revoked": "已撤销 Revoked",
}


class SharingRefused(KcdataError):
    """A request or decision that the rules do not allow (the message says why)."""


class SharingForbidden(KcdataError):
    """The account may not take this step (the web answers 403)."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _naive(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def status(row: SharingRequestRow, now: datetime | None = None) -> str:
    """pending | approved | not_yet | expired | refused | revoked, as of `now`."""
    now = now or _now()
    if row.status != "approved":
        return row.status
    if now >= row.valid_until:
        return "expired"
    return "not_yet" if now < row.valid_from else "approved"


def request_refusal(account: Account | None, resource: Resource) -> str | None:
    """Why `account` cannot request `resource` (None: it can)."""
    if account is None or account.department is None or account.role is Role.bureau_admin:
        return "只有部门用户可以申请共享 Only a department's users can request sharing."
    if resource.share.type is ShareType.none:
        return "该资源不予共享，不能申请 This resource is not shared (不予共享); it cannot be requested."
    if account.department == resource.provider.slug:
        return "这是本部门的资源，无需申请 This is your own department's resource; no request is needed."
    if resource.share.type is ShareType.unconditional:
        return "该资源无条件共享，无需申请 This resource is shared unconditionally (无条件共享); no request is needed."
    return None


def request_access(
    store: CatalogStore, account: Account, resource: Resource, purpose: str, valid_from: datetime, valid_until: datetime,
    client: str = "", now: datetime | None = None,
) -> SharingRequestRow:
    now = now or _now()
    why_not = request_refusal(account, resource)
    if why_not:
        raise SharingRefused(why_not)
    purpose = purpose.strip()
    if not purpose:
        raise SharingRefused("请说明用途 Please state the purpose.")
    valid_from, valid_until = _naive(valid_from), _naive(valid_until)
    if valid_until <= valid_from:
        raise SharingRefused("截止时间须晚于开始时间 'Valid until' must be after 'valid from'.")
    if valid_until <= now:
        raise SharingRefused("截止时间已过 'Valid until' is in the past.")
    store.sync_resources([resource])
    with store.session() as s:
        row = SharingRequestRow(
            resource_code=resource.code, provider=resource.provider.slug, requester=account.department,
            requested_by=account.username, purpose=purpose, valid_from=valid_from, valid_until=valid_until,
            status="pending", requested_at=now, reason="",
        )
        s.add(row)
        s.flush()
        add_event(s, account.actor(client), "sharing.request", resource_code=resource.code, department=resource.provider.slug,
                  subject=f"#{row.id} {account.department} → {resource.code}",
                  detail={"request": row.id, "requester": account.department, "purpose": purpose,
                          "valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat()}, at=now)
        return row


def may_decide(account: Account | None, row: SharingRequestRow) -> bool:
    return account is not None and not account.disabled and (
        account.is_admin or (account.is_reviewer and account.department == row.provider))


def _decision(store: CatalogStore, account: Account, request_id: int, new_status: str, from_status: str, reason: str,
              client: str, now: datetime | None) -> SharingRequestRow:
    now = now or _now()
    with store.session() as s:
        row = s.get(SharingRequestRow, request_id)
        if row is None or not (may_decide(account, row) or account.department == row.requester):
            raise SharingForbidden("没有这个申请 No such request.")
        if not may_decide(account, row):
            raise SharingForbidden(
                "只有提供部门的审核员或数据局管理员可以决定 Only the providing department's reviewer or a bureau admin decides.")
        if row.status != from_status:
            raise SharingRefused(f"该申请当前为{STATUS_LABELS.get(status(row, now), row.status)}，不能再操作 "
                                 f"The request is {row.status}; this step no longer applies.")
        if new_status in ("refused", "revoked") and not reason.strip():
            raise SharingRefused("请填写理由 A reason is required.")
        row.status, row.decided_by, row.decided_at, row.reason = new_status, account.username, now, reason.strip()
        action = {"approved": "sharing.approve", "refused": "sharing.refuse", "revoked": "sharing.revoke"}[new_status]
        add_event(s, account.actor(client), action, resource_code=row.resource_code, department=row.provider,
                  subject=f"#{row.id} {row.requester} → {row.resource_code}",
                  detail={"request": row.id, "requester": row.requester, "reason": row.reason,
                          "valid_until": row.valid_until.isoformat()}, at=now)
        return row


def approve(store: CatalogStore, account: Account, request_id: int,
            reason: str = "", client: str = "", now: datetime | None = None) -> SharingRequestRow:
    return _decision(store, account, request_id, "approved", "pending", reason, client, now)


def refuse(store: CatalogStore, account: Account, request_id: int,
           reason: str, client: str = "", now: datetime | None = None) -> SharingRequestRow:
    return _decision(store, account, request_id, "refused", "pending", reason, client, now)


def revoke(store: CatalogStore, account: Account, request_id: int,
           reason: str, client: str = "", now: datetime | None = None) -> SharingRequestRow:
    return _decision(store, account, request_id, "revoked", "approved", reason, client, now)


def has_grant(store: CatalogStore, department: str | None, code: str, now: datetime | None = None) -> bool:
    """True while `department` holds an approved, unexpired grant on resource `code`."""
    if not department:
        return False
    now = now or _now()
    with store.session() as s:
        return s.scalar(select(SharingRequestRow.id).where(
            SharingRequestRow.requester == department, SharingRequestRow.resource_code == code,
            SharingRequestRow.status == "approved", SharingRequestRow.valid_from <= now,
            SharingRequestRow.valid_until > now).limit(1)) is not None


@dataclass(frozen=True)
class Requests:
    mine: list[SharingRequestRow]  # made by the account's department
    to_us: list[SharingRequestRow]  # to the account's department (all, for an admin)


def requests_for(store: CatalogStore, account: Account) -> Requests:
    with store.session() as s:
        newest = SharingRequestRow.id.desc()
        mine = list(s.scalars(select(SharingRequestRow).where(SharingRequestRow.requester == account.department)
                              .order_by(newest))) if account.department else []
        query = select(SharingRequestRow).order_by(newest)
        if not account.is_admin:
            query = query.where(SharingRequestRow.provider == account.department)
        return Requests(mine, list(s.scalars(query)))
