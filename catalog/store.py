"""The catalog state store: what version of each resource exists, how good it is, where it came from.

SQLite by default (lake/catalog.db), any SQLAlchemy URL via KCDATA_CATALOG_URL (PostgreSQL in
deployment). The schema is created and upgraded by Alembic on open, by one process at a time
and only when it is behind. Work on one resource is serialised by `CatalogStore.resource_lock`,
a lock the store itself holds (see catalog/locks.py), so it dies with the process holding it.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast, overload

from sqlalchemy import Select, create_engine, func, select
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Session

from catalog.approval_terms import published_terms
from catalog.audit import Actor, add_event
from catalog.locks import store_lock
from catalog.model import Resource
from catalog.tables import ApprovalRow, FreshnessRow, LineageEdge, PublicationRow, RefusedDelivery, ResourceRow, VersionRow

MIGRATIONS = Path(__file__).parent / "migrations"
DECISIONS = ("approve", "reject", "withdraw")  # what the publication gate counts
APPROVAL_ACTIONS = ("submit", *DECISIONS)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def migrate(engine: Engine, timeout: float | None = None) -> None:
    """Bring the schema to the newest Alembic revision, once: an up-to-date store is only read
    (no DDL, no lock), and a store that is behind is upgraded under the store's global migration
    lock, so processes opening a fresh store at the same moment never race to create its tables.
    A store found up to date is remembered for the process (its schema never goes back)."""
    key = _store_key(engine)
    if key in _CURRENT:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if _revisions(engine) != heads:
        with store_lock(engine, "migrate", "the catalog store's migration", timeout):
            if _revisions(engine) != heads:  # another process may have migrated while we waited
                with engine.begin() as connection:
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
    _CURRENT.add(key)


_CURRENT: set[str] = set()  # stores this process found or brought up to date


def _store_key(engine: Engine) -> str:
    """The store's URL, and for an SQLite file its inode (a file removed and made again is new)."""
    key = engine.url.render_as_string(hide_password=True)
    database = engine.url.database or ""
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:" and os.path.exists(database):
        key += f"#{os.stat(database).st_ino}"
    return key


