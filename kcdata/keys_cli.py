"""`kcdata keys`: where the keys come from (`status`) and rotating them (`rotate`).

Prints key ids, fingerprints and counts, never a key (common/key_rotation.py does the work).
"""
from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from common.errors import KcdataError

keys_app = typer.Typer(help="The lake's master key, the pseudonym key and the signing key (密钥).", no_args_is_help=True)
console = Console(width=None if Console().is_terminal else 160)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(1)


@keys_app.command("status")
def keys_status() -> None:
    """For each key: where it comes from (environment or keys file) and its id; and which master
    keys wrap the lake's encrypted files."""
    from common.key_rotation import key_status, lake_keys
    from common.settings import get_paths

    table = Table("key", "from", "id / fingerprint", "note")
    for status in key_status():
        table.add_row(status.name, escape(status.source), status.ident or "-", escape(status.problem))
    console.print(table)
    try:
        lake = lake_keys(get_paths())
    except KcdataError as exc:
        _fail(exc)
    wrapped = ", ".join(f"{n} by master key {ident}" for ident, n in sorted(lake.by_key.items())) or "none"
    damaged = f"; {lake.damaged} with damaged key material" if lake.damaged else ""
    console.print(f"encrypted files in the lake: {lake.files} ({wrapped}{damaged})")


@keys_app.command("rotate")
def keys_rotate(
    signing: Annotated[bool, typer.Option("--signing", help="replace the Ed25519 signing key instead of the master key")] = False,
) -> None:
    """Make a new master key and re-wrap the data keys of every encrypted file in the lake with it
    (the data is not rewritten); the old key opens nothing afterwards. `--signing`: a new signing
    key (manifests signed before stay verifiable: each names its key and ships its public key)."""
    from common.key_rotation import rotate_master_key, rotate_signing_key
    from common.settings import get_paths

    try:
        if signing:
            old, new = rotate_signing_key()
            console.print(f"signing key replaced: {old or '(none)'} -> {new} (public key fingerprints)")
            return
        result = rotate_master_key(get_paths())
    except KcdataError as exc:
        _fail(exc)
    resumed = " (finished a rotation that was cut short)" if result.resumed else ""
    console.print(
        f"master key rotated{resumed}: {result.old_id} -> {result.new_id}; "
        f"{result.rewrapped + result.swept} file(s) re-wrapped "
        f"({result.swept} written during the rotation), {result.unchanged} already on the new key"
    )
