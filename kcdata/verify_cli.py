"""`kcdata verify`: is this download what the bureau published? (registered in kcdata/cli.py)

A dataset on the portal (its page URL, package_show URL, or name on the configured portal) is
downloaded anonymously first; files on disk are checked against the manifest beside them. The
signature is checked with the key shipped beside the manifest, pinned with `--key-fingerprint`.
Exit 0 when intact, 1 with every difference listed otherwise.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from common.errors import KcdataError

if TYPE_CHECKING:
    from portal.manifest import Verdict

console = Console(width=None if Console().is_terminal else 160)


def verify(
    targets: Annotated[list[str], typer.Argument(
        help="a dataset URL (…/dataset/<name>) or name on the portal, or a folder or files on disk with manifest.json beside them"
    )],
    key_fingerprint: Annotated[Optional[str], typer.Option(
        "--key-fingerprint", help="the signing key's SHA-256 fingerprint the bureau states; a manifest signed by another key fails"
    )] = None,
) -> None:
    """Check a published dataset or downloaded files against the signed manifest: signature,
    then each file's presence, size, SHA-256 and rows."""
    from portal.manifest import verify_folder

    paths = [Path(t) for t in targets]
    if len(targets) == 1 and not paths[0].exists():
        verdict, where = _verify_remote(targets[0], key_fingerprint)
    else:
        absent = [str(p) for p in paths if not p.exists()]
        if absent:
            raise KcdataError(f"not found: {', '.join(absent)}")
        if len(paths) == 1 and paths[0].is_dir():
            verdict, where = verify_folder(paths[0], key_fingerprint), str(paths[0])
        else:
            folders = {p.resolve().parent for p in paths}
            if len(folders) != 1 or any(p.is_dir() for p in paths):
                raise KcdataError("give one folder, or files from one folder (the one holding manifest.json)")
            folder = folders.pop()
            verdict, where = verify_folder(folder, key_fingerprint, only=paths), str(folder)
    for line in verdict.checked:
        console.print(f"[green]ok[/green]   {escape(line)}")
    for line in verdict.problems:
        console.print(f"[red]FAIL[/red] {escape(line)}")
    m = verdict.manifest
    what = f"{m.resource_code} version {m.catalog_version}" if m else escape(where)
    key = f", signed by key {verdict.key_fingerprint}" if verdict.key_fingerprint else ""
    if verdict.ok:
        console.print(f"verified: {what} is intact ({len(verdict.checked) - 1} file(s) match the signed manifest{key})")
        return
    console.print(f"NOT verified: {what}: {len(verdict.problems)} problem(s){key}")
    raise typer.Exit(1)


def _verify_remote(ref: str, key_fingerprint: str | None) -> tuple[Verdict, str]:
    from kcdata.export_cli import portal_url
    from portal.fetch import fetch_dataset, parse_ref
    from portal.manifest import verify_folder

    dataset = parse_ref(ref, None if "://" in ref else portal_url()[0])
    with tempfile.TemporaryDirectory(prefix="kcdata-verify-") as tmp:
        folder = fetch_dataset(dataset, Path(tmp))
        return verify_folder(folder, key_fingerprint), f"{dataset.base}/dataset/{dataset.dataset}"
