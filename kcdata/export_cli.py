"""`kcdata catalog export`: the whole catalog as DCAT-AP 3 (Turtle, JSON-LD) or as the 编制指南 workbook."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import requests
import typer
from rich.console import Console
from rich.markup import escape

from common.errors import KcdataError

console = Console(stderr=True)
LOCAL_PORTAL = "http://127.0.0.1:5000"


class ExportFormat(str, Enum):
    ttl = "ttl"
    jsonld = "jsonld"
    xlsx = "xlsx"


def portal_url() -> tuple[str, str]:
    """(URL, where it came from): the configured CKAN portal, else the local stack's address."""
    from kcdata.targets import ckan_target

    try:
        return ckan_target().url.rstrip("/"), "the portal setting"
    except Exception as exc:  # no secrets file, no environment: the local default is still a fine base
        return LOCAL_PORTAL, f"default ({exc})"


def portal_downloads(base: str, names: dict[str, str], timeout: float = 5.0) -> dict:
    """The real file URLs of published datasets from CKAN's public `package_show` (code -> files);
    a dataset the portal does not answer for is left out (its distributions point at its page)."""
    from catalog.dcat_export import Download

    found = {}
    for code, name in names.items():
        try:
            response = requests.get(f"{base}/api/3/action/package_show", params={"id": name}, timeout=timeout)
            result = response.json()["result"] if response.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError):
            result = None
        if result:
            found[code] = [
                Download(r.get("description") or r.get("name") or r["url"], r.get("format") or "", r["url"],
                         int(r["size"]) if r.get("size") else None)
                for r in result.get("resources", []) if r.get("url")
            ]
    return found


def export(
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="ttl (Turtle), jsonld (JSON-LD) or xlsx (编制指南 workbook)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")],
    base_uri: Annotated[Optional[str], typer.Option(help="base of dataset IRIs (default: the portal URL)")] = None,
    ask_portal: Annotated[bool, typer.Option(help="ask the portal for the real download URLs of published datasets")] = True,
) -> None:
    """Export the whole catalog (全量目录, open or not: metadata only) as DCAT-AP 3 or as a workbook."""
    from sqlalchemy import select

    from catalog.dcat_export import catalog_graph, serialize
    from catalog.entries import load_catalog
    from catalog.spreadsheet_export import write_workbook
    from catalog.store import open_store
    from catalog.tables import PublicationRow

    try:
        resources = load_catalog()
        store = open_store()
        output.parent.mkdir(parents=True, exist_ok=True)
        if format is ExportFormat.xlsx:
            write_workbook(resources, store, output)
        else:
            base, origin = (base_uri.rstrip("/"), "--base-uri") if base_uri else portal_url()
            console.print(f"base URI {escape(base)} ({escape(origin)})")
            downloads = None
            if ask_portal:
                with store.session() as s:
                    rows = s.scalars(select(PublicationRow).where(PublicationRow.state == "published"))
                    names = {p.resource_code: p.ckan_name for p in rows}
                downloads = portal_downloads(base, names) if names else {}
            graph = catalog_graph(resources, store, base, downloads=downloads)
            output.write_bytes(serialize(graph, "turtle" if format is ExportFormat.ttl else "json-ld"))
    except (KcdataError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    print(f"{len(resources)} resources -> {output}")


def register(catalog_app: typer.Typer) -> None:
    """Add `kcdata catalog export` (the lead wires this in kcdata/cli.py)."""
    catalog_app.command("export")(export)
