"""Publish approved open resources to CKAN, idempotently; retract the ones that lost the gate.

The publisher only uploads: the open view it sends was built by the governance stage
(`<lake>/open/<table>/batch=<fp16>.<rules>/data.parquet`) and it receives only a portal target.

Order matters for recovery: organisation, dataset (without its fingerprint), files, DataStore,
and only then the dataset's `fingerprint` — the marker that the publish finished. A run killed
anywhere before that leaves a stale marker, so the next run redoes what is missing, reusing
resources by their stable names (no duplicates). The same version again makes no write call.

Every version is published with a signed manifest (portal/manifest.py: manifest.json,
manifest.json.sig, signing-key.pem; a copy stays in `<lake>/manifests/`), and before any write
for a resource its open view and every file are put through the leak gate (portal/leak_gate.py):
a hit blocks that resource (action `blocked`, reasons naming file, column, rule and cells) and
nothing of it is uploaded; a version already on the portal stays as it is. Other resources go on.
A hit on a column and rule that a department reviewer has excepted (a reason and an expiry) is
allowed and recorded. Every outcome is stored (gate_results) for the department to see.
"""
from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog import gate_records
from catalog.approval_terms import changed_terms, published_terms
from catalog.dcat_terms import MEDIA_TYPES
from catalog.model import ItemType, Resource
from catalog.store import CatalogStore, open_store
from catalog.tables import VersionRow
from common.atomic import write_bytes_atomic
from common.checksums import sha256_file
from common.errors import KcdataError
from common.formulas import FORMULA_PREFIXES
from common.lake import OpenView, Zone
from common.settings import Paths, get_paths, read_settings
from common.sqltext import ident, literal
from portal.client import Portal
from portal.files import PublishedFile, write_files
from portal.gate import NOT_APPROVED, Decision, Mode, decide
from portal.leak_gate import Hit, scan_files
from portal.manifest import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    Manifest,
    ManifestError,
    Signed,
    file_entry,
    sign,
    utc_now,
)
from portal.mapping import (
    SHA256_ALGORITHM,
    VersionFacts,
    dataset_dict,
    dataset_name,
    datastore_fields,
    organization_dict,
    resource_terms,
    verification_notes,
)

PREVIEW_VIEW = {"view_type": "datatables_view", "title": "数据预览 Data preview",
                "description": "表格预览，可搜索、排序 Table preview: search and sort"}


@dataclass
class PublishResult:
    code: str
    action: str  # published | updated | unchanged | retracted | not-published | waiting | blocked (leak gate)
    url: str | None = None
    reasons: list[str] = field(default_factory=list)
    waived: list[dict] = field(default_factory=list)  # leak hits a reviewed exception allowed
    version: int | None = None  # the catalog version the gate looked at
    news: bool = False  # a block not recorded before (same version, same hits): the department is told


def gate_decision(store: CatalogStore, resource: Resource) -> tuple[Decision, VersionRow | None]:
    """The gate's decision for `resource` now, and its latest version."""
    latest = store.latest_version(resource.code)
    approval = store.current_approval(resource.code)
    covers, uncovered = True, None
    if approval is not None and latest is not None:  # a demo approval covers only its own sample-data version
        covers = not (approval.sample_only and approval.version != latest.version)
    if approval is not None and approval.action == "approve":  # nor any approval an entry whose terms changed
        changes = changed_terms(approval.terms, published_terms(resource))
        if changes:
            covers, uncovered = False, (
                f"the entry changed since the approval of {approval.at:%Y-%m-%d} ({'; '.join(changes)}): "
                f"a department reviewer must approve again (kcdata catalog approve {resource.code} --by ACCOUNT)")
    decision = decide(
        resource, None if latest is None else latest.validation_passed, approval.action if approval else None, covers,
        uncovered,
    )
    return decision, latest


def publish_resource(resource: Resource, portal: Portal, paths: Paths | None = None, store: CatalogStore | None = None) -> PublishResult:
    """Bring the portal in line with the gate for one resource, and record the outcome where the
    department looks (catalog/gate_records.py), a block by the leak gate above all."""
    paths = paths or get_paths()
    store = store or open_store(paths.catalog_url)
    result, version = _publish(resource, portal, paths, store)
    before = gate_records.result(store, resource.code)
    result.version = version
    result.news = result.action == "blocked" and not (
        before is not None and (before.version, before.action, before.reasons) == (version, "blocked", result.reasons))
    gate_records.record_result(store, resource, version, result.action, result.reasons, result.waived)
    return result


