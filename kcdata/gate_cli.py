"""`kcdata catalog allow | exceptions | revoke`: a reviewer's answer to a leak-gate false positive.

The leak gate reads digit runs in free text as personal numbers; when they are not (a land
certificate 惠府国用（2009）第13021120006号 read as a mobile number), a reviewer of the providing
department records an exception for that column and rule, with a reason and an expiry. It is
written to the audit log and the next publish run applies it; any other column, or another rule
on the same column, is still blocked.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from common.errors import KcdataError

console = Console(width=None if Console().is_terminal else 160)
CodeArg = Annotated[str, typer.Argument(help="resource code or table name")]
ByOption = Annotated[str, typer.Option("--by", help="your catalog-web account: a reviewer of the providing department")]


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(1)


def allow(
    code: CodeArg,
    column: Annotated[str, typer.Option(help="the item code whose values were matched, e.g. business_scope")],
    rule: Annotated[str, typer.Option(help="the leak-gate rule: mobile | id_card | bank_card | email | personal_value")],
    reason: Annotated[str, typer.Option(help="what the matched values really are")],
    expires: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="last day + 1 (YYYY-MM-DD), at most a year ahead")],
    by: ByOption,
) -> None:
    """Record a reviewed exception to one leak-gate rule on one column (audit-logged); the next
    publish run applies it."""
    from catalog import gate_records
    from catalog.entries import get_resource
    from catalog.store import open_store
    from kcdata.users_cli import cli_account
    from system.running import request_publish

    try:
        resource = get_resource(code)
        account = cli_account(by)
        row = gate_records.add_exception(open_store(), resource, column, rule, reason, expires, account, account.actor("cli"))
    except KcdataError as exc:
        _fail(exc)
    console.print(f"{resource.code}: exception #{row.id}: rule {row.rule} allowed on column {row.column} "
                  f"until {row.expires_at:%Y-%m-%d} by {row.by} ({escape(row.reason)})")
    run_id = request_publish(f"leak-gate exception #{row.id} on {resource.code}")
    console.print(f"publish__portal run {run_id} started on the running system" if run_id
                  else f"no running system here: `kcdata publish {resource.code}` applies it now")


def list_exceptions(code: CodeArg) -> None:
    """The leak-gate exceptions of a resource (active, expired and revoked) and its last publish outcome."""
    from catalog import gate_records
    from catalog.entries import get_resource
    from catalog.store import open_store

    try:
        resource = get_resource(code)
    except KcdataError as exc:
        _fail(exc)
    store = open_store()
    table = Table(title=f"{resource.code} 泄露检查例外 leak-gate exceptions")
    for col in ("#", "column", "rule", "reason", "by", "at", "status"):
        table.add_column(col)
    for row in gate_records.exceptions(store, resource.code):
        table.add_row(str(row.id), row.column, row.rule, row.reason, row.by, f"{row.at:%Y-%m-%d}",
                      gate_records.status_label(row))
    console.print(table)


def revoke(
    code: CodeArg, exception_id: Annotated[int, typer.Argument(help="the exception's number (kcdata catalog exceptions)")],
    by: ByOption,
) -> None:
    """End a leak-gate exception now; the next publish run applies the rule again."""
    from catalog import gate_records
    from catalog.entries import get_resource
    from catalog.store import open_store
    from kcdata.users_cli import cli_account
    from system.running import request_publish

    try:
        resource = get_resource(code)
        account = cli_account(by)
        row = gate_records.revoke_exception(open_store(), resource, exception_id, account, account.actor("cli"))
    except KcdataError as exc:
        _fail(exc)
    console.print(f"{resource.code}: exception #{row.id} ({row.column}, {row.rule}) revoked")
    request_publish(f"leak-gate exception #{row.id} on {resource.code} revoked")


def register(catalog_app: typer.Typer) -> None:
    catalog_app.command("allow")(allow)
    catalog_app.command("exceptions")(list_exceptions)
    catalog_app.command("revoke")(revoke)
