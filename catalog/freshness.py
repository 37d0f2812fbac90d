"""Freshness: a resource's `update_cycle` (更新周期) is a deadline for its next delivery.

Pure: no store, no clock of its own. The wiring (`flow.alerts`) gives it the last delivery time
and `now`, records the answer in the catalog store and sends the overdue alert.

**The deadline.** A resource is due one *period* after its last delivery, plus a *grace* period
for the ordinary delays of a department's working day (``DEADLINES`` below, one row per cycle).
Months, quarters and years are counted as their longest length (31, 92, 184, 366 days), so a
department that delivers on the same calendar day every month is never overdue. 不定时
(irregular) has no deadline: such a resource is never overdue.

**The last delivery** is the newest landing time among the resource's versions in the catalog. A
held-back version counts (the department did deliver; the held-back e-mail already went out),
and a version validated again under new rules keeps its delivery's landing time. A *refused*
delivery does not count: nothing of it landed, so it is not a delivery in time.

**Never delivered.** A resource with no version yet is due one period (plus grace) after its
`published_at` (发布日期, read as 00:00 Beijing time); before that its status is ``never``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum

from catalog.model import Resource, UpdateCycle

BEIJING = timezone(timedelta(hours=8), "UTC+8")  # China Standard Time: no daylight saving


@dataclass(frozen=True)
class Deadline:
    """How long a resource of one update cycle may go without a delivery."""

    period: timedelta | None  # None: no deadline, never overdue
    grace: timedelta
    en: str  # the cycle in English (the Chinese is the cycle's own value)


H, D = timedelta(hours=1), timedelta(days=1)

# The deadlines per update cycle: period + grace after the last delivery. Documented in docs/departments/deadlines.md.
DEADLINES: dict[UpdateCycle, Deadline] = {
    UpdateCycle.realtime: Deadline(1 * H, 1 * H, "real-time"),  # a live feed silent for 2 h
    UpdateCycle.daily: Deadline(1 * D, 6 * H, "daily"),
    UpdateCycle.weekly: Deadline(7 * D, 1 * D, "weekly"),
    UpdateCycle.monthly: Deadline(31 * D, 3 * D, "monthly"),
    UpdateCycle.quarterly: Deadline(92 * D, 7 * D, "quarterly"),
    UpdateCycle.half_yearly: Deadline(184 * D, 7 * D, "half-yearly"),
    UpdateCycle.yearly: Deadline(366 * D, 14 * D, "yearly"),
    UpdateCycle.irregular: Deadline(None, timedelta(0), "irregular"),
}


class Status(str, Enum):
    """on_time: delivered and not yet due; overdue: the deadline passed without a delivery;
    never: nothing delivered yet, but not (or never) overdue."""

    on_time = "on_time"
    overdue = "overdue"
    never = "never"


@dataclass(frozen=True)
class Freshness:
    """One resource's freshness at one moment (times are aware, UTC)."""

    status: Status
    due_at: datetime | None  # the deadline for the next delivery; None: the cycle has none
    overdue_by: timedelta | None  # how late, when overdue; otherwise None


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (the catalog store keeps naive UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def published_moment(published: date) -> datetime:
    """The publication date as a moment: 00:00 Beijing time of that day, in UTC."""
    return datetime.combine(published, time(0), BEIJING).astimezone(timezone.utc)


def freshness(resource: Resource, last_delivered_at: datetime | None, now: datetime) -> Freshness:
    """Is `resource` delivered in time at `now`, given its last delivery (None: never delivered)?"""
    deadline = DEADLINES[resource.update_cycle]
    if deadline.period is None:
        return Freshness(Status.never if last_delivered_at is None else Status.on_time, None, None)
    start = published_moment(resource.published_at) if last_delivered_at is None else utc(last_delivered_at)
    due = start + deadline.period + deadline.grace
    late = utc(now) - due
    if late > timedelta(0):
        return Freshness(Status.overdue, due, late)
    return Freshness(Status.never if last_delivered_at is None else Status.on_time, due, None)


def duration_text(span: timedelta, lang: str = "en", parts: int = 2) -> str:
    """A lateness people read at a glance: `3 d 4 h` / `3 天 4 小时`, `45 min` / `45 分钟`; `parts=1`
    keeps only the largest unit (`3 d`), for tables."""
    minutes = max(0, int(span.total_seconds() // 60))
    units = ("天", "小时", "分钟") if lang == "zh" else ("d", "h", "min")
    amounts = [minutes // (24 * 60), minutes // 60 % 24, minutes % 60]
    first = next((i for i, n in enumerate(amounts) if n), 2)
    shown = [(amounts[i], units[i]) for i in range(first, min(first + parts, 3))]
    return " ".join(f"{n} {unit}" for k, (n, unit) in enumerate(shown) if n or k == 0)


def beijing_text(moment: datetime) -> str:
    """A moment as the departments read it: Beijing time with its offset."""
    return utc(moment).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M (UTC+8)")