def _publish(resource: Resource, portal: Portal, paths: Paths, store: CatalogStore) -> tuple[PublishResult, int | None]:
    decision, latest = gate_decision(store, resource)
    version = None if latest is None else latest.version
    name = dataset_name(resource)
    if decision.mode is Mode.none:
        return _retract(resource, portal, store, decision.reasons), version
    assert latest is not None, "the gate publishes nothing without a version"

    view_file = paths.batch_file(Zone.open, resource.table, latest.fingerprint, latest.rules)
    if not view_file.exists():  # the open-view stage has not run for this version: nothing to upload yet
        return PublishResult(resource.code, "waiting", None, [f"no open view of version {latest.version} yet"]), version
    view = OpenView.describe(view_file, [i.code for i in resource.items])
    facts = VersionFacts(
        version=latest.version, fingerprint=latest.fingerprint, rows_published=view.rows, rows_in=latest.rows_in,
        rows_accepted=latest.rows_accepted, rows_quarantined=latest.rows_quarantined,
        validated_at=latest.validated_at, withheld_items=view.dropped,
        time_range=data_time_range(resource, view, latest.validated_at),
    )
    current = portal.show("package_show", id=name)
    with tempfile.TemporaryDirectory(prefix="kcdata-publish-") as tmp:
        files = write_files(resource, view, Path(tmp), with_data=decision.mode is Mode.data)
        signed, signed_files = sign_version(resource, latest, files, Path(tmp) / "signed", paths)
        files += signed_files
        hits, waived = allowed_hits(store, resource, find_leaks(resource, view, files, paths))
        if hits:  # nothing of this version is uploaded; what the portal already shows stays as it is
            shown = current is not None and current.get("state") == "active"
            return PublishResult(resource.code, "blocked", _url(portal, name) if shown else None,
                                 [h.text(resource.code) for h in hits], waived), version
        record_manifest(signed, resource, latest, paths)
        org = _organization(portal, resource)
        wanted = dataset_dict(resource, facts, org["id"], portal.target.url)
        wanted["notes"] += verification_notes(signed.manifest.signing_key, _url(portal, name))
        if current is not None and _unchanged(current, wanted, files) and _has_preview(portal, current, decision.mode):
            result = PublishResult(resource.code, "unchanged", _url(portal, name))
        else:
            marker = wanted.pop("fingerprint")
            if current is None:
                current = portal.call("package_create", **wanted, fingerprint="")
                action = "published"
            else:
                portal.call("package_patch", id=current["id"], state="active", **wanted)
                action = "published" if current.get("state") != "active" else "updated"
            current = portal.call("package_show", id=current["id"])
            csv_resource = _sync_resources(portal, current, files)
            if decision.mode is Mode.data and csv_resource is not None:
                _load_datastore(portal, resource, csv_resource, view)
                _ensure_preview(portal, csv_resource)
            portal.call("package_patch", id=current["id"], fingerprint=marker)
            result = PublishResult(resource.code, action, _url(portal, name))
    result.waived = waived
    store.record_publication(
        resource.code, ckan_id=current["id"], ckan_name=name, url=result.url, state="published",
        version=latest.version, fingerprint=latest.fingerprint,
    )
    return result, version


_ORGANIZATIONS = threading.Lock()  # two datasets of one department published at once must not both create it


def _organization(portal: Portal, resource: Resource) -> dict:
    """The department's organization on the portal, created on its first dataset."""
    wanted = organization_dict(resource)
    with _ORGANIZATIONS:
        return portal.show("organization_show", id=wanted["name"]) or portal.call("organization_create", **wanted)


def preview_blocks(resource: Resource, paths: Paths | None = None, store: CatalogStore | None = None) -> list[str]:
    """What would keep the latest version off the portal now, checked at once (an approval's
    answer): the gate's reasons other than the approval itself, and the leak gate over the open
    view where it has been built (the published files are made from it)."""
    paths = paths or get_paths()
    store = store or open_store(paths.catalog_url)
    decision, latest = gate_decision(store, resource)
    reasons = [r for r in decision.reasons if r not in NOT_APPROVED.values()]
    if latest is None or reasons:
        return reasons
    view_file = paths.batch_file(Zone.open, resource.table, latest.fingerprint, latest.rules)
    if not view_file.exists():
        return []
    view = OpenView.describe(view_file, [i.code for i in resource.items])
    hits = scan_files(resource, paths.current_file(resource.table), [("open view", view.path, "Parquet")])
    blocking, _ = allowed_hits(store, resource, hits)
    return [h.text(resource.code) for h in blocking]


