"""The catalog as the web shows it: the YAML entries plus the store's state of every resource,
read in a handful of set-based queries and kept in memory with its search index.

Why a snapshot: a faceted search over 1,000 resources must answer in a few milliseconds, so the
per-resource state (latest version, freshness, publication) is fetched once per change of the
catalog or the store — never one query per resource per request. A cheap signature (file
times of the YAML entries, counts and maxima of the store's tables) is checked at most every
`CHECK_SECONDS`; only a changed signature rebuilds the snapshot.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from catalog.entries import forget_loaded_catalog, load_catalog, load_departments
from catalog.freshness import DEADLINES, Status, freshness, utc
from catalog.model import Grade, OpenType, Provider, Resource, ShareType, UpdateCycle
from catalog.store import CatalogStore
from catalog.tables import FreshnessRow, PublicationRow, ResourceRow, VersionRow
from common.settings import get_paths
from web.search import FacetSpec, SearchIndex, SearchRecord

CHECK_SECONDS = 2.0  # how stale the snapshot may be before its signature is checked again


@dataclass(frozen=True)
class LatestVersion:
    version: int
    passed: bool
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    landed_at: datetime


@dataclass(frozen=True)
class FreshnessState:
    status: str  # on_time | overdue | never
    due_at: datetime | None  # aware UTC
    overdue_by: timedelta | None
    last_delivered_at: datetime | None  # aware UTC
    checked_at: datetime | None  # when the store's freshness check recorded it (None: computed now)


@dataclass(frozen=True)
class PublicationState:
    state: str  # published | retracted
    url: str
    ckan_name: str
    version: int
    published_at: datetime


@dataclass(frozen=True)
class ResourceState:
    """What the store knows of one resource, in plain values."""

    latest: LatestVersion | None
    freshness: FreshnessState
    publication: PublicationState | None

    @property
    def quality(self) -> str:
        if self.latest is None:
            return "no_data"
        return "passed" if self.latest.passed else "failed"

    @property
    def publication_status(self) -> str:
        if self.publication is None:
            return "unpublished"
        return "published" if self.publication.state == "published" else "retracted"


@dataclass
class Snapshot:
    resources: dict[str, Resource]
    departments: dict[str, Provider]
    states: dict[str, ResourceState]
    index: SearchIndex
    signature: tuple
    built_at: datetime
    checked: float = field(default_factory=time.monotonic)

    def resource(self, code: str) -> Resource | None:
        """By code (KC-STHJ-001) or table name."""
        if code in self.resources:
            return self.resources[code]
        return next((r for r in self.resources.values() if r.table == code), None)


# --- facet labels: bilingual, from the catalog's enums -------------------------------------

QUALITY_LABELS = {"passed": ("最新版本通过", "latest version passed"), "failed": ("最新版本未通过", "latest version failed"),
                  "no_data": ("暂无数据", "no data yet")}
FRESHNESS_LABELS = {"on_time": ("按时", "on time"), "overdue": ("逾期", "overdue"), "never": ("从未交付", "never delivered")}
PUBLICATION_LABELS = {"published": ("已在门户发布", "on the portal"), "retracted": ("已撤回", "retracted"),
                      "unpublished": ("未发布", "not published")}
SHARE_LABELS = {ShareType.unconditional.value: "unconditional sharing", ShareType.conditional.value: "conditional sharing",
                ShareType.none.value: "not shared"}
OPEN_LABELS = {OpenType.unconditional.value: "open to all", OpenType.conditional.value: "open on conditions",
               OpenType.none.value: "not open"}
GRADE_LABELS = {Grade.core.value: "core", Grade.important.value: "important", Grade.general.value: "general"}
CYCLE_LABELS = {c.value: DEADLINES[c].en for c in UpdateCycle}
CATEGORY_LABELS = {"基础信息资源": "base resources", "主题信息资源": "thematic resources", "部门信息资源": "departmental resources"}


def _pairs(labels: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {zh: (zh, en) for zh, en in labels.items()}


def facet_specs(departments: dict[str, Provider], subcategories: dict[str, str] | None = None) -> list[FacetSpec]:
    """The search page's facets, in the order they are shown."""
    return [
        FacetSpec("department", "提供方", "Department", {s: (d.name, d.name_en) for s, d in departments.items()}),
        FacetSpec("category", "分类", "Category", _pairs(CATEGORY_LABELS)),
        FacetSpec("subcategory", "主题", "Theme", {s: (s, en) for s, en in (subcategories or {}).items()}),
        FacetSpec("share_type", "共享类型", "Share type", _pairs(SHARE_LABELS), order=list(SHARE_LABELS)),
        FacetSpec("open_type", "开放属性", "Open type", _pairs(OPEN_LABELS), order=list(OPEN_LABELS)),
        FacetSpec("grade", "数据分级", "Grade", _pairs(GRADE_LABELS), order=list(GRADE_LABELS)),
        FacetSpec("update_cycle", "更新周期", "Update cycle", _pairs(CYCLE_LABELS), order=list(CYCLE_LABELS)),
        FacetSpec("quality", "质量状态", "Quality", QUALITY_LABELS, order=list(QUALITY_LABELS)),
        FacetSpec("freshness", "及时性", "Freshness", FRESHNESS_LABELS, order=list(FRESHNESS_LABELS)),
        FacetSpec("publication", "发布状态", "Publication", PUBLICATION_LABELS, order=list(PUBLICATION_LABELS)),
    ]


