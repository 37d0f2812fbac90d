"""`kcdata up|down|status|logs`: the running system (Airflow, CKAN and their services) under supervisord."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from common.errors import KcdataError

if TYPE_CHECKING:
    from stack.status import StackStatus

console = Console(width=None if Console().is_terminal else 160)


def print_status(state: StackStatus) -> None:
    """One row per service: supervisord's state, pid, port, health, URL and log."""
    table = Table(title=f"kcdata system ({state.home})")
    for col in ("service", "state", "pid", "port", "health", "version", "url", "log"):
        table.add_column(col)
    for c in state.components:
        health = "[green]healthy[/green]" if c.running else f"[red]{escape(c.detail or 'down')}[/red]"
        table.add_row(c.name, c.state, str(c.pid or ""), str(c.port or ""), health, c.version or "", c.url,
                      str(c.log or ""))
    console.print(table)


def print_urls() -> None:
    """Where to look, and where the sign-in secrets are (never the secrets themselves)."""
    from stack import get_layout
    from stack.airflow import ADMIN
    from stack.layout import airflow_url, ckan_url
    from stack.web import web_url

    secrets = get_layout().secrets_file
    console.print(f"Catalog web  {web_url()}  (目录 catalog; accounts: `kcdata users add`)")
    console.print(f"Airflow UI   {airflow_url()}  (user {ADMIN}; password: AIRFLOW_ADMIN_PASSWORD in {secrets})")
    console.print(f"CKAN portal  {ckan_url()}  (API token of kcdata_publisher: CKAN_API_TOKEN in {secrets})")


def up() -> None:
    """Start everything (installing it on first use), wait until every DAG is ready; print the URLs."""
    import stack
    from system import running

    running.up(report=lambda msg: console.print(escape(msg)))
    print_status(stack.status())
    print_urls()


def down() -> None:
    """Stop every service and supervisord; all data is kept."""
    import stack

    print_status(stack.down(report=lambda msg: console.print(escape(msg))))


def status() -> None:
    """Every service with its pid, port and health. Exit 1 unless all are healthy."""
    import stack

    state = stack.status()
    print_status(state)
    if not state.running:
        raise typer.Exit(1)


def logs(
    service: Annotated[str, typer.Argument(help="a service name from `kcdata status` (e.g. airflow-scheduler, ckan)")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="lines to show")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines (Ctrl-C stops)")] = False,
) -> None:
    """Tail one service's log."""
    import stack
    from stack.stack import programs

    layout = stack.get_layout()
    names = [p.name for p in programs(layout)] + ["supervisord"]
    if service not in names:
        raise KcdataError(f"no service {service!r}; the services are: {', '.join(names)}")
    path = layout.log(service)
    if not path.exists():
        raise KcdataError(f"{service} has no log yet ({path}): has it ever been started? (`kcdata up`)")
    _tail(path, lines, follow)


def _tail(path: Path, lines: int, follow: bool) -> None:
    with path.open("r", errors="replace") as fh:
        for line in fh.readlines()[-lines:]:
            console.print(escape(line.rstrip("\n")), highlight=False, soft_wrap=True)
        while follow:
            line = fh.readline()
            if line:
                console.print(escape(line.rstrip("\n")), highlight=False, soft_wrap=True)
            else:
                time.sleep(0.5)


def register(app: typer.Typer) -> None:
    for command in (up, down, status, logs):
        app.command()(command)
