"""Freshness checks and notification e-mails, wired: catalog + store + notify, sent with the SMTP settings handed in.

- `notify_refused` / `notify_failed`: after an ingest, the department's contact and the bureau hear
  about files refused as a whole and versions held back (the ingest DAG's `notify` task).
- `check_freshness`: every resource against its update cycle (catalog/freshness.py); the status is
  recorded in the catalog store and an overdue resource's alert goes out once per overdue period;
  a new delivery clears it (the `govern__freshness` DAG, `kcdata freshness --check`).
- `freshness_overview`: every resource's freshness for display (`kcdata catalog list`, `kcdata freshness`).

Every sending function takes `smtp_settings`: what finds the SMTP settings when there is something
to send (Airflow's `[smtp]` configuration: orchestration/smtp.py; the flow never reads it). With no
host configured (None), each message is logged and skipped: nothing fails for want of a mail
server. Every function returns what was sent (`notify.messages.Message.to_dict()`: JSON-friendly,
fit for XCom).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from catalog.entries import load_bureau, load_catalog
from catalog.freshness import Freshness, Status, freshness, utc
from catalog.model import Resource
from catalog.store import CatalogStore, open_store
from catalog.tables import RefusedDelivery
from common.settings import read_settings
from notify.mail import MailError, SmtpSettings, send
from notify.messages import (
    HeldBackNotice,
    Message,
    RefusalNotice,
    blocked_message,
    held_back_message,
    overdue_message,
    refused_message,
)

log = logging.getLogger("kcdata.alerts")

# Finds the SMTP settings when there is something to send; None: no SMTP host configured.
SmtpLookup = Callable[[], SmtpSettings | None]


def web_url() -> str | None:
    """The web app's base URL (`KCDATA_WEB_URL`): when set, e-mails link `<web>/resources/<code>`."""
    return read_settings().web_url


def _deliver(messages: list[Message], smtp_settings: SmtpLookup) -> list[dict[str, Any]]:
    """Send, or log and skip when no SMTP host is configured or the server is unreachable."""
    if not messages:
        return []
    settings = smtp_settings()
    if settings is None:
        log.warning("no SMTP host configured (Airflow [smtp] smtp_host, AIRFLOW__SMTP__SMTP_HOST): %d e-mail(s) not sent (%s)",
                    len(messages), ", ".join(f"{m.kind} {m.resource}" for m in messages))
        for m in messages:
            log.info("not sent to %s: %s", ", ".join(m.recipients), m.subject)
        return []
    try:
        sent = send(messages, settings)
    except MailError as exc:
        log.error("%s; %d message(s) not sent", exc, len(messages))
        return []
    for m in sent:
        log.info("sent to %s: %s", ", ".join(m.recipients), m.subject)
    return [m.to_dict() for m in sent]


# --- refused deliveries and held-back versions -------------------------------------------------


def _field(item: Any, name: str, default: Any = None) -> Any:
    return item.get(name, default) if isinstance(item, dict) else getattr(item, name, default)


def _refusal_notice(records: list[RefusedDelivery], item: Any) -> RefusalNotice:
    """The refusal as the catalog recorded it (messages in zh and en), found by file and code."""
    source, code = str(_field(item, "source_file", "")), _field(item, "code")
    record = next((r for r in reversed(records) if r.source_file == source and code in (None, r.code)), None)
    if record is not None:
        return RefusalNotice(Path(record.source_file).name, record.code, record.message_zh, record.message_en,
                             record.feedback_path, record.row, record.column, delivered_at=record.refused_at)
    message = str(_field(item, "message", ""))  # not recorded (should not happen): the one-paragraph message
    return RefusalNotice(Path(source).name, str(code), message, message, str(_field(item, "feedback_path", "")))


def _deliver_once(message: Message, code: str, once: str | None, store: CatalogStore, smtp_settings: SmtpLookup) -> list[dict[str, Any]]:
    """Send `message`; with `once` (a key naming what it is about), only if no earlier try sent it:
    the key is claimed first and released again when the e-mail did not go out."""
    if once is not None and not store.claim_notice(code, once):
        log.info("already sent, not again: %s", message.subject)
        return []
    sent = _deliver([message], smtp_settings)
    if once is not None and not sent:
        store.release_notice(once)
    return sent


def notify_refused(
    resource: Resource, refused: Sequence[object], store: CatalogStore | None = None, *, smtp_settings: SmtpLookup,
    once: str | None = None,
) -> list[dict[str, Any]]:
    """E-mail the department's contact and the bureau about files refused as a whole.

    `refused`: flow.pipeline.Refused objects or their dicts (from XCom); one e-mail for all. With
    `once` (e.g. the run that refused them), a retried task does not send it a second time."""
    if not refused:
        return []
    store = store or open_store()
    records = store.refused_deliveries(resource.code)
    notices = [_refusal_notice(records, item) for item in refused]
    key = None if once is None else f"refused|{resource.code}|{once}"
    return _deliver_once(refused_message(resource, notices, load_bureau(), web_url()), resource.code, key, store, smtp_settings)


