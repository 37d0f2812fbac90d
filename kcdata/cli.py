"""`kcdata`: everything a data bureau engineer does by hand."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from common.errors import KcdataError

app = typer.Typer(help="Knowledge City data pipeline: sample, ingest, transform, catalog.", no_args_is_help=True)
catalog_app = typer.Typer(help="The data-resource catalog (信息资源目录).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
from stack.cli import portal_app  # noqa: E402

app.add_typer(portal_app, name="portal")
console = Console(width=None if Console().is_terminal else 160)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def sample(
    rows: Annotated[Optional[int], typer.Option(help="rows per resource (default: each entry's sample_rows)")] = None,
    bad_share: Annotated[float, typer.Option(help="share of bad rows, 0..1")] = 0.02,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same files")] = 20261122,
    only: Annotated[Optional[list[str]], typer.Option(help="resource code or table; repeatable")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder (default: the inbox)")] = None,
) -> None:
    """Generate departmental sample files (CSV/XLSX/JSON, several encodings) into the inbox."""
    from catalog.entries import get_resource, load_catalog
    from common.settings import get_paths
    from samples.generate import generate_resource

    try:
        resources = [get_resource(c) for c in only] if only else load_catalog()
        target = out or get_paths().inbox
        for r in resources:
            result = generate_resource(r, target, rows=rows, bad_share=bad_share, seed=seed)
            console.print(f"{r.code} {r.table}: {result.rows:,} rows ({result.bad_rows:,} bad) -> {result.path}")
    except KcdataError as exc:
        _fail(exc)


@app.command()
def ingest(
    code: Annotated[str, typer.Argument(help="resource code (KC-SCJG-001) or table name")],
    file: Annotated[Optional[Path], typer.Argument(help="file to ingest (default: every file in inbox/<table>/)")] = None,
) -> None:
    """Land and validate without Airflow (for debugging a department's file)."""
    from catalog.entries import get_resource
    from connectors.file_drop import inbox_files
    from kcdata.pipeline import land_and_validate

    try:
        resource = get_resource(code)
        files = [file] if file else inbox_files(resource)
        if not files:
            raise KcdataError(f"nothing to ingest: inbox/{resource.table}/ is empty")
        for f in files:
            r = land_and_validate(resource, f)
            o = r.outcome
            verdict = "[green]passed[/green]" if o.passed else "[red]failed[/red]"
            console.print(f"{f.name}: v{r.version} {o.rows:,} rows, {o.accepted:,} accepted, {o.quarantined:,} quarantined, {verdict}")
            if not o.passed:
                console.print(f"  {o.verdict}")
            if o.quarantined or not o.passed:
                console.print(f"  feedback for the department: {o.feedback_path}")
    except KcdataError as exc:
        _fail(exc)


@app.command()
def transform() -> None:
    """Run dbt (generated staging + marts) over the validated versions that passed, without Airflow."""
    from kcdata.pipeline import transform as run_transform

    try:
        result = run_transform()
        for mart, path in result.marts.items():
            console.print(f"{mart}: {result.rows.get(mart, 0):,} rows -> {path}")
    except KcdataError as exc:
        _fail(exc)


@app.command("open-view")
def open_view() -> None:
    """Build the open views (what may be published) from dbt's output, without Airflow."""
    from kcdata.pipeline import open_views

    try:
        for table, view in open_views().items():
            withheld = f" (withheld: {', '.join(view.dropped)})" if view.dropped else ""
            console.print(f"{table}: {view.rows:,} rows -> {view.path}{withheld}")
    except KcdataError as exc:
        _fail(exc)


@app.command()
def docs() -> None:
    """Rebuild Great Expectations Data Docs and print where they are."""
    from expectations.validate import build_data_docs

    console.print(str(build_data_docs()))


@app.command()
def run(
    rows: Annotated[Optional[int], typer.Option(help="rows per resource for the sample data")] = None,
    bad_share: Annotated[float, typer.Option(help="share of bad rows in the sample data")] = 0.02,
    sample_data: Annotated[bool, typer.Option("--sample/--no-sample", help="generate sample data first")] = True,
    portal: Annotated[bool, typer.Option("--portal/--no-portal", help="start the local CKAN portal and publish to it")] = True,
) -> None:
    """The main job: sample data -> ingest DAGs -> transform -> open views -> publish, through Airflow."""
    from kcdata.airflow_run import run_pipeline, run_publish
    from kcdata.report import print_publication_summary, print_run_summary

    done = lambda s: console.print(f"[green]✓[/green] {s.dag_id}: {s.state} {s.tasks}")  # noqa: E731
    try:
        if sample_data:
            sample(rows=rows, bad_share=bad_share, seed=20261122, only=None, out=None)
        run_pipeline(on_done=done)
        print_run_summary(console)
        if portal:
            from kcdata.demo import approve_for_demo
            from kcdata.targets import ckan_target
            from stack import up

            up()
            for line in approve_for_demo():
                console.print(line)
            target = ckan_target()
            done(run_publish(target))
            print_publication_summary(console, target.url)
    except KcdataError as exc:
        _fail(exc)


@app.command()
def publish(codes: Annotated[Optional[list[str]], typer.Argument(help="resource codes (default: all)")] = None) -> None:
    """Put approved open resources on the CKAN portal; retract withdrawn ones (without Airflow)."""
    from kcdata.targets import ckan_target
    from portal.client import Portal
    from portal.publisher import publish_all

    try:
        for r in publish_all(Portal(ckan_target()), codes=codes or None):
            why = f" ({'; '.join(r.reasons)})" if r.reasons else ""
            console.print(f"{r.code}: {r.action}{why} {r.url or ''}")
    except KcdataError as exc:
        _fail(exc)


def _decide(code: str, action: str, by: str, note: str) -> None:
    from catalog.entries import get_resource
    from catalog.store import open_store

    try:
        resource = get_resource(code)
        row = open_store().record_approval(resource, action, by, note)
    except (KcdataError, ValueError) as exc:
        _fail(exc)
    verb = "approved for publication" if action == "approve" else "approval withdrawn"
    console.print(f"{resource.code}: {verb} by {row.by} at {row.at:%Y-%m-%d %H:%M} UTC (version {row.version or '—'})")


@catalog_app.command("approve")
def catalog_approve(
    code: Annotated[str, typer.Argument(help="resource code or table name")],
    by: Annotated[str, typer.Option("--by", help="the department reviewer's name")],
    note: Annotated[str, typer.Option(help="why, for the record")] = "",
) -> None:
    """Record a department reviewer's approval to publish the resource."""
    _decide(code, "approve", by, note)


@catalog_app.command("withdraw")
def catalog_withdraw(
    code: Annotated[str, typer.Argument(help="resource code or table name")],
    by: Annotated[str, typer.Option("--by", help="the department reviewer's name")],
    note: Annotated[str, typer.Option(help="why, for the record")] = "",
) -> None:
    """Withdraw approval; the next publish run (or `kcdata publish CODE`) retracts the dataset."""
    _decide(code, "withdraw", by, note)


@catalog_app.command("list")
def catalog_list() -> None:
    """Every resource in the catalog, with its latest version and quality."""
    from kcdata.report import catalog_table

    console.print(catalog_table())


@catalog_app.command("show")
def catalog_show(code: Annotated[str, typer.Argument(help="resource code or table name")]) -> None:
    """One resource: catalog fields, items, versions, lineage."""
    from kcdata.report import print_resource

    try:
        print_resource(console, code)
    except KcdataError as exc:
        _fail(exc)