def allowed_hits(store: CatalogStore, resource: Resource, hits: list[Hit]) -> tuple[list[Hit], list[dict]]:
    """The hits that block, and those a reviewer's exception for that column and rule allows
    (each named with its exception, for the record)."""
    exceptions = gate_records.allowed(store, resource.code)
    blocking, waived = [], []
    for hit in hits:
        exception = exceptions.get((hit.item, hit.rule))
        if exception is None:
            blocking.append(hit)
        else:
            waived.append({"file": hit.file, "column": hit.item, "rule": hit.rule, "cells": hit.count,
                           "exception": exception})
    return blocking, waived


def _url(portal: Portal, name: str) -> str:
    return f"{portal.target.url}/dataset/{name}"


def _unchanged(current: dict, wanted: dict, files: list[PublishedFile]) -> bool:
    """True when the portal already shows exactly this version, metadata and files."""
    if current.get("state") != "active" or current.get("private"):
        return False
    for key, value in wanted.items():
        if key in ("owner_org", "tags", "private"):
            continue
        if str(current.get(key) or "") != str(value or ""):
            return False
    have = {r["name"]: (r.get("hash"), *(r.get(k) for k in _terms(r.get("format") or "CSV"))) for r in current.get("resources", [])}
    return have == {f.name: (f.sha256, *_terms(f.format).values()) for f in files}


def _terms(file_format: str) -> dict:
    """A file's DCAT terms (format, media type, checksum algorithm)."""
    return resource_terms(file_format) if file_format in MEDIA_TYPES else {"hash_algorithm": SHA256_ALGORITHM}


# The manifest and what verifies it, as the portal lists them.
SIGNED_FILES = {
    MANIFEST: ("JSON", "清单：本版本各文件的大小、SHA-256 与行数 Manifest: size, SHA-256 and rows of every file of this version"),
    SIGNATURE: ("BIN", "清单的 Ed25519 签名（64 字节原始签名）Raw 64-byte Ed25519 signature of manifest.json"),
    PUBLIC_KEY: ("TXT", "验证签名的 Ed25519 公钥 Ed25519 public key that verifies manifest.json.sig"),
}
DICTIONARY = "data-dictionary.csv"


def sign_version(
    resource: Resource, latest: VersionRow, files: list[PublishedFile], folder: Path, paths: Paths,
) -> tuple[Signed, list[PublishedFile]]:
    """The signed manifest of these files, as three more files to publish.

    The same version with the same files keeps the time of its first manifest (recorded in the
    lake), so signing again gives the same bytes and re-publishing writes nothing."""
    from common.keys import public_key_fingerprint, signing_key

    key = signing_key()
    manifest = Manifest(
        resource_code=resource.code, dataset=dataset_name(resource), catalog_version=latest.version,
        fingerprint=latest.fingerprint, rules=latest.rules, created_at=utc_now(),
        signing_key=public_key_fingerprint(key.public_key()),
        files=[file_entry(f.name, f.path, f.format, f.sha256, counted=f.name != DICTIONARY) for f in files],
    )
    previous = _recorded_manifest(resource, latest, paths)
    if previous is not None and previous.same_content(manifest):
        manifest = replace(manifest, created_at=previous.created_at)
    signed = sign(manifest, key)
    written = signed.write(folder)
    return signed, [
        PublishedFile(name, written[name], fmt, description, sha256_file(written[name]))
        for name, (fmt, description) in SIGNED_FILES.items()
    ]


def _manifest_dir(resource: Resource, latest: VersionRow, paths: Paths) -> Path:
    return paths.batch_dir(Zone.manifests, resource.table, latest.fingerprint)


def _recorded_manifest(resource: Resource, latest: VersionRow, paths: Paths) -> Manifest | None:
    try:
        return Manifest.from_bytes((_manifest_dir(resource, latest, paths) / MANIFEST).read_bytes())
    except (FileNotFoundError, ManifestError):
        return None


def record_manifest(signed: Signed, resource: Resource, latest: VersionRow, paths: Paths) -> None:
    """Keep what is about to be published in the lake (`<lake>/manifests/<table>/batch=<fp16>/`)."""
    folder = _manifest_dir(resource, latest, paths)
    for name, data in ((MANIFEST, signed.manifest_bytes), (SIGNATURE, signed.signature), (PUBLIC_KEY, signed.public_key_pem)):
        target = folder / name
        if not target.exists() or target.read_bytes() != data:
            write_bytes_atomic(target, data)


