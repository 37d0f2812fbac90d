"""The GX file context kept in the lake (lake/gx): suites, validation definitions, Data Docs.

Every validation run shares it, also runs of other resources in other processes, and GX rewrites
its files in place (a reader can meet a half-written great_expectations.yml). So: the context is
opened, changed and rendered to Data Docs only under one lock (`flock` on lake/gx/.kcdata-gx.lock,
released by the kernel if the process dies); a file is written only when what it should hold is
missing or different; and suites and validation definitions are named by resource code and rules
signature (`KC-SCJG-001.1a2b3c4d`), so a run under other rules never changes what another run reads
while it validates (GX re-reads its suite and validation definition on every run).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.locks import file_lock
from common.settings import Paths

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite, ValidationDefinition
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import FileDataContext

    from catalog.model import Resource

DATASOURCE = "kcdata_raw"  # pandas: dataframe assets, one per resource (KCDATA_GX_ENGINE=pandas)
SQL_DATASOURCE = "kcdata_typed"  # DuckDB SQL: table assets over the typed rows (the default engine)
LOCK_FILE = ".kcdata-gx.lock"


@contextmanager
def gx_lock(paths: Paths, timeout: float | None = None) -> Iterator[None]:
    """Hold the lake's GX context: one process at a time opens, changes or renders it."""
    with file_lock(paths.gx_root / LOCK_FILE, f"the GX context ({paths.gx_root})", timeout):
        yield


def get_context(paths: Paths) -> FileDataContext:
    """A file-backed GX context, read under the GX lock; analytics off (no internet here)."""
    with gx_lock(paths):
        return _open(paths)


