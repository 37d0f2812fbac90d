"""`kcdata portal up|down|status`: the local CKAN portal the publisher, demo and tests use."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from common.errors import KcdataError
from stack.status import StackStatus

portal_app = typer.Typer(help="The local open-data portal (CKAN + Solr + PostgreSQL + Redis).",
                         no_args_is_help=True)
console = Console(width=None if Console().is_terminal else 160)


def _print_status(state: StackStatus) -> None:
    table = Table(title=f"portal ({state.home})")
    for col in ("component", "state", "url", "version", "pid", "log"):
        table.add_column(col)
    for c in state.components:
        table.add_row(c.name, "[green]running[/green]" if c.running else "[red]stopped[/red]",
                      c.url, c.version or "", str(c.pid or ""), str(c.log or ""))
    console.print(table)
    for c in state.components:
        if c.detail:
            console.print(f"{c.name}: {c.detail}")


@portal_app.command()
def up() -> None:
    """Install (first time), start and initialise every service; fast when already running."""
    import stack

    try:
        state = stack.up(report=lambda msg: console.print(msg))
        url, _ = stack.connection()
    except KcdataError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    _print_status(state)
    console.print(f"CKAN: {url}  (API token for kcdata_publisher in {stack.get_layout().secrets_file})")


@portal_app.command()
def down() -> None:
    """Stop the services this stack started; data stays in the state folder."""
    import stack

    try:
        state = stack.down(report=lambda msg: console.print(msg))
    except KcdataError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    _print_status(state)


@portal_app.command()
def status() -> None:
    """Show each service: running or stopped, URL, version, pid and log. Exit 1 unless all run."""
    import stack

    state = stack.status()
    _print_status(state)
    if not state.running:
        raise typer.Exit(1)