def find_leaks(resource: Resource, view: OpenView, files: list[PublishedFile], paths: Paths) -> list[Hit]:
    """The leak gate over the open view and every file about to be uploaded (the signature and
    the public key are key material, not data)."""
    scanned = [("open view", view.path, "Parquet")]
    scanned += [(f.name, f.path, f.format) for f in files if f.name not in (SIGNATURE, PUBLIC_KEY)]
    return scan_files(resource, paths.current_file(resource.table), scanned)


def _has_preview(portal: Portal, dataset: dict, mode: Mode) -> bool:
    """A data dataset's CSV has its table preview (metadata-only datasets need none)."""
    if mode is not Mode.data:
        return True
    csv = next((r for r in dataset.get("resources", []) if r["name"] == "data.csv"), None)
    return csv is not None and _preview_of(portal, csv) is not None


def _preview_of(portal: Portal, resource: dict) -> dict | None:
    views = portal.call("resource_view_list", id=resource["id"])
    return next((v for v in views if v.get("view_type") == PREVIEW_VIEW["view_type"]), None)


def _ensure_preview(portal: Portal, resource: dict) -> None:
    """CKAN's data-table view on the DataStore-backed CSV, once (never a second one)."""
    if _preview_of(portal, resource) is None:
        portal.call("resource_view_create", resource_id=resource["id"], **PREVIEW_VIEW)


def data_time_range(resource: Resource, view: OpenView, validated_at: datetime) -> tuple[str, str] | None:
    """The data's own time span: of its first date-time item, else of its first date item whose
    dates all lie in the past (a licence's expiry date is not what the data covers)."""
    from common.lake_store import connect as lake_connection

    candidates = [c for t in ("T", "D") for c in view.columns if resource.item(c).published_type.value == t]
    con = lake_connection()
    try:
        for code in candidates:
            low, high = con.execute(
                f"SELECT CAST(min({ident(code)}) AS DATE), CAST(max({ident(code)}) AS DATE) "
                f"FROM read_parquet({literal(view.path)}, hive_partitioning = false)"
            ).fetchall()[0]
            if low is not None and high <= validated_at.date():
                return low.isoformat(), high.isoformat()
    finally:
        con.close()
    return None


def _sync_resources(portal: Portal, dataset: dict, files: list[PublishedFile]) -> dict | None:
    """Create or replace each file under its stable name; remove resources we no longer publish."""
    by_name = {r["name"]: r for r in dataset.get("resources", [])}
    csv_resource = None
    for f in files:
        existing = by_name.pop(f.name, None)
        terms = _terms(f.format)
        if existing is not None and existing.get("hash") == f.sha256:
            res = existing
            if any(existing.get(k) != v for k, v in terms.items()):  # published before these terms existed
                res = portal.call("resource_patch", id=existing["id"], **terms)
        else:
            with f.path.open("rb") as fh:
                fields = dict(name=f.name, format=f.format, description=f.description, hash=f.sha256, upload=fh, **terms)
                if existing is None:
                    res = portal.call("resource_create", package_id=dataset["id"], **fields)
                else:
                    res = portal.call("resource_patch", id=existing["id"], **fields)
        if f.name == "data.csv":
            csv_resource = res
    for leftover in by_name.values():  # e.g. data files of a resource that became metadata-only
        portal.call("resource_delete", id=leftover["id"])
    return csv_resource


def _load_datastore(portal: Portal, resource: Resource, csv_resource: dict[str, Any], view: OpenView) -> None:
    """Replace the DataStore table behind the CSV with the rows of the uploaded CSV, typed and keyed.

    CKAN loads the file it stored itself (our extension's `kcdata_datastore_load`: PostgreSQL COPY,
    old rows deleted in the same transaction), so a reader sees the old rows or all the new ones."""
    key = [k for k in resource.key if k in view.columns]
    fields = datastore_fields(resource, view.columns)
    keyed = {"primary_key": key} if key else {}
    if not _same_table(portal, csv_resource["id"], fields):  # new, or its columns changed: made again
        portal.show("datastore_delete", resource_id=csv_resource["id"], force=True)
        portal.call("datastore_create", resource_id=csv_resource["id"], force=True, fields=fields, records=[], **keyed)
    portal.call("kcdata_datastore_load", resource_id=csv_resource["id"], verbatim=apostrophe_cells(resource, view))


