"""`kcdata`: everything a data bureau engineer does by hand."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from catalog.store import open_store
from common.errors import KcdataError
from common.problems import Refusal
from common.settings import SettingsError, get_paths, read_settings

app = typer.Typer(
    help="Knowledge City data pipeline: sample, ingest, transform, catalog.", no_args_is_help=True, pretty_exceptions_enable=False
)
catalog_app = typer.Typer(help="The data-resource catalog (信息资源目录).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
console = Console(width=None if Console().is_terminal else 160)
T = TypeVar("T")


def _default_keys_file() -> None:
    """From a terminal, the lake's keys are the local system's (`kcdata up` made them); the
    environment (KCDATA_KEYS_FILE, KCDATA_MASTER_KEY, ...) wins when set."""
    import os

    from common.keys import KEYS_FILE_VARIABLE
    from stack.layout import get_layout

    given = read_settings()
    if not given.keys_file and not given.system_home:
        os.environ[KEYS_FILE_VARIABLE] = str(get_layout().keys_file)


with suppress(SettingsError):  # every command refuses wrong settings before it runs (_guarded)
    _default_keys_file()


def _default_s3_store() -> None:
    """A lake on S3 with no store named (`AWS_ENDPOINT_URL`): the local system's SeaweedFS and its
    keys, and its PostgreSQL catalog store, as the running services use them."""
    import os

    if not (read_settings().lake or "").startswith("s3://") or os.environ.get("AWS_ENDPOINT_URL"):
        return
    from stack import get_layout, seaweedfs

    os.environ.update(seaweedfs.lake_environment(get_layout(), os.environ))


with suppress(SettingsError):
    _default_s3_store()


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {escape(str(exc))}")
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
    except (KcdataError, ValueError) as exc:  # ValueError: rows or bad share out of bounds
        _fail(exc)


@app.command()
def ingest(
    code: Annotated[str, typer.Argument(help="resource code (KC-SCJG-001) or table name")],
    file: Annotated[Optional[Path], typer.Argument(help="one file to ingest (default: every delivery in inbox/<table>/)")] = None,
) -> None:
    """Land and validate without Airflow: one file, or the inbox (files are then archived), plus
    any stored delivery whose rules changed. Exits 1 when a file was refused."""
    from catalog.entries import get_resource
    from flow.pipeline import land_and_validate, land_inbox, validate_pending
    from flow.refusal import RecordedRefusal
    from kcdata.report import print_ingest_result, print_refused

    resource = get_resource(code)
    refused = 0
    if file is not None:
        try:
            print_ingest_result(console, land_and_validate(resource, file))
        except RecordedRefusal as refusal:  # recorded by the flow: shown as recorded
            print_refused(console, refusal.refused)
            refused = 1
    else:
        report = land_inbox(resource)
        for r in report.refused:
            print_refused(console, r)
        refused = len(report.refused)
        results = validate_pending(resource)
        for result in results:
            print_ingest_result(console, result)
        if not results and not report.landed and not refused:
            console.print(f"nothing to ingest: inbox/{resource.table}/ is empty and every stored delivery is validated")
    if refused:
        raise typer.Exit(1)


@app.command()
def revalidate(codes: Annotated[Optional[list[str]], typer.Argument(help="resource codes (default: all)")] = None) -> None:
    """Validate the stored deliveries again where the catalog entry's rules or limits changed
    (new versions, history kept); nothing changed, nothing done. On a running system this is the
    chain's run for those resources, so transform, open view and publish follow by themselves."""
    from catalog.entries import get_resource, load_catalog
    from flow.pipeline import pending_batches, validate_pending
    from kcdata.report import print_ingest_result
    from orchestration.topology import CHAIN
    from system.running import request_run

    paths, store = get_paths(), open_store()
    done = 0
    for resource in [get_resource(c) for c in codes] if codes else load_catalog():
        waiting = pending_batches(resource, paths, store)
        if not waiting:
            continue
        done += 1
        run_id = request_run(CHAIN, f"revalidate {resource.code}", {"tables": [resource.table]})
        if run_id:
            console.print(f"{resource.code}: {len(waiting)} stored deliver{'y' if len(waiting) == 1 else 'ies'} to validate "
                          f"under the changed rules: {CHAIN} run {run_id} started on the running "
                          f"system; transform, open view and publish follow (`kcdata deliveries {resource.code}`)")
            continue
        for result in validate_pending(resource):
            print_ingest_result(console, result)
        console.print(f"no running system here: `kcdata transform`, `kcdata open-view` and `kcdata publish {resource.code}` "
                      "carry the new version on")
    if not done:
        console.print("every stored delivery is validated under the current rules: nothing to do")


