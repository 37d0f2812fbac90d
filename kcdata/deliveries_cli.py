"""`kcdata deliveries` and `kcdata submit --wait`: where a department's delivery stands."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from common.errors import KcdataError

console = Console(width=None if Console().is_terminal else 160)


def _style(stage: str) -> str:
    from flow.deliveries import TROUBLE

    return "red" if stage in TROUBLE else "green" if stage == "published" else "yellow"


def deliveries_command(
    code: Annotated[Optional[str], typer.Argument(help="resource code or table name (default: every resource)")] = None,
    limit: Annotated[int, typer.Option(help="newest deliveries per resource")] = 10,
) -> None:
    """Each delivery's stage: waiting, refused, version, held back, on the portal or what keeps it off."""
    from catalog.entries import get_resource, load_catalog
    from catalog.store import open_store
    from common.settings import get_paths
    from flow.deliveries import deliveries

    try:
        resources = [get_resource(code)] if code else load_catalog()
    except KcdataError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    paths, store = get_paths(), open_store()
    shown = 0
    for resource in resources:
        for d in deliveries(resource, paths, store, limit):
            when = f"{d.received_at:%Y-%m-%d %H:%M:%S} UTC" if d.received_at else "—"
            style = _style(d.stage)
            console.print(f"{resource.code}  {escape(d.file)}  {when}  [{style}]{d.label}[/{style}]: {escape(d.detail)}",
                          soft_wrap=True)
            shown += 1
    if not shown:
        console.print("no deliveries yet" + (f" for {resources[0].code}" if code else ""))


def follow(code: str, source: Path, delivered: Path, timeout: float) -> int:
    """Print each stage the delivery reaches until a final one; the exit code (0: on the portal
    or kept off only by the publication rules; 1: refused, held back or blocked; 2: timed out)."""
    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.checksums import sha256_file
    from common.settings import get_paths
    from flow.deliveries import delivery_status

    resource, paths, store = get_resource(code), get_paths(), open_store()
    fingerprint, name = sha256_file(source), delivered.name  # the source: the inbox copy moves on once read
    deadline, said = time.monotonic() + timeout, None
    while True:
        d = delivery_status(resource, fingerprint, name, paths, store)
        if (d.stage, d.detail) != said:
            console.print(f"[{_style(d.stage)}]{d.label}[/{_style(d.stage)}]: {escape(d.detail)}", soft_wrap=True)
            said = (d.stage, d.detail)
        if d.final:
            return 1 if d.stage in ("refused", "held_back") or "leak gate" in d.detail else 0
        if time.monotonic() > deadline:
            console.print(f"still {d.label} after {timeout:.0f} s: `kcdata deliveries {resource.code}` shows it later")
            return 2
        time.sleep(2)


def register(app: typer.Typer) -> None:
    app.command("deliveries")(deliveries_command)
