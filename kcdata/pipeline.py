"""The one place that wires the stages together. Airflow tasks and the CLI both call these.

land (connectors) -> validate (expectations) -> record (catalog) for each file;
transform (dbt) -> record curated lineage; open views (governance) -> record open lineage.
Publishing (portal) reads the open views; see `publish` in kcdata/cli.py and the publish DAG.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.model import DUCKDB_TYPES, Resource
from catalog.store import CatalogStore, Edge, open_store
from common.lake import Zone, lake_uri
from common.settings import Paths, get_paths
from connectors.file_drop import LandedBatch, inbox_files, land_file
from expectations.validate import ValidationOutcome, validate_batch


@dataclass
class IngestResult:
    landed: LandedBatch
    outcome: ValidationOutcome
    version: int

    def to_dict(self) -> dict:
        return {"landed": self.landed.to_dict(), "outcome": self.outcome.to_dict(), "version": self.version}


def schema_of(resource: Resource, landed: LandedBatch) -> list[dict]:
    """The version's schema: every item with its lake type and whether the file carried it."""
    return [
        {
            "code": i.code,
            "name": i.name,
            "type": DUCKDB_TYPES[i.type],
            "item_type": i.type.value,
            "present": i.code not in landed.absent_items,
        }
        for i in resource.items
    ]


def record(store: CatalogStore, resource: Resource, landed: LandedBatch, outcome: ValidationOutcome) -> int:
    """Write the version and its lineage (source -> raw -> validated / quarantine) to the catalog."""
    fp, t = landed.fingerprint, resource.table
    edges = [
        Edge("land", Path(landed.source_file).resolve().as_uri(), lake_uri(Zone.raw, t, fp)),
        Edge("validate", lake_uri(Zone.raw, t, fp), lake_uri(Zone.validated, t, fp)),
        Edge("quarantine", lake_uri(Zone.raw, t, fp), lake_uri(Zone.quarantine, t, fp)),
    ]
    row = store.record_version(resource, landed.to_dict(), outcome.to_dict(), schema_of(resource, landed), edges)
    return row.version


def land_and_validate(resource: Resource, source: Path, paths: Paths | None = None, store: CatalogStore | None = None) -> IngestResult:
    """The whole per-file flow without Airflow."""
    paths = paths or get_paths()
    landed = land_file(resource, source, paths)
    outcome = validate_batch(resource, landed.fingerprint, paths)
    version = record(store or open_store(paths.catalog_url), resource, landed, outcome)
    return IngestResult(landed, outcome, version)


def land_inbox(resource: Resource, paths: Paths | None = None) -> list[LandedBatch]:
    """Land every file waiting in inbox/<table>/ (already-landed files are no-ops)."""
    paths = paths or get_paths()
    return [land_file(resource, f, paths) for f in inbox_files(resource, paths)]


def validate_landed(resource: Resource, batches: list[LandedBatch | dict], paths: Paths | None = None) -> list[IngestResult]:
    """Validate and record landed batches (already-validated ones are no-ops); refresh Data Docs.

    Batches may come as dicts (from XCom, as the ingest DAG's `land` task returned them)."""
    from expectations.validate import build_data_docs

    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    out = []
    for landed in batches:
        landed = LandedBatch(**landed) if isinstance(landed, dict) else landed
        outcome = validate_batch(resource, landed.fingerprint, paths)
        out.append(IngestResult(landed, outcome, record(store, resource, landed, outcome)))
    if any(not r.outcome.skipped for r in out):
        build_data_docs(paths)
    return out


def transform(paths: Paths | None = None):
    """Run dbt, then record validated -> curated lineage from dbt's own manifest."""
    from transform.runner import run_dbt

    paths = paths or get_paths()
    result = run_dbt(paths)
    record_curated_lineage(paths, result.marts)
    return result


def open_views(paths: Paths | None = None) -> dict:
    """The governance stage for every resource that may be opened and has a passing version:
    table -> OpenView, with curated -> open lineage recorded."""
    from catalog.entries import load_catalog
    from governance.open_view import build_open_view, may_open

    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    built = {}
    for resource in load_catalog():
        version = store.latest_passing_version(resource.code) if may_open(resource) else None
        if version is None:
            continue
        view = build_open_view(resource, version.fingerprint, paths)
        source = paths.uri_of(paths.current_file(resource.table))
        edge = Edge("open", source, lake_uri(Zone.open, resource.table, version.fingerprint))
        store.record_lineage(resource.code, [edge], version.id)
        built[resource.table] = view
    return built


def mart_sources(manifest_path: Path) -> dict[str, set[str]]:
    """For each model, the validated source tables it reads, following refs through staging."""
    import json

    manifest = json.loads(manifest_path.read_text())
    nodes = manifest["nodes"]
    sources = {k: v["name"] for k, v in manifest.get("sources", {}).items()}

    def walk(node_id: str, seen: set[str]) -> set[str]:
        if node_id in sources:
            return {sources[node_id]}
        if node_id in seen or node_id not in nodes:
            return set()
        seen.add(node_id)
        found: set[str] = set()
        for parent in nodes[node_id].get("depends_on", {}).get("nodes", []):
            found |= walk(parent, seen)
        return found

    return {v["name"]: walk(k, set()) for k, v in nodes.items() if v.get("resource_type") == "model"}


def record_curated_lineage(paths: Paths, marts: dict[str, Path]) -> None:
    """validated/<table>/batch=<latest> -> curated/<mart> for every mart built."""
    from catalog.entries import load_catalog

    manifest = paths.dbt_dir / "target" / "manifest.json"
    if not manifest.exists():
        return
    by_table = {r.table: r for r in load_catalog()}
    store = open_store(paths.catalog_url)
    for model, tables in mart_sources(manifest).items():
        if model not in marts:
            continue
        target = paths.uri_of(marts[model])
        for table in tables:
            resource = by_table.get(table)
            version = store.latest_passing_version(resource.code) if resource else None
            if version is None:
                continue
            edge = Edge("transform", lake_uri(Zone.validated, table, version.fingerprint), target)
            store.record_lineage(resource.code, [edge], version.id)
