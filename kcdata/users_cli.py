"""`kcdata users`: the accounts of the catalog web (add, list, change a password, disable).

Passwords are asked for twice with hidden input, or read from stdin (`--password-stdin`) for
scripts; they are never printed, logged or passed on a command line.
"""
from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from catalog.accounts import Account
from common.errors import KcdataError

users_app = typer.Typer(help="Accounts of the catalog web (目录网站账号).", no_args_is_help=True)
console = Console(width=None if Console().is_terminal else 160)

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin (one line)")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("密码 Password", hide_input=True, confirmation_prompt=True)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(1)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="the sign-in name")],
    role: Annotated[str, typer.Option(help="department_user | department_reviewer | bureau_admin")],
    department: Annotated[Optional[str], typer.Option(help="department slug (departments.yaml); not for bureau_admin")] = None,
    name: Annotated[str, typer.Option(help="display name, e.g. 王科长")] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account (the password is asked for twice, hidden)."""
    from catalog.accounts import create_account
    from catalog.store import open_store

    try:
        account = create_account(open_store(), username, _password(password_stdin), role, department, name)
    except KcdataError as exc:
        _fail(exc)
    where = f" of {account.department}" if account.department else ""
    console.print(f"account {escape(account.username)} created: {account.role.value}{escape(where)}")


@users_app.command("list")
def users_list() -> None:
    """Every account with its role, department and state (never a password or hash)."""
    from catalog.accounts import list_accounts
    from catalog.store import open_store

    table = Table("username", "name", "role", "department", "state")
    for a in list_accounts(open_store()):
        table.add_row(escape(a.username), escape(a.display_name), a.role.value, a.department or "—",
                      "disabled" if a.disabled else "active")
    console.print(table)


@users_app.command("passwd")
def users_passwd(username: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False) -> None:
    """Set a new password; the account's open sessions end."""
    from catalog.accounts import set_password
    from catalog.store import open_store

    try:
        set_password(open_store(), username, _password(password_stdin))
    except KcdataError as exc:
        _fail(exc)
    console.print(f"password of {escape(username)} changed; its sessions were signed out")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable an account (kept for the audit log); its sessions end at once."""
    from catalog.accounts import disable_account
    from catalog.store import open_store

    try:
        disable_account(open_store(), username)
    except KcdataError as exc:
        _fail(exc)
    console.print(f"account {escape(username)} disabled")


def cli_account(username: str) -> Account:
    """The account a CLI step is taken as (`--by`): it must exist and be enabled, so that every
    decision names a person with a role, exactly as in the catalog web."""
    from catalog.accounts import get_account
    from catalog.store import open_store

    name = username.strip()
    account = get_account(open_store(), name) if name else None
    if account is None or account.disabled:
        state = "is disabled" if account is not None else "is not an account of the catalog web"
        raise KcdataError(
            f"--by {name!r} {state}: name your own account (kcdata users list); a bureau admin adds one with "
            "`kcdata users add NAME --role department_reviewer --department SLUG`")
    return account
