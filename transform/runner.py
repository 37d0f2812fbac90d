"""Run dbt over the validated lake: curated marts and each resource's current rows as Parquet.

Two steps: `assemble_project` (transform/project.py) writes the run's project under
`<lake>/.dbt/project` (the repository's `dbt/` plus staging generated from the catalog), then
`dbt build` runs it with target/ and logs/ in `<lake>/.dbt/`, and its OpenLineage events are
emitted from those artifacts (transform/lineage.py). Nothing in the repository is written.
Heavy imports (dbt, duckdb) happen inside the functions so the CLI and DAGs stay light.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from catalog.model import Resource
from common.errors import KcdataError
from common.settings import Paths, get_paths
from transform.lineage import emit_dbt_run, external_location
from transform.project import assemble_project


@dataclass
class TransformResult:
    """What one `dbt build` produced."""

    success: bool
    marts: dict[str, Path] = field(default_factory=dict)  # model name -> Parquet file (marts and resources)
    rows: dict[str, int] = field(default_factory=dict)  # model name -> rows in the file
    log_path: Path = Path()  # dbt.log of the run
    project: Path = Path()  # the assembled dbt project the run used


# --------------------------------------------------------------------------- dbt


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
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


def _failures(result) -> list[str]:
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


def _built_marts(res, curated: Path) -> dict[str, Path]:
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


def run_dbt(paths: Paths | None = None, select: str | None = None, resources: list[Resource] | None = None) -> TransformResult:
    """Assemble the project, then `dbt build` it: seeds, models, data tests and unit tests.

    Raises KcdataError naming the failing nodes when anything fails. `select` is passed to
    dbt's `--select` (e.g. "+air_quality_daily"); only the models that were built are returned.
    """
    from dbt.cli.main import dbtRunner

    from catalog.entries import load_catalog

    paths = paths or get_paths()
    paths = replace(paths, lake=paths.lake.resolve())
    for d in (paths.dbt_dir, paths.curated):
        d.mkdir(parents=True, exist_ok=True)
    log_dir = paths.dbt_dir / "logs"
    target_dir = paths.dbt_dir / "target"
    project = assemble_project(resources if resources is not None else load_catalog(paths.catalog_dir), paths).path

    args = [
        "build",
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(target_dir),
        "--log-path", str(log_dir),
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]
    if select:
        args += ["--select", select]
    env = {
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    started = time.time()
    with _environ(env):
        try:
            res = dbtRunner().invoke(args)
        finally:
            _close_duckdb()
    failures = _failures(res)
    emit_dbt_run(paths, project, target_dir, since=started, succeeded=bool(res.success) and not failures)

    log_path = log_dir / "dbt.log"
    if not res.success or failures:
        detail = "; ".join(failures) or str(res.exception or "dbt build failed")
        raise KcdataError(f"dbt build failed: {detail} (log: {log_path})")

    marts = _built_marts(res, paths.curated)
    return TransformResult(success=True, marts=marts, rows=count_rows(marts), log_path=log_path, project=project)


def count_rows(marts: dict[str, Path]) -> dict[str, int]:
    """Rows in each mart Parquet file, read with an in-memory DuckDB."""
    import duckdb

    rows: dict[str, int] = {}
    with duckdb.connect(":memory:", config={"autoinstall_known_extensions": False}) as con:
        for name, path in marts.items():
            (n,) = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchall()[0]
            rows[name] = int(n)
    return rows