# --- the store, read set-based ---------------------------------------------------------------

def latest_versions(store: CatalogStore) -> dict[str, LatestVersion]:
    """Every resource's newest version, in one query (a join on the per-resource maximum)."""
    newest = (
        select(VersionRow.resource_code, func.max(VersionRow.version).label("version"))
        .group_by(VersionRow.resource_code)
        .subquery()
    )
    v = aliased(VersionRow)
    query = select(v.resource_code, v.version, v.validation_passed, v.rows_in, v.rows_accepted, v.rows_quarantined, v.landed_at).join(
        newest, (v.resource_code == newest.c.resource_code) & (v.version == newest.c.version)
    )
    with store.session() as s:
        return {code: LatestVersion(version, bool(passed), rows_in, accepted, quarantined, landed)
                for code, version, passed, rows_in, accepted, quarantined, landed in s.execute(query)}


def publications(store: CatalogStore) -> dict[str, PublicationState]:
    """What the portal holds, for every published or retracted resource (one query)."""
    query = select(PublicationRow.resource_code, PublicationRow.state, PublicationRow.url, PublicationRow.ckan_name,
                   PublicationRow.version, PublicationRow.published_at)
    with store.session() as s:
        return {code: PublicationState(state, url, name, version, at) for code, state, url, name, version, at in s.execute(query)}


def freshness_state(resource: Resource, record: FreshnessRow | None, last_delivered: datetime | None, now: datetime) -> FreshnessState:
    """The store's freshness record when it is current (checked after the last delivery); else
    computed now with catalog.freshness, so a resource nobody checked yet still has an answer."""
    last = utc(last_delivered) if last_delivered else None
    if record is not None and (last is None or (record.checked_at and utc(record.checked_at) >= last)):
        due = utc(record.due_at) if record.due_at else None
        overdue_by = (utc(now) - due) if record.status == Status.overdue.value and due else None
        recorded_last = utc(record.last_delivered_at) if record.last_delivered_at else last
        return FreshnessState(record.status, due, overdue_by, recorded_last, utc(record.checked_at))
    computed = freshness(resource, last, now)
    return FreshnessState(computed.status.value, computed.due_at, computed.overdue_by, last, None)


def store_signature(store: CatalogStore) -> tuple:
    """Counts and maxima that change whenever the store's state the web shows changes."""
    query = select(
        select(func.count(VersionRow.id)).scalar_subquery(),
        select(func.max(VersionRow.id)).scalar_subquery(),
        select(func.count(PublicationRow.resource_code)).scalar_subquery(),
        select(func.max(PublicationRow.published_at)).scalar_subquery(),
        select(func.max(FreshnessRow.checked_at)).scalar_subquery(),
        select(func.count(FreshnessRow.resource_code)).scalar_subquery(),
        select(func.max(ResourceRow.synced_at)).scalar_subquery(),
    )
    with store.session() as s:
        return tuple(s.execute(query).one())


def catalog_signature(directory: Path) -> tuple:
    """Number, newest modification time and total size of the catalog's YAML files."""
    count, newest, size = 0, 0, 0
    for path in [*directory.glob("*.yaml"), *directory.glob("*/*.yaml")]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        count, newest, size = count + 1, max(newest, stat.st_mtime_ns), size + stat.st_size
    return (str(directory), count, newest, size)


# --- the snapshot ---------------------------------------------------------------------------

