"""Where each delivery stands: from the inbox to its version and the portal, or to why it stopped.

A department that submitted a file wants one answer, not a service list: is it waiting, was it
refused (and why), did it become a version, was it held back, is it on the portal, and if not,
what keeps it off (not approved, a leak-gate block, a changed entry that needs a new approval).
The answer is read from what the stages record (inbox, catalog versions and refusals, the open
view in the lake, the publish outcome), so it is the same whether the chain ran in Airflow or by
hand. `kcdata deliveries`, `kcdata submit --wait` and the resource page show it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from catalog import gate_records
from catalog.model import Resource
from catalog.store import CatalogStore
from catalog.tables import GateResultRow, PublicationRow, VersionRow
from common.lake import Zone
from common.settings import Paths

# stages, in the order a delivery goes through them, with their labels
STAGES = {
    "unmarked": ("未标记完成", "not marked complete"),
    "waiting": ("等待接收", "waiting in the inbox"),
    "refused": ("已拒收", "refused"),
    "held_back": ("已暂缓", "held back"),
    "validated": ("已校验", "validated"),
    "open_view": ("已生成开放视图", "open view built"),
    "superseded": ("已被取代", "superseded"),
    "not_published": ("未发布", "not on the portal"),
    "published": ("已发布", "on the portal"),
}
FINAL = {"refused", "held_back", "superseded", "not_published", "published"}
TROUBLE = {"refused", "held_back", "not_published"}


@dataclass(frozen=True)
class Delivery:
    """One delivered file and how far it got (never a server path: the file's name)."""

    file: str
    received_at: datetime | None
    stage: str
    detail: str
    fingerprint: str = ""
    version: int | None = None

    @property
    def final(self) -> bool:
        return self.stage in FINAL

    @property
    def trouble(self) -> bool:
        return self.stage in TROUBLE

    @property
    def label(self) -> str:
        zh, en = STAGES[self.stage]
        return f"{zh} {en}"


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.lstat(path).st_mtime, timezone.utc).replace(tzinfo=None)
    except OSError:
        return None


def in_inbox(resource: Resource, paths: Paths) -> list[Delivery]:
    """Files waiting in `inbox/<table>/`: marked complete (read within seconds on a running
    system) or not (never read until their `.ready` marker is written)."""
    from connectors.inbox import MARKER_SUFFIXES, marked

    folder = paths.inbox / resource.table
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name.endswith(MARKER_SUFFIXES) or not path.is_file():
            continue
        if marked(path):
            found.append(Delivery(path.name, _mtime(path), "waiting", "marked complete; the ingest run reads it next"))
        else:
            found.append(Delivery(path.name, _mtime(path), "unmarked", (
                f"no {path.name}.ready marker: a file is read only once its marker says it is complete; write "
                f"the marker after the file, or deliver with `kcdata submit FILE -r {resource.code}`")))
    return found


@dataclass(frozen=True)
class _PortalSide:
    """What the portal side says of a resource now, read once for all its deliveries."""

    latest: int  # the newest version's number
    publication: PublicationRow | None
    result: GateResultRow | None  # the newest publish outcome
    reasons: list[str]  # why the gate keeps it off the portal now (flow.approvals.gate_status)

    @classmethod
    def of(cls, resource: Resource, store: CatalogStore, latest: int) -> _PortalSide:
        from flow.approvals import gate_status

        return cls(latest, store.publication(resource.code), gate_records.result(store, resource.code),
                   gate_status(resource, store).reasons)


def _version_stage(resource: Resource, v: VersionRow, paths: Paths, portal: _PortalSide) -> tuple[str, str]:
    """Stage and detail of the delivery whose newest version is `v`."""
    if not v.validation_passed:
        share = v.rows_quarantined / v.rows_in if v.rows_in else 1.0
        return "held_back", (f"version {v.version}: {share:.1%} of {v.rows_in:,} rows quarantined, over the limit of "
                             f"{resource.max_bad_share:.1%}; the portal keeps the last version that passed")
    if portal.latest != v.version:
        return "superseded", f"version {v.version} was followed by version {portal.latest}"
    publication, result = portal.publication, portal.result
    if publication is not None and publication.version == v.version and publication.state == "published":
        return "published", f"version {v.version}: {publication.url}"
    if result is not None and result.version == v.version and result.action != "waiting":
        if result.action in ("published", "updated", "unchanged"):
            return "published", f"version {v.version}" + (f": {publication.url}" if publication else "")
        return "not_published", f"version {v.version}: " + "; ".join(portal.reasons or result.reasons)
    if paths.batch_file(Zone.open, resource.table, v.fingerprint, v.rules).exists():
        return "open_view", f"version {v.version}: the publish run is next"
    accepted = f"{v.rows_accepted:,} of {v.rows_in:,} rows accepted"
    return "validated", f"version {v.version} ({accepted}): transform (dbt) and the open view are next"


def recorded(resource: Resource, paths: Paths, store: CatalogStore) -> list[Delivery]:
    """Every delivery the catalog knows of (a version or a refusal), newest first."""
    _, versions, _ = store.resource(resource.code)
    newest: dict[str, VersionRow] = {}
    for v in versions:  # a fingerprint validated again under new rules: its newest version counts
        if v.fingerprint not in newest or v.version > newest[v.fingerprint].version:
            newest[v.fingerprint] = v
    found = []
    if newest:
        portal = _PortalSide.of(resource, store, max(v.version for v in versions))
        for v in newest.values():
            stage, detail = _version_stage(resource, v, paths, portal)
            found.append(Delivery(Path(v.source_file).name, v.landed_at, stage, detail, v.fingerprint, v.version))
    for f in store.refused_deliveries(resource.code):
        where = "".join(f", {k} {val}" for k, val in (("row", f.row), ("column", f.column)) if val)
        found.append(Delivery(Path(f.source_file).name, f.refused_at, "refused",
                              f"[{f.code}]{where}: {f.message_en} / {f.message_zh}", f.fingerprint))
    return sorted(found, key=lambda d: d.received_at or datetime.min, reverse=True)


def deliveries(resource: Resource, paths: Paths, store: CatalogStore, limit: int = 20) -> list[Delivery]:
    """What is in the inbox, then what the catalog recorded, newest first."""
    return (in_inbox(resource, paths) + recorded(resource, paths, store))[:limit]


def delivery_status(resource: Resource, fingerprint: str, name: str, paths: Paths, store: CatalogStore) -> Delivery:
    """The one delivery with this content (`kcdata submit --wait` follows it)."""
    for d in recorded(resource, paths, store):
        if d.fingerprint == fingerprint:
            return d
    waiting = next((d for d in in_inbox(resource, paths) if d.file == name), None)
    return waiting or Delivery(name, None, "waiting", "taken from the inbox; landing")
