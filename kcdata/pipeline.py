"""The one place that wires the stages together. Airflow tasks and the CLI both call these.

land (connectors) -> validate (expectations) -> record (catalog) for each file;
transform (dbt) -> record curated lineage; open views (governance) -> record open lineage.
Publishing (portal) reads the open views; see `publish` in kcdata/cli.py and the publish DAG.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from catalog.model import DUCKDB_TYPES, Resource
from catalog.store import CatalogStore, Edge, open_store
from common.errors import KcdataError
from common.lake import Zone, lake_uri
from common.problems import Refusal
from common.settings import Paths, get_paths
from connectors.file_drop import LandedBatch, land_file
from expectations.validate import ValidationOutcome, validate_batch

log = logging.getLogger("kcdata")


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


def record(store: CatalogStore, resource: Resource, landed: LandedBatch, outcome: ValidationOutcome, run: dict | None = None) -> int:
    """Write the version and its lineage (source -> raw -> validated / quarantine) to the catalog,
    with the Airflow run that made it (`run_link`), if any."""
    fp, t, rules = landed.fingerprint, resource.table, outcome.rules
    edges = [
        Edge("land", Path(landed.source_file).resolve().as_uri(), lake_uri(Zone.raw, t, fp)),
        Edge("validate", lake_uri(Zone.raw, t, fp), lake_uri(Zone.validated, t, fp, rules)),
        Edge("quarantine", lake_uri(Zone.raw, t, fp), lake_uri(Zone.quarantine, t, fp, rules)),
    ]
    row = store.record_version(resource, landed.to_dict(), outcome.to_dict(), schema_of(resource, landed), edges, run=run)
    return row.version


@dataclass
class Refused:
    """A delivery refused as a whole, as the department and the bureau see it."""

    resource: str
    source_file: str
    code: str
    message: str
    feedback_path: str

    def to_dict(self) -> dict:
        return asdict(self)


def refuse(resource: Resource, refusal: Refusal, paths: Paths, store: CatalogStore, run: dict | None = None) -> Refused:
    """Record a refused delivery in the catalog and write the department's feedback for it."""
    from common.checksums import sha256_file
    from expectations.report import refusal_feedback

    source = Path(refusal.source)
    readable = source.is_file() and not source.is_symlink()
    fingerprint = sha256_file(source) if readable else ""
    folder = paths.refused_dir(resource.table, fingerprint)
    feedback = refusal_feedback(resource, refusal, folder)
    store.record_refusal(
        resource,
        {
            "source_file": str(source), "fingerprint": fingerprint, "code": refusal.code, "level": refusal.problem.level.value,
            "row": refusal.row, "column": refusal.column, "params": {k: _jsonable(v) for k, v in refusal.params.items()},
            "message_zh": refusal.problem.render("zh", **refusal.params), "message_en": refusal.problem.render("en", **refusal.params),
            "feedback_path": str(feedback), "produced_by": run,
        },
    )
    return Refused(resource.code, str(source), refusal.code, str(refusal), str(feedback))


def _jsonable(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


def land_and_validate(resource: Resource, source: Path, paths: Paths | None = None, store: CatalogStore | None = None) -> IngestResult:
    """The whole per-file flow without Airflow; a refused file is recorded, then re-raised.
    Under the resource's lock: concurrent runs of one resource take turns."""
    paths = paths or get_paths()
    store = store or open_store(paths.catalog_url)
    with store.resource_lock(resource.code):
        try:
            landed = land_file(resource, source, paths)
        except Refusal as refusal:
            refuse(resource, refusal, paths, store)
            raise
        outcome = validate_batch(resource, landed.fingerprint, paths)
        version = record(store, resource, landed, outcome)
    return IngestResult(landed, outcome, version)


@dataclass
class LandingReport:
    """What one pass over a resource's inbox did: files landed and files refused."""

    landed: list[LandedBatch] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"landed": [b.to_dict() for b in self.landed], "refused": [r.to_dict() for r in self.refused]}


def land_inbox(resource: Resource, paths: Paths | None = None, marked_only: bool = False, run: dict | None = None) -> LandingReport:
    """Land every delivery waiting in inbox/<table>/ and archive it; a refused file is recorded
    and archived too, and never stops the files after it. `marked_only` (the running system)
    takes only deliveries marked complete (`<file>.ready`), never a file still being copied.
    Under the resource's lock, so two runs never land and archive the same delivery."""
    from connectors.inbox import archive_delivery, scan_inbox

    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    report = LandingReport()
    with store.resource_lock(resource.code):
        scan = scan_inbox(resource, paths, marked_only=marked_only)
        for refusal in scan.refused:
            report.refused.append(refuse(resource, refusal, paths, store, run))
            archive_delivery(Path(refusal.source), None, paths)
        for delivery in scan.deliveries:
            try:
                landed = land_file(resource, delivery, paths)
            except Refusal as refusal:
                report.refused.append(refuse(resource, refusal, paths, store, run))
                archive_delivery(delivery, None, paths)
                continue
            report.landed.append(landed)
            archive_delivery(delivery, landed.fingerprint, paths)
    return report


