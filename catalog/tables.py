"""The catalog's state tables (SQLAlchemy 2). Changed only through Alembic migrations."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class ResourceRow(Base):
    """One catalog entry as last synced from YAML: the 全量 catalog, open or not."""

    __tablename__ = "resources"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200))
    department_slug: Mapped[str] = mapped_column(String(64))
    open_type: Mapped[str] = mapped_column(String(16))
    share_type: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str] = mapped_column(String(8))
    update_cycle: Mapped[str] = mapped_column(String(8))
    has_personal: Mapped[bool] = mapped_column(Boolean)
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)
    synced_at: Mapped[datetime] = mapped_column(DateTime)

    versions: Mapped[list[VersionRow]] = relationship(back_populates="resource", order_by="VersionRow.version")


class VersionRow(Base):
    """One version of a resource: one source file, landed and validated."""

    __tablename__ = "resource_versions"
    __table_args__ = (
        UniqueConstraint("resource_code", "fingerprint", "rules", name="uq_version_fingerprint_rules"),
        UniqueConstraint("resource_code", "version", name="uq_version_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    version: Mapped[int] = mapped_column(Integer)
    source_file: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    encoding: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rows_in: Mapped[int] = mapped_column(Integer)
    rows_accepted: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)
    schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    validation_passed: Mapped[bool] = mapped_column(Boolean)
    gx_success: Mapped[bool] = mapped_column(Boolean)
    problems_by_rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    raw_path: Mapped[str] = mapped_column(Text)
    validated_path: Mapped[str] = mapped_column(Text)
    quarantine_path: Mapped[str] = mapped_column(Text)
    landed_at: Mapped[datetime] = mapped_column(DateTime)
    validated_at: Mapped[datetime] = mapped_column(DateTime)
    rules: Mapped[str] = mapped_column(String(16), default="")  # signature of the rules it was validated under
    delivery_problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)  # drift, parse problems: {code, ...}
    produced_by: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # {dag_id, run_id, run_type, events}: the Airflow run

    resource: Mapped[ResourceRow] = relationship(back_populates="versions")


class LineageEdge(Base):
    """source -> raw -> validated -> curated, one edge per hop."""

    __tablename__ = "lineage_edges"
    __table_args__ = (UniqueConstraint("source_uri", "target_uri", name="uq_lineage_edge"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("resource_versions.id"), nullable=True)
    step: Mapped[str] = mapped_column(String(16))  # land | validate | quarantine | transform
    source_uri: Mapped[str] = mapped_column(Text)
    target_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ApprovalRow(Base):
    """A department reviewer's decision to publish a resource (or to withdraw that decision)."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    action: Mapped[str] = mapped_column(String(16))  # approve | withdraw
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # latest version at the time
    note: Mapped[str] = mapped_column(Text, default="")
    # True for the demo reviewer's approvals (kcdata run): they cover only `version`, which was made
    # from the generated sample files, never a later version of real data.
    sample_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)
    # What the reviewer saw: the published terms (open type; each item's type, sensitivity and
    # treatment) when approving. A later entry whose terms differ is not covered (portal/gate.py).
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class PublicationRow(Base):
    """What the portal holds for a resource: its CKAN dataset and the version published there."""

    __tablename__ = "publications"

    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    ckan_id: Mapped[str] = mapped_column(String(64))
    ckan_name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # published | retracted
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(DateTime)


