"""OpenLineage events for each dbt run, naming the lake as the catalog does.

After `dbt build`, `emit_dbt_run` reads the run's artifacts (manifest.json, run_results.json)
with openlineage-dbt's own processor, as the `dbt-ol` wrapper does after a run: a START and a
COMPLETE (or FAIL) for the run job `dbt-run-kcdata`, and for every model and test job. The
events go to the same place as Airflow's (`transport_config`): JSON lines in
`<lake>/lineage/dbt.jsonl`, or an HTTP endpoint (Marquez, DataHub) when `KCDATA_OPENLINEAGE_URL`
is set. `OPENLINEAGE_DISABLED=true` turns it off; nothing is sent anywhere else.

**Names: the one documented mapping.** The catalog names lake locations `lake://<zone>/<path>`
(common/lake.py), Airflow names them `kcdata://lake/<zone>/<path>` (orchestration/topology.py), and
`dataset_name` turns both into the OpenLineage dataset (`kcdata://lake`, `<zone>/<path>`), so the
namespace and name joined are the Airflow Asset URI. A batch (`/batch=<fp16>.<rules>`) is a
version of its table's dataset, not a dataset of its own. Local files keep OpenLineage's naming
(`file`, absolute path), as Airflow's provider converts `file://` Assets.

dbt's processor names every node after the DuckDB scratch file (`duckdb://<lake>/.dbt/kcdata.duckdb`,
`kcdata.main.stg_clinics`). For the nodes that *are* lake locations, `LakeNamedProcessor`
renames them (the original name is kept in the dataset's `symlinks` facet):

    source validated.<table>                  -> kcdata://lake  validated/<table>
    external model (location under the lake)  -> kcdata://lake  curated/<mart>, curated/resources/<table>
    intermediate models, seeds                -> unchanged: they live only in the scratch DuckDB

The run job's events also carry the run as a whole, what it read from the lake and what it wrote
there: the grain of the catalog's `validated -> curated` edges, which follow refs through staging.
"""
from __future__ import annotations

import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from common.lake import Zone, lake_uri
from common.settings import Paths, read_settings

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

log = logging.getLogger("kcdata.lineage")

JOB_NAMESPACE = "kcdata"  # the OpenLineage namespace of our jobs (Airflow's and dbt's)
LAKE_NAMESPACE = "kcdata://lake"  # the OpenLineage namespace of lake datasets
URL_ENV = "KCDATA_OPENLINEAGE_URL"  # set: events go to this HTTP endpoint instead of the file


def lineage_file(lake: Path, producer: str) -> Path:
    """<lake>/lineage/<producer>.jsonl: one file per producer (`airflow`, `dbt`), so a reader can tell
    them apart; each event is one line appended by one write (several Airflow tasks may append).
    An object store cannot append: with an S3 lake the file is in the local work folder (or set
    KCDATA_OPENLINEAGE_URL and send the events to a lineage server)."""
    from common.lake_store import is_remote, work_dir

    return (work_dir(lake) if is_remote(lake) else lake.resolve()) / "lineage" / f"{producer}.jsonl"


def transport_config(lake: Path, producer: str) -> dict:
    """The OpenLineage transport, as openlineage-python and Airflow's `[openlineage] transport` take it.

    HTTP to `KCDATA_OPENLINEAGE_URL` when set; otherwise the file transport appending JSON lines to
    `lineage_file` (whose folder is created here: the transport does not create it)."""
    given = read_settings()
    url = (given.openlineage_url or "").strip()
    if url:
        config: dict = {"type": "http", "url": url, "endpoint": given.openlineage_endpoint}
        if given.openlineage_api_key:
            config["auth"] = {"type": "api_key", "apiKey": given.openlineage_api_key.get_secret_value()}
        return config
    path = lineage_file(lake, producer)
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"type": "file", "log_file_path": str(path), "append": True}