@app.command()
def problems(markdown: Annotated[bool, typer.Option(help="print the docs' Markdown table")] = False) -> None:
    """The registry of problems a delivery can have: code, level, severity, messages."""
    from common.problems import PROBLEMS, markdown_table

    if markdown:
        print(markdown_table())
        return
    from rich.table import Table

    table = Table(title="问题代码 problem codes")
    for col in ("code", "level", "severity", "问题说明", "description"):
        table.add_column(col)
    for p in PROBLEMS.values():
        table.add_row(p.code, p.level.value, p.severity.value, p.zh, p.en)
    console.print(table)


@app.command()
def transform() -> None:
    """Run dbt (generated staging + marts) over the validated versions that passed, without Airflow."""
    from flow.pipeline import transform as run_transform

    try:
        result = run_transform()
        for mart, path in result.marts.items():
            console.print(f"{mart}: {result.rows.get(mart, 0):,} rows -> {path}")
    except KcdataError as exc:
        _fail(exc)


@app.command("open-view")
def open_view() -> None:
    """Build the open views (what may be published) from dbt's output, without Airflow."""
    from flow.pipeline import open_views

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
    sample_data: Annotated[bool, typer.Option("--sample/--no-sample", help="deliver the sample files")] = True,
    stop: Annotated[bool, typer.Option("--stop", help="stop the system at the end instead of leaving it running")] = False,
) -> None:
    """The main job on the running system: start it, deliver the sample files as departments would,
    watch Airflow carry them to CKAN, print the summary and the URLs."""
    from kcdata.report import print_publication_summary, print_run_summary
    from kcdata.system_cli import down, print_urls
    from stack.layout import ckan_url
    from system.main_job import run_main_job

    state = run_main_job(console, rows=rows, bad_share=bad_share, seed=20261122, sample=sample_data)
    print_run_summary(console)
    print_publication_summary(console, ckan_url())
    if state.failed:
        console.print("[red]failed runs:[/red] " + ", ".join(state.failed) + " (see the Airflow UI or `kcdata logs airflow-scheduler`)")
    if stop:
        down()
    else:
        print_urls()
        console.print("The system keeps running: explore, then `kcdata down` (or `kcdata status`, `kcdata logs SERVICE`).")
    if state.failed:
        raise typer.Exit(1)


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="the file to deliver (CSV, XLSX, XLS or JSON)")],
    resource: Annotated[str, typer.Option("--resource", "-r", help="resource code (KC-SCJG-001) or table name")],
    wait: Annotated[bool, typer.Option("--wait", help="follow the delivery to its version and the portal (or its refusal)")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait follows it")] = 600,
) -> None:
    """Deliver a file as its department: copied into inbox/<table>/, then marked complete (`.ready`),
    which starts the resource's ingest DAG on the running system."""
    from catalog.entries import get_resource
    from connectors.inbox import submit_delivery
    from kcdata.deliveries_cli import follow

    r = get_resource(resource)
    try:
        target = submit_delivery(r, file, get_paths())
    except Refusal as refusal:  # refused before delivery (a link, a .doc...): recorded as the inbox records it
        import os

        if not os.path.lexists(file):
            raise  # a mistyped name is not a delivery
        from flow.refusal import refuse
        from kcdata.report import print_refused

        print_refused(console, refuse(r, refusal, get_paths(), open_store()))
        raise typer.Exit(1) from None
    console.print(f"{r.code}: delivered {escape(target.name)} (marker {escape(target.name)}.ready); the running system "
                  f"picks it up within seconds: `kcdata deliveries {r.code}` shows where it stands")
    if wait:
        code = follow(r.code, file, target, timeout)
        if code:
            raise typer.Exit(code)