def pending_batches(resource: Resource, paths: Paths, store: CatalogStore) -> list[LandedBatch]:
    """Raw batches without a version under the entry's current rules, in landing order: new
    deliveries, and old ones to validate again after the entry's rules or limits changed."""
    from common.lake import DATA_FILE
    from connectors.file_drop import read_landed
    from expectations.suite import rules_signature

    rules = rules_signature(resource)
    batches = [read_landed(f) for f in sorted(paths.table_dir(Zone.raw, resource.table).glob(f"batch=*/{DATA_FILE}"))]
    waiting = [b for b in batches if store.version_of(resource.code, b.fingerprint, rules) is None]
    known = store.fingerprints(resource.code)
    for b in waiting:
        b.skipped = b.fingerprint in known  # validated before, under other rules: this is a re-validation
    return sorted(waiting, key=lambda b: (b.landed_at, b.fingerprint))


def log_landing(report: LandingReport) -> LandingReport:
    """Say plainly, in the task log, what was landed and what was refused and why."""
    for landed in report.landed:
        note = " (already landed)" if landed.skipped else ""
        log.info("landed %s: %s rows%s", landed.source_file, landed.rows, note)
    for refused in report.refused:
        log.warning("REFUSED %s; feedback for the department: %s", refused.message, refused.feedback_path)
    return report


def log_results(results: list[IngestResult]) -> list[IngestResult]:
    """Say plainly, in the task log, how each version ended."""
    for r in results:
        o = r.outcome
        log.log(
            logging.INFO if o.passed else logging.WARNING,
            "version %s of %s (%s): %s rows, %s accepted, %s quarantined; %s",
            r.version, o.resource, Path(r.landed.source_file).name, o.rows, o.accepted, o.quarantined, o.verdict,
        )
    return results


def event_extra(code: str, results: list[IngestResult], refused: list[dict]) -> dict:
    """What the validated Asset's event says: counts, versions, held-back and refused files."""
    outcomes = [r.outcome for r in results]
    return {
        "resource": code,
        "batches": [o.fingerprint[:16] for o in outcomes],
        "fingerprints": [o.fingerprint for o in outcomes],
        "rows": sum(o.rows for o in outcomes),
        "accepted": sum(o.accepted for o in outcomes),
        "quarantined": sum(o.quarantined for o in outcomes),
        "versions": [r.version for r in results],
        "passed": all(o.passed for o in outcomes) and not refused,
        "held_back": [{"version": r.version, "why": r.outcome.verdict} for r in results if not r.outcome.passed],
        "refused": [{"file": f["source_file"], "code": f["code"], "why": f["message"]} for f in refused],
    }


def validate_landed(
    resource: Resource, batches: list[LandedBatch | dict], paths: Paths | None = None, run: dict | None = None
) -> list[IngestResult]:
    """Validate and record landed batches (already-validated ones are no-ops); render their Data Docs.

    Batches may come as dicts (from XCom)."""
    from expectations.validate import build_data_docs

    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    out = []
    for landed in batches:
        landed = LandedBatch(**landed) if isinstance(landed, dict) else landed
        outcome = validate_batch(resource, landed.fingerprint, paths)
        out.append(IngestResult(landed, outcome, record(store, resource, landed, outcome, run)))
    fresh = [r.outcome for r in out if not r.outcome.skipped]
    if fresh:
        build_data_docs(paths, fresh)  # only the new results' pages and the index
    return out


def validate_pending(resource: Resource, paths: Paths | None = None, run: dict | None = None) -> list[IngestResult]:
    """Validate and record every pending raw batch (nothing pending: nothing done); Data Docs.
    Under the resource's lock, so what is pending is decided and validated by one run at a time."""
    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    with store.resource_lock(resource.code):
        return validate_landed(resource, pending_batches(resource, paths, store), paths, run)


def transform(paths: Paths | None = None, tables: list[str] | None = None):
    """Run dbt, then record validated -> curated lineage from dbt's own manifest.

    With `tables` (the resources whose validated data changed) only what depends on them is built:
    their staging models and everything downstream, plus the ancestors those need that the
    scratch catalog does not already hold from this project (transform/selection.py). Without,
    everything."""
    from transform.runner import run_dbt

    paths = paths or get_paths()
    if tables is not None and not tables:
        from transform.runner import TransformResult

        return TransformResult(success=True)  # events, but nothing changed
    result = run_dbt(paths, tables=sorted(tables) if tables else None)
    record_curated_lineage(paths, result.marts)
    return result


def changed_tables(context: dict, zone: str) -> list[str] | None:
    """The tables the previous stage announced as changed in `zone`, in the events that started
    this run (`kcdata.topology.announce_changes`); None for a run started by hand or by the clock
    (then: everything)."""
    from kcdata.topology import changes_name

    prefix = f"{changes_name(zone)}."
    seen, names = False, set()
    for asset_events in (context.get("triggering_asset_events") or {}).values():
        for event in asset_events:
            name = getattr(getattr(event, "asset", None), "name", "") or ""
            if name.startswith(prefix):
                seen = True
                names.add(name.removeprefix(prefix))
    return sorted(names) if seen else None