def _revisions(engine: Engine) -> set[str]:
    """The Alembic revisions the store is at (empty for a new store)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def _latest(code: str, passing: bool = False) -> Select[VersionRow]:
    """SELECT of the newest version of `code` (only among versions that passed, if `passing`)."""
    query = select(VersionRow).where(VersionRow.resource_code == code)
    if passing:
        query = query.where(VersionRow.validation_passed.is_(True))
    return query.order_by(VersionRow.version.desc()).limit(1)


@dataclass(frozen=True)
class Edge:
    step: str
    source_uri: str
    target_uri: str


class CatalogStore:
    """Reads and writes catalog state; every write is idempotent."""

    def __init__(self, url: str) -> None:
        connect_args: dict[str, object] = {}
        if url.startswith("sqlite"):
            connect_args["timeout"] = 30  # several processes write at once: wait for a writer, briefly
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args=connect_args)
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def resource_lock(self, code: str, timeout: float | None = None) -> Iterator[None]:
        """Hold resource `code` for one run: landing, validating and recording it happen under
        this lock only, whoever runs them (scheduler, CLI, workers). The store holds it: a
        PostgreSQL session advisory lock, or a `flock`ed file beside the SQLite database, both
        released when the process dies. Waits at most `timeout` seconds (KCDATA_LOCK_TIMEOUT,
        15 minutes by default), then raises a LockTimeout naming the holder; re-entrant in a thread."""
        with store_lock(self.engine, f"resource-{code}", f"resource {code}", timeout):
            yield

    def sync_resources(self, resources: list[Resource]) -> None:
        """Upsert every catalog entry, so the store lists the whole catalog even before data."""
        with self.session() as s:
            for r in resources:
                row = s.get(ResourceRow, r.code) or ResourceRow(code=r.code)
                row.table_name = r.table
                row.name, row.name_en = r.name, r.name_en
                row.department, row.department_slug = r.provider.name, r.provider.slug
                row.open_type, row.share_type = r.open.type.value, r.share.type.value
                row.grade, row.update_cycle = r.grade.value, r.update_cycle.value
                row.has_personal = r.has_personal_items
                row.entry = r.model_dump(mode="json")
                row.synced_at = _now()
                s.add(row)

    def record_version(
        self, resource: Resource, landed: dict[str, Any], outcome: dict[str, Any], schema: list[dict[str, Any]], edges: list[Edge],
        run: dict[str, Any] | None = None,
    ) -> VersionRow:
        """Record one landed + validated batch and its lineage (and the Airflow `run` that made it);
        a known fingerprint returns its row."""
        self.sync_resources([resource])
        with self.session() as s:
            existing = s.scalar(
                select(VersionRow).where(
                    VersionRow.resource_code == resource.code,
                    VersionRow.fingerprint == landed["fingerprint"],
                    VersionRow.rules == outcome.get("rules", ""),
                )
            )
            if existing is not None:
                return existing
            number = (s.scalar(select(func.max(VersionRow.version)).where(VersionRow.resource_code == resource.code)) or 0) + 1
            row = VersionRow(
                resource_code=resource.code,
                version=number,
                source_file=landed["source_file"],
                fingerprint=landed["fingerprint"],
                encoding=landed.get("encoding"),
                rows_in=outcome["rows"],
                rows_accepted=outcome["accepted"],
                rows_quarantined=outcome["quarantined"],
                schema=schema,
                validation_passed=outcome["passed"],
                gx_success=outcome["gx_success"],
                problems_by_rule=outcome["by_rule"],
                raw_path=landed["raw_path"],
                validated_path=outcome["validated_path"],
                quarantine_path=outcome["quarantine_path"],
                landed_at=datetime.fromisoformat(landed["landed_at"]).replace(tzinfo=None),
                validated_at=datetime.fromisoformat(outcome["validated_at"].removesuffix("Z")),
                rules=outcome.get("rules", ""),
                delivery_problems=outcome.get("delivery_problems") or [],
                produced_by=run,
            )
            s.add(row)
            s.flush()
            self._add_edges(s, resource.code, row.id, edges)
            return row

    def record_refusal(self, resource: Resource, refusal: dict[str, Any]) -> RefusedDelivery:
        """Record a delivery refused as a whole (once per file and content)."""
        self.sync_resources([resource])
        with self.session() as s:
            existing = s.scalar(
                select(RefusedDelivery).where(
                    RefusedDelivery.resource_code == resource.code,
                    RefusedDelivery.source_file == refusal["source_file"],
                    RefusedDelivery.fingerprint == refusal["fingerprint"],
                )
            )
            if existing is not None:
                return existing
            row = RefusedDelivery(resource_code=resource.code, refused_at=_now(), **refusal)
            s.add(row)
            return row

    def refused_deliveries(self, code: str) -> list[RefusedDelivery]:
        with self.session() as s:
            query = select(RefusedDelivery).where(RefusedDelivery.resource_code == code).order_by(RefusedDelivery.id)
            return list(s.scalars(query))

    def fingerprints(self, code: str) -> set[str]:
        """Every delivery (file fingerprint) of `code` that has a version."""
        with self.session() as s:
            return set(s.scalars(select(VersionRow.fingerprint).where(VersionRow.resource_code == code)))

    def version_of(self, code: str, fingerprint: str, rules: str) -> VersionRow | None:
        """The version made by validating `fingerprint` under `rules`, if there is one."""
        with self.session() as s:
            return s.scalar(
                select(VersionRow).where(
                    VersionRow.resource_code == code, VersionRow.fingerprint == fingerprint, VersionRow.rules == rules
                )
            )

    def record_lineage(self, resource_code: str, edges: list[Edge], version_id: int | None = None) -> None:
        with self.session() as s:
            self._add_edges(s, resource_code, version_id, edges)

    def _add_edges(self, s: Session, code: str, version_id: int | None, edges: list[Edge]) -> None:
        for e in edges:
            known = s.scalar(
                select(LineageEdge).where(LineageEdge.source_uri == e.source_uri, LineageEdge.target_uri == e.target_uri)
            )
            if known is None:
                s.add(
                    LineageEdge(
                        resource_code=code, version_id=version_id, step=e.step,
                        source_uri=e.source_uri, target_uri=e.target_uri, created_at=_now(),
                    )
                )

    def resources(self) -> list[tuple[ResourceRow, VersionRow | None]]:
        """Every resource with its latest version (None before any data arrived)."""
        with self.session() as s:
            out = []
            for row in s.scalars(select(ResourceRow).order_by(ResourceRow.code)):
                out.append((row, s.scalar(_latest(row.code))))
            return out

    def resource(self, code: str) -> tuple[ResourceRow | None, list[VersionRow], list[LineageEdge]]:
        with self.session() as s:
            row = s.get(ResourceRow, code) or s.scalar(select(ResourceRow).where(ResourceRow.table_name == code))
            if row is None:
                return None, [], []
            versions = list(s.scalars(select(VersionRow).where(VersionRow.resource_code == row.code).order_by(VersionRow.version)))
            edges = list(s.scalars(select(LineageEdge).where(LineageEdge.resource_code == row.code).order_by(LineageEdge.id)))
            return row, versions, edges

    def latest_version(self, code: str) -> VersionRow | None:
        """The newest version of one resource (one query, not the whole catalog's)."""
        with self.session() as s:
            return s.scalar(_latest(code))

    def latest_passing_version(self, code: str) -> VersionRow | None:
        """The newest version that passed validation: what the marts and the open view show."""
        with self.session() as s:
            return s.scalar(_latest(code, passing=True))

    def latest_versions(self) -> dict[str, VersionRow]:
        return {row.code: v for row, v in self.resources() if v is not None}

    def record_approval(
        self, resource: Resource, action: str, by: str, note: str = "", sample_only: bool = False,
        actor: Actor | None = None,
    ) -> ApprovalRow:
        """Append a step of the approval workflow (the history is kept; the newest decision counts).

        `submit` asks the provider's reviewer to decide; `approve`, `reject` (a reason is required)
        and `withdraw` are decisions. With an `actor`, an audit event is written in the same
        transaction. `sample_only` marks a demo approval: it covers only the version that is latest
        now (made from generated sample files), so the gate refuses any later version until a
        person decides. An approval records the entry's publication terms it covers
        (catalog/approval_terms.py)."""
        if action not in APPROVAL_ACTIONS:
            raise ValueError(f"unknown approval action {action!r}")
        if not by.strip():
            raise ValueError("a reviewer name is required")
        if action == "reject" and not note.strip():
            raise ValueError("驳回须说明理由 a rejection needs a reason")
        self.sync_resources([resource])
        with self.session() as s:
            latest = s.scalar(select(func.max(VersionRow.version)).where(VersionRow.resource_code == resource.code))
            row = ApprovalRow(
                resource_code=resource.code, action=action, by=by.strip(), at=_now(), version=latest, note=note,
                sample_only=sample_only, terms=published_terms(resource) if action == "approve" else None,
            )
            s.add(row)
            if actor is not None:
                add_event(s, actor, f"approval.{action}", resource_code=resource.code, department=resource.provider.slug,
                          subject=resource.name, detail={"version": latest, "note": note}, at=row.at)
            return row

    def current_approval(self, code: str) -> ApprovalRow | None:
        """The newest decision (approve, reject or withdraw) for `code`, or None when nobody
        decided yet; a submission is a request, not a decision."""
        with self.session() as s:
            return s.scalar(
                select(ApprovalRow).where(ApprovalRow.resource_code == code, ApprovalRow.action.in_(DECISIONS))
                .order_by(ApprovalRow.id.desc()).limit(1)
            )

    def latest_workflow_step(self, code: str) -> ApprovalRow | None:
        """The newest row of any action, a submission included: what the resource waits for."""
        with self.session() as s:
            return s.scalar(
                select(ApprovalRow).where(ApprovalRow.resource_code == code).order_by(ApprovalRow.id.desc()).limit(1)
            )

    def awaiting_review(self, department: str | None = None) -> list[tuple[ResourceRow, ApprovalRow]]:
        """Resources whose newest workflow step is a submission (of `department`'s, or all)."""
        newest = select(func.max(ApprovalRow.id)).group_by(ApprovalRow.resource_code)
        query = (
            select(ResourceRow, ApprovalRow).join(ApprovalRow, ApprovalRow.resource_code == ResourceRow.code)
            .where(ApprovalRow.id.in_(newest), ApprovalRow.action == "submit").order_by(ApprovalRow.at)
        )
        if department is not None:
            query = query.where(ResourceRow.department_slug == department)
        with self.session() as s:
            return [(r, a) for r, a in s.execute(query)]

    def approvals(self, code: str) -> list[ApprovalRow]:
        with self.session() as s:
            return list(s.scalars(select(ApprovalRow).where(ApprovalRow.resource_code == code).order_by(ApprovalRow.id)))

    def publication(self, code: str) -> PublicationRow | None:
        with self.session() as s:
            return s.get(PublicationRow, code)

    def record_publication(self, code: str, **fields: object) -> PublicationRow:
        """Upsert what the portal holds for `code` (ckan_id, ckan_name, url, state, version, fingerprint)."""
        with self.session() as s:
            row = s.get(PublicationRow, code) or PublicationRow(resource_code=code)
            for key, value in fields.items():
                setattr(row, key, value)
            row.published_at = _now()
            s.add(row)
            return row

    # --- Freshness (catalog/freshness.py decides; flow/alerts.py checks, records and alerts) ---

    def last_deliveries(self) -> dict[str, datetime]:
        """Each resource's last delivery: the newest landing time (naive UTC) among its versions.

        A refused delivery has no version, so it never counts as delivered in time; a version
        validated again keeps its delivery's landing time."""
        with self.session() as s:
            query = select(VersionRow.resource_code, func.max(VersionRow.landed_at)).group_by(VersionRow.resource_code)
            return {code: at for code, at in s.execute(query)}

    def freshness_records(self) -> dict[str, FreshnessRow]:
        """What the last freshness check recorded, by resource code."""
        with self.session() as s:
            return {row.resource_code: row for row in s.scalars(select(FreshnessRow))}

    def record_freshness(
        self, code: str, status: str, due_at: datetime | None, last_delivered_at: datetime | None, checked_at: datetime
    ) -> FreshnessRow:
        """Upsert one resource's freshness as a check at `checked_at` found it.

        Overdue against a deadline not seen before starts a new overdue period, with no alert sent
        yet; any other status (a new delivery arrived) clears the period and its alert."""
        status = getattr(status, "value", status)  # catalog.freshness.Status or its value
        due_at, last_delivered_at, checked_at = _naive_utc(due_at), _naive_utc(last_delivered_at), _naive_utc(checked_at)
        with self.session() as s:
            row = s.get(FreshnessRow, code) or FreshnessRow(resource_code=code)
            row.status, row.due_at, row.last_delivered_at, row.checked_at = status, due_at, last_delivered_at, checked_at
            if status != "overdue":
                row.overdue_since = row.alerted_at = None
            elif row.overdue_since != due_at:
                row.overdue_since, row.alerted_at = due_at, None
            s.add(row)
            return row

    def claim_overdue_alert(self, code: str, overdue_since: datetime) -> bool:
        """Mark the alert of the overdue period that began at `overdue_since` as sent, atomically:
        True for the one caller that should send it, False when it was sent already."""
        from sqlalchemy import update

        claim = (
            update(FreshnessRow)
            .where(
                FreshnessRow.resource_code == code,
                FreshnessRow.overdue_since == _naive_utc(overdue_since),
                FreshnessRow.alerted_at.is_(None),
            )
            .values(alerted_at=_now())
        )
        with self.session() as s:
            # an UPDATE's result is a CursorResult, which the Session's signature does not say
            return cast(CursorResult[Any], s.execute(claim)).rowcount == 1

    def claim_notice(self, code: str, key: str) -> bool:
        """Claim the notice `key` (kind|resource|what it is about) as sent, atomically: True for the
        one caller that should send it, False when it was sent already (a retried task)."""
        from sqlalchemy.exc import IntegrityError

        from catalog.tables import NoticeRow

        try:
            with self.session() as s:
                s.add(NoticeRow(key=key[:512], resource_code=code, sent_at=_now()))
        except IntegrityError:
            return False
        return True

    def release_notice(self, key: str) -> None:
        """Undo a claim whose e-mail did not go out, so the retry sends it."""
        from sqlalchemy import delete

        from catalog.tables import NoticeRow

        with self.session() as s:
            s.execute(delete(NoticeRow).where(NoticeRow.key == key[:512]))

    def release_overdue_alert(self, code: str, overdue_since: datetime) -> None:
        """Undo a claim whose e-mail did not go out (no SMTP server, a refusal), so the next check tries again."""
        from sqlalchemy import update

        release = (
            update(FreshnessRow)
            .where(FreshnessRow.resource_code == code, FreshnessRow.overdue_since == _naive_utc(overdue_since))
            .values(alerted_at=None)
        )
        with self.session() as s:
            s.execute(release)


@overload
def _naive_utc(moment: datetime) -> datetime: ...
@overload
def _naive_utc(moment: None) -> None: ...
@overload
def _naive_utc(moment: datetime | None) -> datetime | None: ...
def _naive_utc(moment: datetime | None) -> datetime | None:
    """The store keeps naive UTC times (see `_now`); an aware time is converted first."""
    return moment if moment is None or moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def open_store(url: str | None = None) -> CatalogStore:
    from common.settings import get_paths

    return CatalogStore(url or get_paths().catalog_url)
