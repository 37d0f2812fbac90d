"""Run dbt over the validated lake: curated marts and each resource's current rows as Parquet.

Two steps: `assemble_project` (transform/project.py) writes the run's project under
`<lake>/.dbt/project` (the repository's `dbt/` plus staging generated from the catalog), then
`dbt build` runs it in-process (`dbtRunner`) with target/ and logs/ in `<lake>/.dbt/`, and its
OpenLineage events are emitted from those artifacts (transform/lineage.py). Nothing in the
repository is written. A run for some `tables` builds only what depends on them
(transform/selection.py); dbt's partial parsing is kept between runs (the assembled files are only
rewritten when they change, target/ stays put, nothing in the project reads the environment), and
the result says which parse dbt did.
Heavy imports (dbt, duckdb) happen inside the functions so the CLI and DAGs stay light.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.model import Resource
from common.errors import KcdataError
from common.settings import Paths, get_paths
from transform.lineage import emit_dbt_run, external_location
from transform.project import assemble_project
from transform.selection import TABLES_ENV, built_nodes, plan, record_built

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult
    from dbt_common.events.base_types import EventMsg


@dataclass
class TransformResult:
    """What one `dbt build` produced."""

    success: bool
    marts: dict[str, Path] = field(default_factory=dict)  # model name -> Parquet file (marts and resources)
    rows: dict[str, int] = field(default_factory=dict)  # model name -> rows in the file
    log_path: Path = Path()  # dbt.log of the run
    project: Path = Path()  # the assembled dbt project the run used
    parse: str = ""  # dbt's own word on its parse: "partial: …" (saved manifest reused) or "full: <why>"
    selected: list[str] = field(default_factory=list)  # the models and seeds asked for (empty: everything)


# --------------------------------------------------------------------------- dbt


@contextmanager
def _environ(values: dict[str, str | None]) -> Iterator[None]:
    """Set (None: unset) environment variables for the duration of the block."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _close_duckdb() -> None:
    """Release the scratch DuckDB file dbt-duckdb keeps open in-process after a run."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def _failures(result: dbtRunnerResult) -> list[str]:
    """`node [status]: message` for every node of a dbt result that errored or failed."""
    lines, skipped = [], 0
    for r in getattr(getattr(result, "result", None), "results", None) or []:
        status = str(getattr(r.status, "value", r.status)).lower()
        if status == "skipped":
            skipped += 1
        elif status in {"error", "fail", "runtime error"}:
            node = getattr(r, "node", None)
            name = getattr(node, "unique_id", None) or getattr(node, "name", "?")
            message = " ".join((r.message or status).split())
            lines.append(f"{name} [{status}]: {message}")
    if lines and skipped:
        lines.append(f"{skipped} node(s) downstream skipped")
    return lines


def _built_marts(res: dbtRunnerResult, curated: Path) -> dict[str, Path]:
    """Model name -> Parquet file for every external-materialised model this run built."""
    marts: dict[str, Path] = {}
    for r in res.result.results:
        node = r.node
        if (
            str(getattr(r.status, "value", r.status)).lower() == "success"
            and node.resource_type.value == "model"
            and node.config.materialized == "external"
        ):
            marts[node.name] = external_location(node.config, node.name, curated)
    return dict(sorted(marts.items()))


def run_dbt(
    paths: Paths | None = None,
    select: str | None = None,
    resources: list[Resource] | None = None,
    tables: list[str] | None = None,
) -> TransformResult:
    """Assemble the project, then `dbt build` it: seeds, models, data tests and unit tests.

    Raises KcdataError naming the failing nodes when anything fails. `select` is passed to
    dbt's `--select` (e.g. "+air_quality_daily"); `tables` (resources whose validated data
    changed) builds only what depends on them (transform/selection.py); neither: everything.
    Only the models that were built are returned.
    """
    from dbt.cli.main import dbtRunner

    from catalog.entries import load_catalog

    paths = paths or get_paths()
    paths = replace(paths, lake=paths.lake.resolve())
    for d in (paths.dbt_dir, paths.curated):
        d.mkdir(parents=True, exist_ok=True)
    log_dir = paths.dbt_dir / "logs"
    target_dir = paths.dbt_dir / "target"
    assembled = assemble_project(resources if resources is not None else load_catalog(paths.catalog_dir), paths)
    project = assembled.path

    args = [
        "build",
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(target_dir),
        "--log-path", str(log_dir),
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]
    selection, reads = _selection(select, tables, target_dir, built_nodes(paths, assembled.fingerprint), paths.curated)
    args += selection
    env: dict[str, str | None] = {
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # decrypt only the batches of the resources this run reads (None: all of them)
        TABLES_ENV: None if reads is None else ",".join(reads),
    }
    parse: list[str] = []
    started = time.time()
    with _environ(env):
        try:
            res = dbtRunner(callbacks=[_parse_watcher(parse)]).invoke(args)
        finally:
            _close_duckdb()
    if _newer(target_dir / "manifest.json", started):  # dbt parsed: remember what it built with this project
        record_built(paths, assembled.fingerprint, _succeeded(res))
    failures = _failures(res)
    emit_dbt_run(paths, project, target_dir, since=started, succeeded=bool(res.success) and not failures)

    log_path = log_dir / "dbt.log"
    if not res.success or failures:
        detail = "; ".join(failures) or str(res.exception or "dbt build failed")
        raise KcdataError(f"dbt build failed: {detail} (log: {log_path})")

    marts = _built_marts(res, paths.curated)
    return TransformResult(
        success=True, marts=marts, rows=count_rows(marts), log_path=log_path, project=project,
        parse=_parse_kind(parse), selected=selection[1].split() if selection else [],
    )


def _selection(
    select: str | None, tables: list[str] | None, target_dir: Path, built: set[str], curated: Path
) -> tuple[list[str], list[str] | None]:
    """dbt's selection arguments: `select` as given; for `tables` the plan from the last run's graph,
    or dbt's `@stg_<table>` closure when that graph is not this project's; else none (everything).
    And the resources whose validated batches the run reads, when the plan says (None: any)."""
    if select:
        return ["--select", select], None
    if tables is None:
        return [], None
    chosen = None
    manifest_path = target_dir / "manifest.json"
    if built and manifest_path.exists():
        import json

        chosen = plan(json.loads(manifest_path.read_text(encoding="utf-8")), tables, built, curated)
    if chosen is None:
        return ["--select", " ".join(f"@stg_{t}" for t in sorted(tables))], None
    return chosen.args(), chosen.reads


def _newer(path: Path, since: float) -> bool:
    return path.exists() and path.stat().st_mtime >= since


def _succeeded(res: dbtRunnerResult) -> set[str]:
    """unique_ids of the models and seeds built and unit tests passed in a dbt result."""
    done: set[str] = set()
    for r in getattr(getattr(res, "result", None), "results", None) or []:
        node = getattr(r, "node", None)
        status = str(getattr(r.status, "value", r.status)).lower()
        kind = getattr(getattr(node, "resource_type", None), "value", "")
        if (kind in ("model", "seed") and status == "success") or (kind == "unit_test" and status == "pass"):
            done.add(r.node.unique_id)  # a kind was found: the node is there
    return done


_PARSE_EVENTS = ("UnableToPartialParse", "PartialParsingNotEnabled", "PartialParsingEnabled", "PartialParsingSkipParsing")


def _parse_watcher(seen: list[str]) -> Callable[[EventMsg], None]:
    """A dbtRunner callback keeping dbt's own events about reusing its saved parse."""

    def callback(event: EventMsg) -> None:
        name = event.info.name
        if name == "UnableToPartialParse":
            seen.append(f"full: {event.data.reason}")
        elif name == "PartialParsingNotEnabled":
            seen.append("full: partial parsing is off")
        elif name == "PartialParsingEnabled":
            d = event.data
            seen.append(f"partial: {d.deleted} deleted, {d.added} added, {d.changed} changed")
        elif name == "PartialParsingSkipParsing":
            seen.append("partial: nothing changed")

    return callback


def _parse_kind(seen: list[str]) -> str:
    full = [s for s in seen if s.startswith("full")]
    return (full or seen or ["full"])[-1]


def count_rows(marts: dict[str, Path]) -> dict[str, int]:
    """Rows in each mart Parquet file, read with an in-memory DuckDB."""
    from common.lake_store import connect

    rows: dict[str, int] = {}
    with connect(":memory:", config={"autoinstall_known_extensions": False}) as con:
        for name, path in marts.items():
            (n,) = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchall()[0]
            rows[name] = int(n)
    return rows
