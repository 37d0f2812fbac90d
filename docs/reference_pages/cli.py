"""The `kcdata` command, from its typer app (kcdata.cli:app): every command and option with its help.

Typer carries its own copy of click, so commands are told apart by what they do (a group lists
commands), and each command makes its own kind of context."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from reference_pages.markdown import GENERATED, table, text


def _commands(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    """The command, then every sub-command, in the order `--help` lists them."""
    yield command, ctx
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, sub.context_class(sub, info_name=name, parent=ctx))


def _section(command: Any, ctx: Any) -> str:
    path = ctx.command_path
    parts = [f"## `{path}`", text(command.help or "").strip()]
    parts.append(f"```console\n{path} {' '.join(command.collect_usage_pieces(ctx))}\n```")
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            rows.append([f"`{record[0]}`", param.param_type_name, record[1]])
    if rows:
        parts.append(table(["argument or option", "kind", "help"], rows))
    if hasattr(command, "list_commands"):
        subs = [[f"`{path} {name}`", command.get_command(ctx, name).get_short_help_str(120)] for name in command.list_commands(ctx)]
        parts.append(table(["command", "what it does"], subs))
    return "\n\n".join(p for p in parts if p)


def page() -> str:
    from kcdata.cli import app

    root = typer.main.get_command(app)
    sections = [_section(command, ctx) for command, ctx in _commands(root, root.context_class(root, info_name="kcdata"))]
    return f"""# Commands

{GENERATED} Source: the typer app `kcdata.cli:app`; `kcdata COMMAND --help` prints the same.

`CODE` is a resource code (`KC-SCJG-001`) or its table name (`enterprise_registrations`). A
summary of what each command is for is in [Operations](../engineers/operations.md).

""" + "\n\n".join(sections) + "\n"