def _open(paths: Paths) -> FileDataContext:
    """Open (the first time: create) the context; the caller holds the GX lock."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import expectations.custom  # noqa: F401  (registers the custom expectations)

    paths.gx_root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(paths.gx_root))
    bars = context.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def validation_definition(paths: Paths, resource: Resource, suite: ExpectationSuite, engine: str = "duckdb") -> ValidationDefinition:
    """The validation definition of `suite` (named `<code>.<rules>`, see expectations.suite; with
    `.pandas` appended on the pandas engine) on the resource's asset of `engine`. Opened afresh
    under the GX lock, so it sees what other runs added and writes only what is missing or
    changed; the suite a run then reads stays as it is."""
    import great_expectations as gx
    from great_expectations.exceptions import DataContextError

    name = suite.name if engine == "duckdb" else f"{suite.name}.{engine}"
    with gx_lock(paths):
        context = _open(paths)
        batch = _table_batch_definition(context, resource) if engine == "duckdb" else _batch_definition(context, resource)
        stored = _stored_suite(context, suite)
        try:
            existing = context.validation_definitions.get(name)
        except DataContextError:
            existing = None
        if existing is not None and existing.suite.id == stored.id and existing.data.id == batch.id:
            return existing
        if existing is not None:
            context.validation_definitions.delete(name)
        return context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=stored))


TYPED_ASSET = "typed_rows"  # the one table asset of the SQL datasource, whatever the catalog's size


def gx_table(resource: Resource) -> str:
    """The view GX validates in the shared in-memory DuckDB (expectations/gx_duckdb.py): the same
    name for every resource, pointed at the resource's typed rows for the time of its validation
    (one validation at a time per process: expectations/validate.py `_workspace`)."""
    return f"gx_{TYPED_ASSET}"


def _table_batch_definition(context: FileDataContext, resource: Resource) -> BatchDefinition:
    """The SQL datasource on the shared in-memory DuckDB, its one table asset and the asset's
    whole-table batch definition, each added only when missing.

    One asset for all resources, not one per resource: GX keeps its datasources in
    great_expectations.yml and reads and rewrites the whole file whenever a context is opened or an
    asset added, so one asset per resource made every validation's cost grow with the catalog
    (about 1 s per opening at 80 resources, more at 1,000). What tells resources apart is the suite
    (`<code>.<rules>`), which names the validation definition, the result and its Data Docs page."""
    from expectations.gx_duckdb import DATABASE_URL

    try:
        source = context.data_sources.get(SQL_DATASOURCE)
    except KeyError:
        source = context.data_sources.add_sql(SQL_DATASOURCE, connection_string=DATABASE_URL)
    try:
        asset = source.get_asset(TYPED_ASSET)
    except LookupError:
        asset = source.add_table_asset(name=TYPED_ASSET, table_name=gx_table(resource))
    try:
        return asset.get_batch_definition("whole_table")
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_table("whole_table")


def _batch_definition(context: FileDataContext, resource: Resource) -> BatchDefinition:
    """The datasource, the resource's dataframe asset and its whole-dataframe batch definition,
    each added only when missing (adding one rewrites great_expectations.yml)."""
    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(resource.table)
    except LookupError:
        asset = source.add_dataframe_asset(name=resource.table)
    try:
        return asset.get_batch_definition("whole_batch")
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_dataframe("whole_batch")


def _stored_suite(context: FileDataContext, suite: ExpectationSuite) -> ExpectationSuite:
    """The stored suite equal to `suite`: added when missing, rewritten only when it differs."""
    from great_expectations.exceptions import DataContextError

    try:
        stored = context.suites.get(suite.name)
    except DataContextError:
        return context.suites.add(suite)
    return stored if _shape(stored) == _shape(suite) else context.suites.add_or_update(suite)


def _shape(suite: ExpectationSuite) -> str:
    """A suite's content without the ids GX assigns when storing it (GX's own equality counts
    them, so a freshly built suite never equals the stored one and would be rewritten each run)."""
    import json

    document = suite.to_json_dict()
    document.pop("id", None)
    document["expectations"] = sorted(
        json.dumps({k: v for k, v in e.items() if k != "id"}, sort_keys=True, default=str) for e in document["expectations"]
    )
    return json.dumps(document, sort_keys=True, default=str)


def build_data_docs(paths: Paths, run_names: list[str] | None = None) -> Path:
    """Render the Data Docs under the GX lock (two runs rendering at once would mix their pages),
    then point their CDN links at local copies (expectations/data_docs_offline.py): no internet here.

    With `run_names` (the GX runs a validation just made), only their result pages, their suites'
    pages and the index are rendered: a full render costs a few seconds per stored result, so
    re-rendering the whole history after every delivery would grow without end.

    With a lake on S3 (one GX context per machine), the results of the runs named are shared
    through the lake, and a full render first gathers every machine's results (expectations/gx_shared.py)."""
    from expectations.data_docs_offline import MissingAssets, make_offline
    from expectations.data_docs_templates import compile_templates_once
    from expectations.gx_shared import gather_results, results_to_share, share_results

    compile_templates_once()
    to_share: dict = {}
    try:
        with gx_lock(paths):
            if run_names is None:
                gather_results(paths)
            else:
                to_share = results_to_share(paths, run_names)
            context = _open(paths)
            if run_names is None:
                context.build_data_docs()
            else:
                context.build_data_docs(resource_identifiers=_identifiers(context, set(run_names)))
            try:
                make_offline(paths.data_docs_index.parent)
            except MissingAssets as exc:  # the docs still exist; they just need the internet to look right
                logging.getLogger(__name__).warning("Data Docs keep their CDN links: %s", exc)
    finally:  # read under the lock, uploaded outside it (the machine's other validations go on), even if rendering failed
        share_results(paths, to_share)
    return paths.data_docs_index


def _identifiers(context: FileDataContext, run_names: set[str]) -> list[Any]:
    """The stored validation results of the runs named, and the suites they validated."""
    results = [key for key in context.validation_results_store.list_keys() if key.run_id.run_name in run_names]
    suites = {key.expectation_suite_identifier.to_tuple(): key.expectation_suite_identifier for key in results}
    return [*results, *suites.values()]


def data_docs_index(paths: Paths) -> Path:
    return paths.data_docs_index
