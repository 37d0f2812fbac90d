"""The leak gate's record: each resource's newest publish outcome, and reviewed exceptions.

A block that only a task log shows helps nobody, so every publish attempt stores its outcome
(`gate_results`), which `kcdata catalog show`, the catalog web's resource page and `kcdata
deliveries` read. A false positive (a land-certificate number read as a mobile number) is
answered by a department reviewer's exception to one rule on one column, with a reason and an
expiry, written with its audit event in the same transaction; it is revoked, never deleted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from catalog.accounts import Account
from catalog.audit import Actor, add_event
from catalog.model import Resource
from catalog.tables import GateExceptionRow, GateResultRow, ResourceRow
from common.errors import KcdataError

if TYPE_CHECKING:
    from catalog.store import CatalogStore

LEAK_RULES = ("id_card", "mobile", "bank_card", "email", "personal_value")  # portal/leak_gate.py RULES
MAX_EXCEPTION_DAYS = 366  # an exception is reviewed again at least once a year


class ExceptionRefused(KcdataError):
    """An exception the rules do not allow (the message says why)."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _naive(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class LeakFinding:
    """One rule's cells in one column of one published file (never the values)."""

    file: str
    column: str  # the item code
    rule: str
    cells: int

    def text(self) -> str:
        return f"leak gate: {self.file} column {self.column}: {self.rule} in {self.cells:,} cell(s)"


def record_result(store: CatalogStore, resource: Resource, version: int | None, action: str, reasons: list[str],
                  waived: list[dict[str, Any]]) -> None:
    """Keep the newest publish outcome of `resource` (one row per resource, replaced each time)."""
    code = resource.code
    with store.session() as s:
        known = s.get(ResourceRow, code) is not None
    if not known:  # a resource never delivered nor approved: its catalog row first
        store.sync_resources([resource])
    with store.session() as s:
        row = s.get(GateResultRow, code) or GateResultRow(resource_code=code)
        row.version, row.action, row.reasons, row.waived, row.checked_at = version, action, reasons, waived, _now()
        s.add(row)


def result(store: CatalogStore, code: str) -> GateResultRow | None:
    with store.session() as s:
        return s.get(GateResultRow, code)


def _may_except(account: Account, resource: Resource) -> bool:
    """A reviewer of the providing department, or a bureau admin (as for approvals)."""
    return account.is_admin or (account.is_reviewer and account.department == resource.provider.slug)


def add_exception(
    store: CatalogStore, resource: Resource, column: str, rule: str, reason: str, expires_at: datetime, account: Account,
    actor: Actor,
) -> GateExceptionRow:
    """A reviewer of the providing department (or a bureau admin) allows `rule` on `column`
    until `expires_at`; refused with the reason when the request does not fit the rules."""
    if not _may_except(account, resource):
        raise ExceptionRefused(
            f"只有{resource.provider.name}的审核员可以登记例外 only a reviewer of {resource.provider.slug} "
            f"(or a bureau admin) may record a leak-gate exception for {resource.code}; {account.username} is "
            f"{account.role.value}{' of ' + account.department if account.department else ''}")
    item = next((i for i in resource.items if i.code == column), None)
    if item is None:
        raise ExceptionRefused(f"{resource.code} has no item {column!r}; items: {', '.join(i.code for i in resource.items)}")
    if item.personal and item.sensitivity is not None:
        raise ExceptionRefused(f"{resource.code} item {column} is {item.sensitivity.value}: personal data is never "
                               "allowed through the leak gate; its treatment decides what is published")
    if rule not in LEAK_RULES:
        raise ExceptionRefused(f"unknown leak-gate rule {rule!r}; one of {', '.join(LEAK_RULES)}")
    if not reason.strip():
        raise ExceptionRefused("an exception needs a reason (what the matched values really are)")
    now, expires_at = _now(), _naive(expires_at)
    if expires_at <= now:
        raise ExceptionRefused(f"the expiry {expires_at:%Y-%m-%d} is in the past")
    if (expires_at - now).days > MAX_EXCEPTION_DAYS:
        raise ExceptionRefused(f"an exception lasts at most {MAX_EXCEPTION_DAYS} days; review it again then")
    with store.session() as s:
        row = GateExceptionRow(resource_code=resource.code, column=column, rule=rule, reason=reason.strip(),
                               by=account.username, at=now, expires_at=expires_at)
        s.add(row)
        s.flush()
        add_event(s, actor, "gate.exception", resource_code=resource.code, department=resource.provider.slug,
                  subject=resource.name, at=now,
                  detail={"id": row.id, "column": column, "rule": rule, "reason": row.reason,
                          "expires_at": expires_at.isoformat(timespec="seconds")})
        return row


def revoke_exception(store: CatalogStore, resource: Resource, exception_id: int, account: Account, actor: Actor) -> GateExceptionRow:
    """End an exception at once (the next publish run applies the rule again)."""
    if not _may_except(account, resource):
        raise ExceptionRefused(f"only a reviewer of {resource.provider.slug} (or a bureau admin) may revoke it")
    with store.session() as s:
        row = s.get(GateExceptionRow, exception_id)
        if row is None or row.resource_code != resource.code:
            raise ExceptionRefused(f"{resource.code} has no leak-gate exception #{exception_id}")
        if row.revoked_at is None:
            row.revoked_at, row.revoked_by = _now(), account.username
            add_event(s, actor, "gate.exception_revoked", resource_code=resource.code,
                      department=resource.provider.slug, subject=resource.name,
                      detail={"id": row.id, "column": row.column, "rule": row.rule}, at=row.revoked_at)
        return row


def exceptions(store: CatalogStore, code: str) -> list[GateExceptionRow]:
    """Every exception of `code`, newest first (expired and revoked ones included)."""
    with store.session() as s:
        return list(s.scalars(select(GateExceptionRow).where(GateExceptionRow.resource_code == code)
                              .order_by(GateExceptionRow.id.desc())))


def active(row: GateExceptionRow, now: datetime | None = None) -> bool:
    return row.revoked_at is None and (now or _now()) < row.expires_at


def status_label(row: GateExceptionRow, now: datetime | None = None) -> str:
    if row.revoked_at is not None:
        return f"已撤销 revoked {row.revoked_at:%Y-%m-%d} by {row.revoked_by}"
    if not active(row, now):
        return f"已过期 expired {row.expires_at:%Y-%m-%d}"
    return f"有效至 valid until {row.expires_at:%Y-%m-%d}"


def allowed(store: CatalogStore, code: str, now: datetime | None = None) -> dict[tuple[str, str], int]:
    """(column, rule) -> id of the exception that allows it now."""
    return {(r.column, r.rule): r.id for r in reversed(exceptions(store, code)) if active(r, now)}
