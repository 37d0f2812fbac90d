"""One pass of the chain over many resources at once: every pending delivery of every resource
landed and validated in one process, so imports and the validation engine's start-up are paid once
per batch, not once per delivery (a lone delivery is simply a batch of one).

Each resource keeps its own outcome: a refused file, a held-back version or a failing resource
never stops the others, whose work goes on to the portal; the run then ends failed, naming it.
What failed stays where it was (a delivery in its inbox, a raw batch without a version), so the
next run, at the latest the reconciliation, takes it again. A pull whose source did not answer is
retried (`raise_if_any_may_pass`): what the others landed waits as raw batches meanwhile.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from catalog.model import Resource
from common.errors import KcdataError
from common.settings import Paths, get_paths
from flow.pipeline import (
    CredentialsLookup,
    LandingReport,
    event_extra,
    land_inbox,
    log_landing,
    log_results,
    pull_and_land,
    validate_pending,
)

log = logging.getLogger("kcdata")


@dataclass
class ResourceOutcome:
    """What one batch did for one resource, as XCom carries it."""

    code: str
    table: str
    landed: int = 0  # new raw batches (content landed before is not counted)
    refused: list[dict[str, Any]] = field(default_factory=list)  # flow.refusal.Refused as dicts
    results: list[dict[str, Any]] = field(default_factory=list)  # flow.pipeline.IngestResult as dicts
    event: dict[str, Any] | None = None  # the validated Asset's event extra, when a version was made
    error: str | None = None
    retryable: bool = False

    @property
    def changed(self) -> bool:
        """New versions (or versions validated again): the transform has work for this table."""
        return bool(self.results)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_resources(catalog: list[Resource], *, tables: list[str] | None, marked: set[str]) -> list[Resource]:
    """The resources a batch looks at: those named (`tables`: a run by hand, or tables a pull
    announced) and those with marked deliveries in their inbox; every resource when `tables` is
    None and nothing is named (a reconciliation or a run by hand: pending raw batches too)."""
    if tables is None:
        return list(catalog)
    wanted = set(tables) | marked
    return [r for r in catalog if r.table in wanted]


def waiting_bytes(resource: Resource, paths: Paths) -> int:
    """Bytes of the marked deliveries in the resource's inbox (0 for none): the weight `split` balances."""
    import os

    from connectors.inbox import MARKER_SUFFIXES

    folder = paths.inbox / resource.table
    try:
        names = set(os.listdir(folder))
    except OSError:
        return 0
    total = 0
    for name in names:
        if name.startswith(".") or name.endswith(MARKER_SUFFIXES) or not any(name + s in names for s in MARKER_SUFFIXES):
            continue
        try:
            total += os.lstat(folder / name).st_size
        except OSError:
            continue
    return total


def split(resources: list[Resource], ways: int, paths: Paths | None = None) -> list[list[str]]:
    """The resources' tables in at most `ways` groups of about equal work (the bytes waiting in
    their inboxes; the heaviest placed first, each in the lightest group so far). One resource
    is never split: its versions stay in delivery order."""
    paths = paths or get_paths()
    weighed = sorted(((waiting_bytes(r, paths), r.table) for r in resources), key=lambda w: (-w[0], w[1]))
    groups: list[tuple[int, list[str]]] = [(0, []) for _ in range(min(ways, len(weighed)))]
    for weight, table in weighed:
        lightest = min(range(len(groups)), key=lambda i: (groups[i][0], len(groups[i][1])))
        groups[lightest] = (groups[lightest][0] + weight, [*groups[lightest][1], table])
    return [sorted(tables) for _, tables in groups if tables]


def ingest_one(resource: Resource, paths: Paths, run: dict[str, Any] | None) -> ResourceOutcome:
    """Land the resource's marked deliveries (a pulled resource was landed by its pull run), then
    validate every pending raw batch; any failure is kept in the outcome, not raised."""
    outcome = ResourceOutcome(resource.code, resource.table)
    try:
        report = land_inbox(resource, paths, marked_only=True, run=run) if resource.source.kind == "file_drop" else LandingReport()
        log_landing(report)
        outcome.landed = sum(1 for b in report.landed if not b.skipped)
        outcome.refused = [r.to_dict() for r in report.refused]
        results = log_results(validate_pending(resource, paths, run, docs=False))
    except Exception as exc:  # one resource's failure must not fail the others' work in this batch
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.retryable = not isinstance(exc, KcdataError) or exc.retryable
        log.exception("%s (%s) failed in this batch; the other resources go on", resource.code, resource.table)
        return outcome
    outcome.results = [r.to_dict() for r in results]
    if results:
        outcome.event = event_extra(resource.code, results, outcome.refused)
    return outcome