def open_views(paths: Paths | None = None, tables: list[str] | None = None) -> dict:
    """The governance stage for every resource (or those of `tables`) that may be opened and has a
    passing version: table -> OpenView, with curated -> open lineage recorded."""
    from catalog.entries import load_catalog
    from governance.open_view import build_open_view, may_open

    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    built, refused = {}, []
    for resource in load_catalog():
        if tables is not None and resource.table not in tables:
            continue
        version = store.latest_passing_version(resource.code) if may_open(resource) else None
        if version is None:
            continue
        try:
            view = build_open_view(resource, version.fingerprint, version.rules, paths)
        except KcdataError as exc:  # one entry's mistake (e.g. an undeclared sensitivity) must not stop the others
            log.error("no open view of %s: %s", resource.code, exc)
            refused.append(str(exc))
            continue
        source = paths.uri_of(paths.current_file(resource.table))
        edge = Edge("open", source, lake_uri(Zone.open, resource.table, version.fingerprint, version.rules))
        store.record_lineage(resource.code, [edge], version.id)
        built[resource.table] = view
    if refused:
        raise KcdataError(f"{len(refused)} open view(s) not built, the others were: " + " | ".join(refused))
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
            edge = Edge("transform", lake_uri(Zone.validated, table, version.fingerprint, version.rules), target)
            store.record_lineage(resource.code, [edge], version.id)


def run_link(context: dict) -> dict:
    """What the catalog keeps of the Airflow run a task belongs to: DAG, run, run type, and the
    asset events that started it (watcher events name the delivered files)."""
    dag_run = context.get("dag_run")
    events = []
    for asset_events in (context.get("triggering_asset_events") or {}).values():
        for event in asset_events:
            events.append({
                "asset": getattr(getattr(event, "asset", None), "name", None),
                "id": getattr(event, "id", None),
                "timestamp": str(getattr(event, "timestamp", "")),
                "extra": getattr(event, "extra", None) or {},
            })
    return {
        "dag_id": getattr(dag_run, "dag_id", None),
        "run_id": getattr(dag_run, "run_id", None),
        "run_type": str(getattr(getattr(dag_run, "run_type", ""), "value", getattr(dag_run, "run_type", ""))),
        "events": events,
    }


def land_source(resource: Resource, paths: Paths | None = None, run: dict | None = None) -> LandingReport:
    """What the running system lands for a resource: its marked deliveries (file drop), or a pull of
    its HTTP API or database, landed like a delivery (unchanged content lands nothing new)."""
    paths = paths or get_paths()
    if resource.source.kind == "file_drop":
        return land_inbox(resource, paths, marked_only=True, run=run)
    return pull_and_land(resource, paths, run)


def pull_and_land(resource: Resource, paths: Paths, run: dict | None = None) -> LandingReport:
    """Pull the source into a file, land it, and only then commit the watermark (a failed landing
    pulls the same rows again next time)."""
    from connectors.pull import commit, pull
    from kcdata.connections import credentials_for

    store = open_store(paths.catalog_url)
    report = LandingReport()
    with store.resource_lock(resource.code):  # one pull per resource at a time: one watermark
        connection = resource.source.connection_id
        result = pull(resource, paths, credentials_for(connection) if connection else None)
        if result.file is None:
            return report
        try:
            landed = land_file(resource, result.file, paths)
        except Refusal as refusal:
            report.refused.append(refuse(resource, refusal, paths, store, run))
            return report
        commit(resource, paths, result)
        report.landed.append(landed)
    return report


ON_PORTAL = ("published", "updated", "unchanged")
BLOCKED = "blocked"  # the leak gate found personal data: nothing of that resource was uploaded


def leak_report(results: list[dict]) -> list[str]:
    """Why the leak gate blocked resources in one publish run: file, column, rule and count per
    line (never a value); empty when nothing was blocked."""
    return [reason for r in results if r["action"] == BLOCKED for reason in r["reasons"]]


def score_metadata(portal_url: str, codes: list[str]) -> list[dict]:
    """Score each dataset now on the portal from the portal's own DCAT record and links (MQA-style)
    and record it, so the catalog web shows the score and its trend. A record the portal does not
    serve is reported, not fatal: scoring never blocks publishing."""
    from catalog.entries import get_resource
    from catalog.metadata_scores import record_score
    from portal.mapping import dataset_name
    from portal.metadata_quality import RecordUnavailable, score_dataset

    store = open_store()
    out = []
    for code in codes:
        resource = get_resource(code)
        try:
            score = score_dataset(portal_url, dataset_name(resource))
        except RecordUnavailable as exc:
            out.append({"code": code, "error": str(exc)})
            continue
        record_score(store, code, score, score.source_url)
        out.append({"code": code, "points": score.points, "max": score.max, "rating": score.rating,
                    "failed": score.failed()})
    return out