@app.command()
def publish(codes: Annotated[Optional[list[str]], typer.Argument(help="resource codes (default: all)")] = None) -> None:
    """Put approved open resources on the CKAN portal; retract withdrawn ones (without Airflow)."""
    from kcdata.targets import ckan_target
    from portal.client import Portal
    from portal.publisher import publish_all

    try:
        results = publish_all(Portal(ckan_target()), codes=codes or None)
    except KcdataError as exc:
        _fail(exc)
    for r in results:
        if r.action == "blocked":  # the leak gate: one line per file, column and rule, never a value
            console.print(f"[red]{r.code}: blocked[/red] {r.url or ''}")
            for reason in r.reasons:
                console.print(f"  {escape(reason)}")
            continue
        why = f" ({'; '.join(r.reasons)})" if r.reasons else ""
        console.print(f"{r.code}: {r.action}{why} {r.url or ''}")
    blocked = [r.code for r in results if r.action == "blocked"]
    if blocked:
        console.print(f"[red]error:[/red] the leak gate blocked {', '.join(blocked)}: nothing of {'it' if len(blocked) == 1 else 'them'} "
                      "was uploaded; correct the entries' sensitivity or treatments, then publish again")
        raise typer.Exit(1)


def _decide(code: str, action: str, by: str, note: str) -> None:
    """One workflow step from the CLI, through the same function the web uses (flow/approvals.py),
    as a named account of the catalog web, checked against its role as the web checks it."""
    from catalog.entries import get_resource
    from flow.approvals import DONE, act
    from kcdata.users_cli import cli_account
    from system.running import request_publish

    try:
        resource = get_resource(code)
        account = cli_account(by)
        outcome = act(resource, action, account.record_name, note, actor=account.actor("cli"), account=account,
                      request_publish=request_publish)
    except (KcdataError, ValueError) as exc:
        _fail(exc)
    row = outcome.row
    console.print(f"{resource.code}: {DONE[action]} by {row.by} at {row.at:%Y-%m-%d %H:%M} UTC (version {row.version or '—'})")
    if action == "submit":
        return
    if outcome.blocks:
        console.print("[red]the gate still keeps it off the portal:[/red]")
        for reason in outcome.blocks:
            console.print(f"  {escape(reason)}", soft_wrap=True)
        from flow.approvals import BLOCK_ADVICE

        console.print(escape(BLOCK_ADVICE.format(code=resource.code)), soft_wrap=True)
    if outcome.run_id:
        console.print(f"publish__portal run {outcome.run_id} started on the running system")
    else:
        console.print(f"no running system here: `kcdata publish {resource.code}` applies it now")


CodeArg = Annotated[str, typer.Argument(help="resource code or table name")]
ByOption = Annotated[str, typer.Option("--by", help="your catalog-web account (username): a reviewer of the providing "
                                                   "department or a bureau admin decides; its users submit")]


@catalog_app.command("submit")
def catalog_submit(code: CodeArg, by: ByOption, note: Annotated[str, typer.Option(help="for the reviewer")] = "") -> None:
    """Ask the providing department's reviewer to approve the resource for publication (提交发布申请)."""
    _decide(code, "submit", by, note)


