"""`kcdata freshness`: every resource against its update cycle, as a table (registered in kcdata/cli.py).

Read-only by default; `--check` also records the statuses and sends the overdue alerts, as the
`govern__freshness` DAG does every 15 minutes (so the step runs without Airflow too).
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from catalog.freshness import DEADLINES, beijing_text
from kcdata.report import status_text

console = Console(width=None if Console().is_terminal else 160)


def _parse_now(now: str | None) -> datetime | None:
    if now is None:
        return None
    try:
        return datetime.fromisoformat(now)
    except ValueError:
        example = "2026-11-24T09:00 or 2026-11-24T09:00+08:00"
        raise typer.BadParameter(f"{now!r} is not an ISO time such as {example}", param_hint="--now") from None


def freshness_table(now: datetime | None = None) -> Table:
    """Every resource: its cycle and deadline, last delivery, when the next one is due, how late."""
    from flow.alerts import freshness_overview

    table = Table(title="时效 · freshness (times UTC+8)")
    for col in ("code", "name", "department", "更新周期 cycle", "最近提交 last delivery", "应提交 due", "时效 status", "checked"):
        table.add_column(col, no_wrap=col in ("code",))
    for line in freshness_overview(now):
        r, state = line.resource, line.state
        deadline = DEADLINES[r.update_cycle]
        cycle = f"{r.update_cycle.value} {deadline.en}"
        table.add_row(
            r.code, escape(r.name), r.provider.slug, cycle,
            beijing_text(line.last_delivered_at) if line.last_delivered_at else "—",
            beijing_text(state.due_at) if state.due_at else "—",
            status_text(state),
            beijing_text(line.checked_at) if line.checked_at else "—",
        )
    return table


def freshness(
    now: Annotated[Optional[str], typer.Option(help="ISO time to evaluate at (naive = UTC); default: now")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="also record the statuses and send the overdue alerts (once per overdue period)")
    ] = False,
) -> None:
    """Is every resource delivered within its update cycle? Overdue ones in red."""
    moment = _parse_now(now)
    if check:
        from flow.alerts import check_freshness
        from orchestration.smtp import smtp_settings

        sent = check_freshness(moment, smtp_settings=smtp_settings)
        console.print(f"recorded every resource's freshness; {len(sent)} overdue alert(s) sent")
        for m in sent:
            console.print(f"  → {', '.join(m['to'] + m['cc'])}: {escape(m['subject'])}")
    console.print(freshness_table(moment))