def apostrophe_cells(resource: Resource, view: OpenView) -> dict[str, list[int]]:
    """The text cells whose own value starts with an apostrophe before a formula character, by column:
    data rows (1-based, in the order data.csv lists them). In data.csv they look like cells the
    writer neutralised (`'=1` for `=1`), so the DataStore load keeps exactly these as they are."""
    from common.lake_store import connect as lake_connection

    texts = [c for c in view.columns if resource.item(c).published_type is ItemType.C]
    prefixes = ", ".join(f"chr({ord(p)})" for p in FORMULA_PREFIXES)
    found: dict[str, list[int]] = {}
    con = lake_connection()
    try:
        for code in texts:
            rows = con.execute(
                f"SELECT file_row_number + 1 FROM read_parquet({literal(view.path)}, hive_partitioning = false, file_row_number = true) "
                f"WHERE left({ident(code)}, 1) = chr(39) AND substr({ident(code)}, 2, 1) IN ({prefixes}) ORDER BY 1"
            ).fetchall()
            if rows:
                found[code] = [int(r[0]) for r in rows]
    finally:
        con.close()
    return found


def _same_table(portal: Portal, resource_id: str, fields: list[dict]) -> bool:
    """Whether the DataStore table behind `resource_id` exists with exactly these columns and types."""
    found = portal.show("datastore_search", resource_id=resource_id, limit=0)
    if not found:
        return False
    have = [(f["id"], _PG_NAMES.get(f.get("type"), f.get("type"))) for f in found.get("fields", []) if f["id"] != "_id"]
    return have == [(f["id"], _PG_NAMES.get(f["type"], f["type"])) for f in fields]


_PG_NAMES = {"int": "int4", "integer": "int4", "bigint": "int8", "float": "float8", "boolean": "bool"}  # as CKAN reports them


def _retract(resource: Resource, portal: Portal, store: CatalogStore, reasons: list[str]) -> PublishResult:
    """Take the dataset off the public portal (CKAN state `deleted`: gone for the public and from
    search, kept for the bureau's audit; a later approval restores it in place)."""
    name = dataset_name(resource)
    current = portal.show("package_show", id=name)
    if current is None or current.get("state") == "deleted":
        return PublishResult(resource.code, "not-published", None, reasons)
    portal.call("package_delete", id=current["id"])
    known = store.publication(resource.code)
    store.record_publication(
        resource.code, ckan_id=current["id"], ckan_name=name, url=_url(portal, name), state="retracted",
        version=known.version if known else 0, fingerprint=known.fingerprint if known else "",
    )
    return PublishResult(resource.code, "retracted", _url(portal, name), reasons)


def publish_all(portal: Portal, paths: Paths | None = None, codes: list[str] | None = None,
                ways: int | None = None) -> list[PublishResult]:
    """Every catalog resource (or `codes`) through the gate, `ways` datasets at once
    (KCDATA_PUBLISH_WAYS): each dataset is CKAN calls of its own, mostly waiting on CKAN, which
    serves several requests at a time. One resource's failure does not stop the others: they are
    all published, then the failures are raised together, each named. Results in `codes` order."""
    from concurrent.futures import ThreadPoolExecutor

    from catalog.entries import get_resource, load_catalog

    paths = paths or get_paths()
    store = open_store(paths.catalog_url)  # shared: its engine is thread-safe, each call has its own session
    resources = [get_resource(c) for c in codes] if codes else load_catalog()
    ways = max(1, min(ways or read_settings().publish_ways, len(resources) or 1))

    def one(resource: Resource) -> PublishResult | BaseException:
        try:
            return publish_resource(resource, portal.another() if ways > 1 else portal, paths, store)
        except Exception as exc:  # noqa: BLE001 - kept, named and raised once the others are done
            return exc

    with ThreadPoolExecutor(max_workers=ways, thread_name_prefix="publish") as pool:
        outcomes = list(pool.map(one, resources))
    failed = [(r, o) for r, o in zip(resources, outcomes, strict=True) if isinstance(o, BaseException)]
    if len(failed) == 1:
        raise failed[0][1]
    if failed:
        raise KcdataError("publishing failed for " + "; ".join(f"{r.code}: {o}" for r, o in failed)) from failed[0][1]
    return [o for o in outcomes if isinstance(o, PublishResult)]