@catalog_app.command("approve")
def catalog_approve(code: CodeArg, by: ByOption, note: Annotated[str, typer.Option(help="why, for the record")] = "") -> None:
    """Record a department reviewer's approval to publish the resource."""
    _decide(code, "approve", by, note)


@catalog_app.command("reject")
def catalog_reject(
    code: CodeArg, by: ByOption, reason: Annotated[str, typer.Option("--reason", help="why (required)")],
) -> None:
    """Reject a submission (驳回, with a reason); the resource stays off the portal (retracted if it was there)."""
    _decide(code, "reject", by, reason)


@catalog_app.command("withdraw")
def catalog_withdraw(code: CodeArg, by: ByOption, note: Annotated[str, typer.Option(help="why, for the record")] = "") -> None:
    """Withdraw approval; the next publish run (or `kcdata publish CODE`) retracts the dataset."""
    _decide(code, "withdraw", by, note)


@catalog_app.command("list")
def catalog_list() -> None:
    """Every resource in the catalog, with its latest version and quality."""
    from kcdata.report import catalog_table

    console.print(catalog_table())


@catalog_app.command("check")
def catalog_check() -> None:
    """Load every catalog entry (and departments.yaml) as the running system will: a bad entry is
    refused with its file and field named. Run it after adding or editing an entry."""
    from catalog.entries import load_catalog

    try:
        resources = load_catalog()
    except KcdataError as exc:
        _fail(exc)
    departments = {r.provider.slug for r in resources}
    console.print(f"catalog ok: {len(resources)} entries of {len(departments)} departments in {get_paths().catalog_dir}")


@catalog_app.command("show")
def catalog_show(code: Annotated[str, typer.Argument(help="resource code or table name")]) -> None:
    """One resource: catalog fields, items, versions, lineage."""
    from kcdata.report import print_resource

    try:
        print_resource(console, code)
    except KcdataError as exc:
        _fail(exc)



def _guarded(command: Callable[..., T]) -> Callable[..., T]:
    """Every command answers with a message, never a traceback: our errors as they are, anything
    unexpected as one line, with the traceback written to a log file for the bureau."""
    import functools

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> T:
        import click

        try:
            read_settings()  # a wrong or unknown KCDATA_ variable is refused before the command runs
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Refusal as exc:
            console.print(f"[red]refused:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except KcdataError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            from common.lake_store import unreachable

            if message := unreachable(exc):
                console.print(f"[red]error:[/red] {escape(message)}")
                raise typer.Exit(1) from None
            log = _log_traceback(exc)
            console.print(f"[red]error:[/red] unexpected {type(exc).__name__}: {escape(str(exc)[:300])} (details in {log})")
            raise typer.Exit(2) from None

    return run


def _log_traceback(exc: Exception) -> Path:
    import tempfile
    import traceback

    log = Path(tempfile.gettempdir()) / "kcdata" / "errors.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write("".join(traceback.format_exception(exc)) + "\n")
    return log


from kcdata.export_cli import register as _register_export  # noqa: E402
from kcdata.freshness_cli import freshness as _freshness  # noqa: E402
from kcdata.system_cli import register as _register_system  # noqa: E402
from kcdata.users_cli import users_app as _users_app  # noqa: E402

app.add_typer(_users_app, name="users")
from kcdata.keys_cli import keys_app as _keys_app  # noqa: E402

app.add_typer(_keys_app, name="keys")

_register_system(app)
_register_export(catalog_app)
from kcdata.gate_cli import register as _register_gate  # noqa: E402

_register_gate(catalog_app)
from kcdata.deliveries_cli import register as _register_deliveries  # noqa: E402

_register_deliveries(app)
app.command("freshness")(_freshness)
from kcdata.verify_cli import verify as _verify  # noqa: E402

app.command("verify")(_verify)

for _typer in (app, catalog_app, _users_app):
    for _info in _typer.registered_commands:
        if _info.callback is not None:  # every command has one: typer's field is optional
            _info.callback = _guarded(_info.callback)