def ingest_batch(resources: list[Resource], paths: Paths | None = None, run: dict[str, Any] | None = None) -> list[ResourceOutcome]:
    """`ingest_one` for each resource, in catalog order, then the Data Docs of every new result at
    once: rendering opens the GX context and its index, which grow with the catalog, so once per
    batch, not once per resource."""
    paths = paths or get_paths()
    outcomes = [ingest_one(r, paths, run) for r in resources]
    render_data_docs(outcomes, paths)
    return outcomes


def render_data_docs(outcomes: list[ResourceOutcome], paths: Paths) -> None:
    """The Data Docs pages of the batch's new validation results. The results and versions are
    already recorded, so a failure here fails no resource: it is logged with what to do."""
    from expectations.gx_context import build_data_docs

    fresh = [r["outcome"]["gx_run"] for o in outcomes for r in o.results
             if not r["outcome"].get("skipped") and r["outcome"].get("gx_run")]
    if not fresh:
        return
    try:
        build_data_docs(paths, fresh)
    except Exception:
        log.exception("the Data Docs of this batch's %d validation results were not rendered; the results are "
                      "recorded: run `kcdata docs` to render every page again", len(fresh))


def pull_batch(resources: list[Resource], paths: Paths | None = None, run: dict[str, Any] | None = None, *,
               credentials_for: CredentialsLookup) -> list[ResourceOutcome]:
    """Pull and land each pulled source (the chain validates what landed); any failure is kept in
    its outcome, never stopping the others."""
    paths = paths or get_paths()
    out = []
    for resource in resources:
        outcome = ResourceOutcome(resource.code, resource.table)
        try:
            report = log_landing(pull_and_land(resource, paths, run, credentials_for=credentials_for))
            # content already landed (an unchanged source) is no news: nothing is announced for it
            outcome.landed = sum(1 for b in report.landed if not b.skipped)
            outcome.refused = [r.to_dict() for r in report.refused]
        except Exception as exc:  # one source down must not stop the others
            outcome.error, outcome.retryable = f"{type(exc).__name__}: {exc}", not isinstance(exc, KcdataError) or exc.retryable
            log.exception("pulling %s (%s) failed; the other sources go on", resource.code, resource.table)
        out.append(outcome)
    return out


class BatchFailed(KcdataError):
    """Resources of a batch failed; the others' work is done and kept."""


def failures(outcomes: list[ResourceOutcome]) -> list[str]:
    """One line per failed resource: code, table and the error."""
    return [f"{o.code} ({o.table}): {o.error}" for o in outcomes if o.error]


def raise_if_any_may_pass(outcomes: list[ResourceOutcome]) -> None:
    """Fail (retryably) when a resource failed in a way a retry may mend; a data or catalog error
    is reported at the end of the run instead (`raise_failures`), after the others went on."""
    passing = [o for o in outcomes if o.error and o.retryable]
    if passing:
        error = BatchFailed(f"{len(passing)} resource(s) failed, the others were done (a retry redoes only these): "
                            + " | ".join(failures(passing)))
        error.retryable = True
        raise error


def raise_failures(outcomes: list[dict[str, Any]]) -> None:
    """The run's last word: fail it, naming every resource that failed, when any did."""
    failed = [ResourceOutcome(**o) for o in outcomes if o.get("error")]
    if failed:
        tables = ", ".join(f'"{o.table}"' for o in failed)
        raise BatchFailed(
            f"{len(failed)} resource(s) failed in this batch; every other resource went through:\n" + "\n".join(failures(failed))
            + "\nWhat failed waits where it was (a delivery in its inbox, still marked; a raw batch without a version). "
            f"Mend the cause, then the next chain run takes it (the reconciliation at the latest), or start one now: "
            f'trigger chain__deliveries with conf {{"tables": [{tables}]}}.')