def build_snapshot(store: CatalogStore, directory: Path, now: datetime | None = None, signature: tuple = ()) -> Snapshot:
    now = now or datetime.now(timezone.utc)
    resources = {r.code: r for r in load_catalog(directory)}
    departments = load_departments(directory)
    latest = latest_versions(store)
    records = store.freshness_records()
    delivered = store.last_deliveries()
    published = publications(store)
    states = {
        code: ResourceState(latest.get(code), freshness_state(r, records.get(code), delivered.get(code), now), published.get(code))
        for code, r in resources.items()
    }
    subcategories = {_category_part(r, 1): "" for r in resources.values() if _category_part(r, 1)}
    index = SearchIndex((search_record(r, states[r.code]) for r in resources.values()), facet_specs(departments, subcategories))
    return Snapshot(resources, departments, states, index, signature, now)


def _category_part(resource: Resource, level: int) -> str:
    parts = [p for p in resource.category.split("/") if p]
    return parts[level] if len(parts) > level else ""


def search_record(resource: Resource, state: ResourceState) -> SearchRecord:
    """The plain record the search index holds for one resource."""
    facets = {
        "department": (resource.provider.slug,),
        "category": tuple(p for p in (_category_part(resource, 0),) if p),
        "subcategory": tuple(p for p in (_category_part(resource, 1),) if p),
        "share_type": (resource.share.type.value,),
        "open_type": (resource.open.type.value,),
        "grade": (resource.grade.value,),
        "update_cycle": (resource.update_cycle.value,),
        "quality": (state.quality,),
        "freshness": (state.freshness.status,),
        "publication": (state.publication_status,),
    }
    return SearchRecord(
        code=resource.code, name=resource.name, name_en=resource.name_en, summary=resource.summary,
        department=resource.provider.name, department_en=resource.provider.name_en,
        item_text=" ".join(f"{i.name} {i.code} {' '.join(i.aliases)}" for i in resource.items),
        keywords=" ".join([*resource.all_keywords, resource.category]),
        facets=facets, badges=badges(resource, state),
    )


def badges(resource: Resource, state: ResourceState) -> tuple[tuple[str, str], ...]:
    """The small labels a search result shows: (css class, text)."""
    out = [
        ("badge", f"{resource.open.type.value} {OPEN_LABELS[resource.open.type.value]}"),
        ("badge", f"{resource.share.type.value} {SHARE_LABELS[resource.share.type.value]}"),
        ("badge", f"{resource.grade.value} {GRADE_LABELS[resource.grade.value]}"),
    ]
    quality_class = {"passed": "badge badge-ok", "failed": "badge badge-bad", "no_data": "badge badge-muted"}[state.quality]
    out.append((quality_class, " ".join(QUALITY_LABELS[state.quality])))
    if state.freshness.status == "overdue":
        out.append(("badge badge-bad", " ".join(FRESHNESS_LABELS["overdue"])))
    if state.publication_status == "published":
        out.append(("badge badge-ok", " ".join(PUBLICATION_LABELS["published"])))
    elif state.publication_status == "retracted":
        out.append(("badge badge-warn", " ".join(PUBLICATION_LABELS["retracted"])))
    return tuple(out)


@lru_cache(maxsize=4)
def _open(url: str) -> CatalogStore:
    return CatalogStore(url)


def get_store(url: str | None = None) -> CatalogStore:
    """The catalog store of this process, one per URL: opening one makes an engine and checks
    the schema, which no request should pay for again."""
    return _open(url or get_paths().catalog_url)


class SnapshotCache:
    """One snapshot per (catalog folder, store URL), rebuilt only when a signature changed."""

    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._lock = threading.Lock()

    def store(self, url: str | None = None) -> CatalogStore:
        return get_store(url)

    def get(self) -> Snapshot:
        paths = get_paths()
        key = (str(paths.catalog_dir), paths.catalog_url)
        snapshot = self._snapshots.get(key)
        if snapshot is not None and time.monotonic() - snapshot.checked < self.check_seconds:
            return snapshot
        with self._lock:
            snapshot = self._snapshots.get(key)
            if snapshot is not None and time.monotonic() - snapshot.checked < self.check_seconds:
                return snapshot
        store = self.store(paths.catalog_url)
        signature = (catalog_signature(paths.catalog_dir), store_signature(store))
        if snapshot is not None and snapshot.signature == signature:
            snapshot.checked = time.monotonic()
            return snapshot
        if snapshot is None or snapshot.signature[0] != signature[0]:
            # the YAML changed, or this is the first snapshot: load_catalog must read it again (an
            # earlier call in this process, before an entry was added, is cached per folder)
            forget_loaded_catalog()
        snapshot = build_snapshot(store, paths.catalog_dir, signature=signature)
        with self._lock:
            self._snapshots[key] = snapshot
        return snapshot


snapshots = SnapshotCache()