class RefusedDelivery(Base):
    """A file refused as a whole: nothing of it landed, but the department and the bureau can
    look up why (the feedback file is written beside the lake's quarantine)."""

    __tablename__ = "refused_deliveries"
    __table_args__ = (UniqueConstraint("resource_code", "source_file", "fingerprint", name="uq_refused_delivery"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    source_file: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(48))
    level: Mapped[str] = mapped_column(String(16))
    row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    feedback_path: Mapped[str] = mapped_column(Text)
    refused_at: Mapped[datetime] = mapped_column(DateTime)
    produced_by: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the Airflow run that refused it


class FreshnessRow(Base):
    """Whether a resource was delivered within its update cycle, as the last freshness check saw
    it; `alerted_at` makes the overdue alert go out once per overdue period, not at every check."""

    __tablename__ = "resource_freshness"

    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # on_time | overdue | never (catalog.freshness.Status)
    last_delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: no deadline (不定时)
    overdue_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # the deadline missed
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # this period's alert went out
    checked_at: Mapped[datetime] = mapped_column(DateTime)  # the clock of the check


class NoticeRow(Base):
    """An e-mail about a refused delivery or a held-back version, claimed before it is sent: a
    retried task finds its claim and does not send it again."""

    __tablename__ = "notices_sent"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)  # kind|resource|what it is about
    resource_code: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class MetadataScoreRow(Base):
    """One metadata-quality measurement of a dataset on the portal (MQA-style: findability,
    accessibility, interoperability, reusability, contextuality), kept to show the trend."""

    __tablename__ = "metadata_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    measured_at: Mapped[datetime] = mapped_column(DateTime)
    points: Mapped[int] = mapped_column(Integer)
    max_points: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(16))  # excellent | good | sufficient | bad
    dimensions: Mapped[dict[str, Any]] = mapped_column(JSON)  # {dimension: {"points": n, "max": m}}
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{dimension, indicator, points, max, passed, detail}]
    source_url: Mapped[str] = mapped_column(Text)  # the DCAT record that was scored


class AccountRow(Base):
    """A person who signs in to the catalog web: a department's user or reviewer, or a bureau admin.

    `password` holds the scrypt parameters, salt and hash in one string (catalog/accounts.py),
    never the password itself."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))  # department_user | department_reviewer | bureau_admin
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)  # slug; None for an admin
    password: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime)


class WebSessionRow(Base):
    """A signed-in browser: only the SHA-256 of its random token is kept, so a copy of the store
    cannot be used to sign in."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    client: Mapped[str] = mapped_column(String(64), default="")


class LoginAttemptRow(Base):
    """One sign-in attempt, kept to refuse guessing (too many failures per name or address)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AuditEventRow(Base):
    """Who did what, when, from where: append-only (there is no update or delete API)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the department concerned
    action: Mapped[str] = mapped_column(String(48))
    resource_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    client: Mapped[str] = mapped_column(String(64), default="")


class SharingRequestRow(Base):
    """A department's request to use another department's 有条件共享 resource, and its answer."""

    __tablename__ = "sharing_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    provider: Mapped[str] = mapped_column(String(64))  # slug of the providing department
    requester: Mapped[str] = mapped_column(String(64))  # slug of the requesting department
    requested_by: Mapped[str] = mapped_column(String(64))  # username
    purpose: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime)
    valid_until: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | refused | revoked
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class GateResultRow(Base):
    """The newest publish attempt's outcome for a resource (published, blocked by the leak gate,
    waiting, not published and why): what `catalog show`, the resource page and `kcdata
    deliveries` tell the department instead of a task log."""

    __tablename__ = "gate_results"

    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))  # publisher.PublishResult.action
    reasons: Mapped[list[str]] = mapped_column(JSON)  # why not published (leak hits: file, column, rule, cells)
    waived: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # leak hits an exception allowed: [{column, rule, cells, exception}]
    checked_at: Mapped[datetime] = mapped_column(DateTime)


class GateExceptionRow(Base):
    """A reviewed exception to one leak-gate rule on one column of one resource (a land-certificate
    number read as a mobile number): who allowed it, why, and until when. Revoked, never deleted."""

    __tablename__ = "gate_exceptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"))
    column: Mapped[str] = mapped_column(String(200))  # item code
    rule: Mapped[str] = mapped_column(String(32))  # portal.leak_gate.RULES
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))  # the reviewer's username
    at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
