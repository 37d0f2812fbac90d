"""The audit log: who did what to which resource, when and from where.

Events are only ever added, in the same transaction as the act they record (`add_event` takes
the open session), so an act without its event cannot be stored. There is no update or delete.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.tables import AuditEventRow

if TYPE_CHECKING:
    from catalog.store import CatalogStore


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in account (`name` is its username) or the CLI (`cli:<NAME>`)."""

    name: str
    role: str | None = None
    department: str | None = None
    client: str = ""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def add_event(
    s: Session, actor: Actor, action: str, *, resource_code: str | None = None, department: str | None = None,
    subject: str = "", detail: dict[str, Any] | None = None, at: datetime | None = None,
) -> AuditEventRow:
    """Append one event inside the caller's transaction. `department` is the department the
    event concerns (the resource's provider), which decides which reviewers see it."""
    row = AuditEventRow(
        at=at or _now(), actor=actor.name[:100], role=actor.role, department=department or actor.department,
        action=action, resource_code=resource_code, subject=subject, detail=detail or {}, client=actor.client[:64],
    )
    s.add(row)
    return row


def record(store: CatalogStore, actor: Actor, action: str, **fields: Any) -> AuditEventRow:
    """Append one event in a transaction of its own (sign-in, sign-out: acts with no other row)."""
    with store.session() as s:
        return add_event(s, actor, action, **fields)


def events(
    store: CatalogStore, *, department: str | None = None, resource_code: str | None = None, action: str | None = None, limit: int = 500
) -> list[AuditEventRow]:
    """Newest first; `department` limits to the events concerning that department."""
    query = select(AuditEventRow)
    if department is not None:
        query = query.where(AuditEventRow.department == department)
    if resource_code:
        query = query.where(AuditEventRow.resource_code == resource_code)
    if action:
        query = query.where(AuditEventRow.action == action)
    with store.session() as s:
        return list(s.scalars(query.order_by(AuditEventRow.id.desc()).limit(limit)))


def actions(store: CatalogStore) -> list[str]:
    """Every action seen in the log (for the filter)."""
    with store.session() as s:
        return sorted(set(s.scalars(select(AuditEventRow.action).distinct())))
