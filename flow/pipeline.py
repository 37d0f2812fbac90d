"""The one place that wires the stages together. Airflow tasks and the CLI both call these.

land (connectors) -> validate (expectations) -> record (catalog) for each file;
transform (dbt) -> record curated lineage; open views (governance) -> record open lineage.
Publishing (portal) reads the open views; see `publish` in kcdata/cli.py and the publish DAG.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.model import DUCKDB_TYPES, Resource
from catalog.store import CatalogStore, Edge, open_store
from common.errors import KcdataError
from common.lake import Zone, lake_uri
from common.problems import Refusal
from common.settings import Paths, get_paths
from connectors.file_drop import LandedBatch, land_file
from connectors.pull import Credentials
from expectations.validate import ValidationOutcome, validate_batch
from flow.refusal import RecordedRefusal, Refused, refuse

if TYPE_CHECKING:
    from common.lake import OpenView
    from transform.runner import TransformResult

log = logging.getLogger("kcdata")

CredentialsLookup = Callable[[str], Credentials]  # connection id -> credentials (Airflow's, in a DAG task)


@dataclass
class IngestResult:
    landed: LandedBatch
    outcome: ValidationOutcome
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"landed": self.landed.to_dict(), "outcome": self.outcome.to_dict(), "version": self.version}


def schema_of(resource: Resource, landed: LandedBatch) -> list[dict[str, Any]]:
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


def record(
    store: CatalogStore, resource: Resource, landed: LandedBatch, outcome: ValidationOutcome, run: dict[str, Any] | None = None,
) -> int:
    """Write the version and its lineage (source -> raw -> validated / quarantine) to the catalog,
    with the Airflow run that made it (`run`, handed in by the task: orchestration/task_context.py), if any."""
    fp, t, rules = landed.fingerprint, resource.table, outcome.rules
    edges = [
        Edge("land", Path(landed.source_file).resolve().as_uri(), lake_uri(Zone.raw, t, fp)),
        Edge("validate", lake_uri(Zone.raw, t, fp), lake_uri(Zone.validated, t, fp, rules)),
        Edge("quarantine", lake_uri(Zone.raw, t, fp), lake_uri(Zone.quarantine, t, fp, rules)),
    ]
    row = store.record_version(resource, landed.to_dict(), outcome.to_dict(), schema_of(resource, landed), edges, run=run)
    return row.version


def land_and_validate(resource: Resource, source: Path, paths: Paths | None = None, store: CatalogStore | None = None) -> IngestResult:
    """The whole per-file flow without Airflow; a refused file is recorded, then re-raised as a
    RecordedRefusal that carries the record. Under the resource's lock: concurrent runs of one
    resource take turns."""
    paths = paths or get_paths()
    store = store or open_store(paths.catalog_url)
    with store.resource_lock(resource.code):
        try:
            landed = land_file(resource, source, paths)
        except Refusal as refusal:
            raise RecordedRefusal(refusal, refuse(resource, refusal, paths, store)) from refusal
        outcome = validate_batch(resource, landed.fingerprint, paths)
        version = record(store, resource, landed, outcome)
    return IngestResult(landed, outcome, version)


@dataclass
class LandingReport:
    """What one pass over a resource's inbox did: files landed and files refused."""

    landed: list[LandedBatch] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"landed": [b.to_dict() for b in self.landed], "refused": [r.to_dict() for r in self.refused]}


def land_inbox(
    resource: Resource, paths: Paths | None = None, marked_only: bool = False, run: dict[str, Any] | None = None,
) -> LandingReport:
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


def event_extra(code: str, results: list[IngestResult], refused: list[dict[str, Any]]) -> dict[str, Any]:
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
    resource: Resource, batches: Sequence[LandedBatch | dict[str, Any]], paths: Paths | None = None, run: dict[str, Any] | None = None,
    docs: bool = True,
) -> list[IngestResult]:
    """Validate and record landed batches (already-validated ones are no-ops); render their Data Docs
    unless `docs` is False (a batch of many resources renders them once, at its end).

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
    if fresh and docs:
        build_data_docs(paths, fresh)  # only the new results' pages and the index
    return out


def validate_pending(resource: Resource, paths: Paths | None = None, run: dict[str, Any] | None = None,
                     docs: bool = True) -> list[IngestResult]:
    """Validate and record every pending raw batch (nothing pending: nothing done); Data Docs unless
    `docs` is False. Under the resource's lock, so what is pending is decided and validated by one
    run at a time."""
    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    with store.resource_lock(resource.code):
        return validate_landed(resource, pending_batches(resource, paths, store), paths, run, docs)


def transform(paths: Paths | None = None, tables: list[str] | None = None) -> TransformResult:
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


def open_views(paths: Paths | None = None, tables: list[str] | None = None) -> dict[str, OpenView]:
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


def record_curated_lineage(paths: Paths, marts: dict[str, Path]) -> None:
    """validated/<table>/batch=<latest> -> curated/<mart> for every mart built."""
    from catalog.entries import load_catalog
    from transform.manifest import mart_sources

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
            if resource is None:
                continue
            version = store.latest_passing_version(resource.code)
            if version is None:
                continue
            edge = Edge("transform", lake_uri(Zone.validated, table, version.fingerprint, version.rules), target)
            store.record_lineage(resource.code, [edge], version.id)


def land_source(
    resource: Resource, paths: Paths | None = None, run: dict[str, Any] | None = None, *, credentials_for: CredentialsLookup
) -> LandingReport:
    """What the running system lands for a resource: its marked deliveries (file drop), or a pull of
    its HTTP API or database, landed like a delivery (unchanged content lands nothing new).
    `credentials_for` finds a pulled source's credentials by connection id (the caller knows where)."""
    paths = paths or get_paths()
    if resource.source.kind == "file_drop":
        return land_inbox(resource, paths, marked_only=True, run=run)
    return pull_and_land(resource, paths, run, credentials_for=credentials_for)


def pull_and_land(
    resource: Resource, paths: Paths, run: dict[str, Any] | None = None, *, credentials_for: CredentialsLookup,
) -> LandingReport:
    """Pull the source into a file, land it, and only then commit the watermark (a failed landing
    pulls the same rows again next time)."""
    from connectors.pull import commit, pull

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


def leak_report(results: list[dict[str, Any]]) -> list[str]:
    """Why the leak gate blocked resources in one publish run: file, column, rule and count per
    line (never a value); empty when nothing was blocked."""
    return [reason for r in results if r["action"] == BLOCKED for reason in r["reasons"]]


def score_metadata(portal_url: str, codes: list[str]) -> list[dict[str, Any]]:
    """Score each dataset now on the portal from the portal's own DCAT record and links (MQA-style)
    and record it, so the catalog web shows the score and its trend. A record the portal does not
    serve is reported, not fatal: scoring never blocks publishing."""
    from catalog.entries import get_resource
    from catalog.metadata_scores import record_score
    from portal.mapping import dataset_name
    from portal.metadata_quality import RecordUnavailable, score_dataset

    store = open_store()
    out: list[dict[str, Any]] = []
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