def dataset_name(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a lineage URI: the catalog's, an Airflow Asset's or a file's.

    `lake://validated/t/batch=…` and `kcdata://lake/validated/t` -> (kcdata://lake, validated/t);
    `kcdata://inbox/t` -> (kcdata://inbox, t); `file:///a/b.csv` -> (file, /a/b.csv).
    Anything else: (scheme://authority, path), OpenLineage's general rule."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "file", unquote(parts.path)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme == "lake":
        segments = [parts.netloc, *segments]
        return LAKE_NAMESPACE, "/".join(s for s in segments if not s.startswith("batch="))
    return f"{parts.scheme}://{parts.netloc}", "/".join(segments)


def external_location(config: Any, name: str, curated: Path) -> Path:
    """Where a dbt-duckdb `external` model writes: its `location`, else `<curated>/<name>.parquet`
    (`config`: a manifest node's config, a dict or dbt's config object; both have `.get`)."""
    from common.lake_store import lake_root

    return lake_root(config.get("location") or str(curated / f"{name}.parquet"))


def lake_uris(manifest: dict, paths: Paths) -> dict[str, str]:
    """dbt unique_id -> the catalog's URI of the lake location that node is (sources and external models)."""
    from transform.project import SOURCE_NAME

    uris = {
        unique_id: lake_uri(Zone.validated, node["name"])
        for unique_id, node in manifest.get("sources", {}).items()
        if node.get("source_name") == SOURCE_NAME
    }
    for unique_id, node in manifest.get("nodes", {}).items():
        config = node.get("config") or {}
        if node.get("resource_type") != "model" or config.get("materialized") != "external":
            continue
        location = external_location(config, node["name"], paths.curated).resolve()
        try:
            uris[unique_id] = paths.uri_of(location)
        except ValueError:  # written outside the lake: name the file itself
            uris[unique_id] = location.as_uri()
    return uris


# --------------------------------------------------------------------------- dbt events


@cache
def _processor_class() -> type:
    """dbt-ol's artifact processor, naming lake nodes with `dataset_name` (built on first use:
    openlineage-dbt is imported only when a run emits)."""
    from openlineage.client.facet_v2 import symlinks_dataset
    from openlineage.common.provider.dbt import DbtLocalArtifactProcessor

    class LakeNamedProcessor(DbtLocalArtifactProcessor):
        """Every dataset name the processor makes goes through `extract_dataset_data`: rename there."""

        def __init__(self, *args: Any, lake_names: dict[str, tuple[str, str]], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lake_names = lake_names

        def extract_dataset_data(  # dbt-ol's signature
            self, node: Any, assertions: Any, has_facets: bool = False,
        ) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
            namespace, name, facets, input_facets = super().extract_dataset_data(node, assertions, has_facets)
            lake = self.lake_names.get(node.metadata_node.get("unique_id", ""))
            if lake is None:
                return namespace, name, facets, input_facets
            facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[symlinks_dataset.Identifier(namespace=namespace, name=name, type="TABLE")]
            )
            return lake[0], lake[1], facets, input_facets

    return LakeNamedProcessor


def _run_datasets(events: list) -> tuple[list, list]:
    """What the run read from the lake (and did not itself write), and what it wrote there."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    def lake(d: InputDataset | OutputDataset) -> bool:
        return d.namespace == LAKE_NAMESPACE or d.namespace == "file"

    models = [e for e in events if e.eventType.value == "COMPLETE" and e.outputs]
    written = {(d.namespace, d.name) for e in models for d in e.outputs if lake(d)}
    read = {(d.namespace, d.name) for e in models for d in e.inputs if lake(d)} - written
    return [InputDataset(namespace=n, name=m) for n, m in sorted(read)], [OutputDataset(namespace=n, name=m) for n, m in sorted(written)]


def _root_of(parent: Any, start: RunEvent) -> tuple[str, str, str]:
    """(run id, job name, job namespace) of the root run, as dbt-ol stitches orchestrator -> run -> node."""
    if parent is None:
        return start.run.runId, start.job.name, start.job.namespace
    if parent.root_parent_run_id and parent.root_parent_job_name and parent.root_parent_job_namespace:
        return parent.root_parent_run_id, parent.root_parent_job_name, parent.root_parent_job_namespace
    return parent.run_id, parent.job_name, parent.job_namespace


def dbt_events(paths: Paths, project: Path, target_dir: Path, succeeded: bool) -> list:
    """The OpenLineage events of the dbt run whose artifacts are in `target_dir`, in dbt-ol's shape:
    the run's START, each node's START and COMPLETE/FAIL, the run's COMPLETE/FAIL. A parent run
    given the dbt-ol way (OPENLINEAGE_PARENT_ID, OPENLINEAGE_CONTEXT) becomes the run's parent."""
    from openlineage.common.provider.dbt import ParentRunMetadata
    from openlineage.common.provider.dbt.utils import PRODUCER, get_parent_run_metadata
    from openlineage.dbt import dbt_run_event_end, dbt_run_event_failed, dbt_run_event_start

    manifest = json.loads((target_dir / "manifest.json").read_text(encoding="utf-8"))
    names = {k: dataset_name(uri) for k, uri in lake_uris(manifest, paths).items()}
    processor = _processor_class()(
        lake_names=names, producer=PRODUCER, job_namespace=JOB_NAMESPACE, project_dir=str(project), target_path=str(target_dir), logger=log
    )
    parent = get_parent_run_metadata()
    start = dbt_run_event_start(processor.job_name, JOB_NAMESPACE, parent)
    run_id, job_name, job_namespace = _root_of(parent, start)
    processor.dbt_run_metadata = ParentRunMetadata(
        run_id=start.run.runId,
        job_name=start.job.name,
        job_namespace=start.job.namespace,
        root_parent_run_id=run_id,
        root_parent_job_name=job_name,
        root_parent_job_namespace=job_namespace,
    )
    events = processor.parse().events()
    end = (dbt_run_event_end if succeeded else dbt_run_event_failed)(
        run_id=start.run.runId, job_namespace=start.job.namespace, job_name=start.job.name, parent_run_metadata=parent
    )
    started_at = processor.run_metadata.get("invocation_started_at")
    if started_at:
        start.eventTime = started_at
    for facet in ("dbt_version", "processing_engine", "dbt_run"):
        if events and facet in events[0].run.facets:
            start.run.facets[facet] = end.run.facets[facet] = events[0].run.facets[facet]
    start.inputs, start.outputs = _run_datasets(events)
    end.inputs, end.outputs = start.inputs, start.outputs
    return [start, *events, end]


def emit_dbt_run(paths: Paths, project: Path, target_dir: Path, *, since: float, succeeded: bool) -> int:
    """Emit the events of the dbt run that just ended; returns how many were sent.

    Skipped when run_results.json is older than `since` (dbt stopped before running anything).
    Never raises: lineage must not fail a build that worked; a failure is logged as a warning."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return 0
    run_results = target_dir / "run_results.json"
    if not run_results.exists() or run_results.stat().st_mtime < since:
        return 0
    try:
        from openlineage.client import OpenLineageClient

        events = dbt_events(paths, project, target_dir, succeeded)
        client = OpenLineageClient(config={"transport": transport_config(paths.lake, "dbt")})
        for event in events:
            client.emit(event)
        client.close(timeout=30)
        return len(events)
    except Exception:  # noqa: BLE001 - see docstring
        log.warning("OpenLineage events of the dbt run were not emitted", exc_info=True)
        return 0