def _held_back_notice(resource: Resource, item: Any, store: CatalogStore) -> HeldBackNotice | None:
    """An IngestResult, a ValidationOutcome or either's dict, as a notice if its version is held back."""
    outcome = _field(item, "outcome", item)
    if _field(outcome, "passed", True) or _field(outcome, "skipped", False):
        return None  # passed, or validated before (its department heard about it then)
    version, landed = _field(item, "version"), _field(item, "landed")
    row = store.version_of(resource.code, _field(outcome, "fingerprint"), _field(outcome, "rules", ""))
    source = _field(landed, "source_file") if landed is not None else (row.source_file if row else "")
    rows, quarantined, limit = int(_field(outcome, "rows")), int(_field(outcome, "quarantined")), float(_field(outcome, "max_bad_share"))
    verdict = _field(outcome, "verdict")
    if verdict is None:  # a dict from XCom carries the fields, not the property
        from expectations.validate import ValidationOutcome

        verdict = ValidationOutcome(**outcome).verdict
    return HeldBackNotice(
        version=version if version is not None else (row.version if row else None), file_name=Path(str(source)).name,
        rows=rows, accepted=int(_field(outcome, "accepted")), quarantined=quarantined, max_bad_share=limit,
        verdict=verdict, feedback_path=str(_field(outcome, "feedback_path", "")), by_rule=dict(_field(outcome, "by_rule") or {}),
        delivered_at=_landed_at(landed, row),
    )


def _landed_at(landed: Any, row: Any) -> datetime | None:
    """When the delivery landed: from the landing record (ISO text through XCom) or the version row."""
    value = _field(landed, "landed_at") if landed is not None else None
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return value or (row.landed_at if row is not None else None)


def notify_failed(
    resource: Resource, results: Sequence[object], store: CatalogStore | None = None, *, smtp_settings: SmtpLookup,
    once: bool = False,
) -> list[dict[str, Any]]:
    """E-mail the department's contact and the bureau about versions held back by validation.

    `results`: flow.pipeline.IngestResult or expectations.validate.ValidationOutcome objects, or
    their dicts (from XCom); versions that passed are ignored. One e-mail for all. With `once`,
    the e-mail about these versions is sent once, however often the task is retried."""
    if not results:
        return []
    store = store or open_store()
    notices = [n for n in (_held_back_notice(resource, item, store) for item in results) if n is not None]
    if not notices:
        return []
    key = f"held|{resource.code}|" + ",".join(str(n.version) for n in notices) if once else None
    return _deliver_once(held_back_message(resource, notices, load_bureau(), web_url()), resource.code, key, store, smtp_settings)


def notify_blocked(results: list[dict[str, Any]], *, smtp_settings: SmtpLookup) -> list[dict[str, Any]]:
    """E-mail each department whose approved version the leak gate newly blocked (a publish
    run's results, as dicts; a block already told about, same version and same hits, is not
    sent again)."""
    from catalog.entries import get_resource

    messages = [blocked_message(get_resource(r["code"]), r.get("version"), r["reasons"], load_bureau(), web_url())
                for r in results if r["action"] == "blocked" and r.get("news")]
    return _deliver(messages, smtp_settings)


# --- freshness ---------------------------------------------------------------------------------


def _clock(now: datetime | None) -> datetime:
    return utc(now) if now is not None else datetime.now(timezone.utc)


def check_freshness(now: datetime | None = None, *, smtp_settings: SmtpLookup) -> list[dict[str, Any]]:
    """Evaluate every resource at `now` (default: the real time; naive means UTC), record the
    statuses in the catalog store, and send each overdue resource's alert once per overdue period.

    An alert is claimed in the store before it is sent and released when it could not be sent,
    so two checks never both send it and a check without SMTP leaves it for the next one."""
    clock = _clock(now)
    resources = load_catalog()
    store = open_store()
    store.sync_resources(resources)
    last = store.last_deliveries()
    bureau, web = load_bureau(), web_url()
    overdue: list[str] = []
    claimed: list[tuple[str, datetime, Message]] = []
    for r in resources:
        state = freshness(r, last.get(r.code), clock)
        store.record_freshness(r.code, state.status, state.due_at, last.get(r.code), clock)
        if state.status is not Status.overdue or state.due_at is None:
            continue
        overdue.append(r.code)
        if store.claim_overdue_alert(r.code, state.due_at):  # False: this period's alert went out already
            claimed.append((r.code, state.due_at, overdue_message(r, state, last.get(r.code), bureau, web)))
    sent: list[dict[str, Any]] = []
    try:
        sent = _deliver([message for _, _, message in claimed], smtp_settings)
    finally:
        done = {m["resource"] for m in sent}
        for code, due_at, _ in claimed:
            if code not in done:
                store.release_overdue_alert(code, due_at)
    log.info("freshness at %s: %d overdue %s; %d alert(s) sent", clock.isoformat(timespec="seconds"), len(overdue), overdue, len(sent))
    return sent


@dataclass(frozen=True)
class FreshnessLine:
    """One resource's freshness as shown: its state and the last delivery it is measured from."""

    resource: Resource
    state: Freshness
    last_delivered_at: datetime | None
    checked_at: datetime | None  # the clock of the last recorded check, if any


def freshness_overview(now: datetime | None = None, store: CatalogStore | None = None) -> list[FreshnessLine]:
    """Every resource's freshness for display, recording nothing.

    At `now` when given. Otherwise at the real time, or at the clock of the last recorded check
    when that is later and no delivery came since (a drill that moved the clock shows as such)."""
    store = store or open_store()
    last = store.last_deliveries()
    records = store.freshness_records() if now is None else {}
    lines = []
    for r in load_catalog():
        delivered = last.get(r.code)
        clock = _clock(now)
        record = records.get(r.code)
        if record is not None and record.last_delivered_at == delivered:
            clock = max(clock, utc(record.checked_at))
        lines.append(FreshnessLine(r, freshness(r, delivered, clock), delivered, utc(record.checked_at) if record else None))
    return lines
