"""A sample of a resource's rows, only where the sharing rules allow, and never personal items.

Who sees rows:
- anonymous visitors: none (catalog metadata only);
- bureau admins and the providing department: always;
- 不予共享 (not shared): nobody else;
- 无条件共享 (shared unconditionally): every signed-in user;
- otherwise an approved, unexpired sharing grant (the rule is `web.auth.data_access`).

What they see: up to 20 rows of the open view (lake/open, personal items already removed), or,
for a resource without one (不予开放), of the curated current rows; items whose sensitivity is
personal, sensitive-personal or undeclared are dropped in both cases (even masked), and so are
the lake's own columns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.model import Resource
from catalog.store import CatalogStore
from common.lake import Zone
from common.settings import get_paths
from common.sqltext import ident, literal
from web.auth import READABLE, data_access

SAMPLE_LIMIT = 20


@dataclass(frozen=True)
class SampleRows:
    allowed: bool
    reason_zh: str
    reason_en: str
    columns: list[tuple[str, str]] = field(default_factory=list)  # (item code, item name)
    rows: list[tuple] = field(default_factory=list)
    source: str = ""  # "open" | "curated" | ""
    withheld: list[str] = field(default_factory=list)  # names of personal items not shown


REASONS = {  # web.auth.data_access's reason -> (中文, English) shown beside the rows
    "anonymous": ("匿名访客仅能查看目录元数据，请登录后查看样例数据。",
                  "Anonymous visitors see catalog metadata only; sign in to see sample rows."),
    "admin": ("数据局管理员可查看。", "Bureau admins may see the rows."),
    "provider": ("本部门提供的资源。", "Your department provides this resource."),
    "not_shared": ("不予共享：仅提供方和数据局管理员可查看数据。", "Not shared: only the provider and bureau admins see its rows."),
    "unconditional": ("无条件共享。", "Shared unconditionally."),
    "grant": ("已获批准的共享申请。", "An approved sharing request covers your department."),
    "needs_request": ("有条件共享：需提交共享申请并获批准。", "Shared on conditions: request access and wait for approval."),
}


def access(resource: Resource, account: Any) -> tuple[bool, str, str]:
    """(allowed, why in Chinese, why in English), by the sharing rule of web.auth."""
    reason = data_access(account, resource)
    return (reason in READABLE, *REASONS[reason])


def sample_rows(resource: Resource, account: Any, store: CatalogStore, limit: int = SAMPLE_LIMIT) -> SampleRows:
    allowed, why_zh, why_en = access(resource, account)
    withheld = [i.name for i in resource.items if i.maybe_personal]  # personal, or nobody said
    if not allowed:
        return SampleRows(False, why_zh, why_en, withheld=withheld)
    source, path = _source_file(resource, store)
    if path is None:
        return SampleRows(True, why_zh, why_en, withheld=withheld)
    columns, rows = _read(path, resource, limit)
    return SampleRows(True, why_zh, why_en, columns, rows, source, withheld)


def _source_file(resource: Resource, store: CatalogStore) -> tuple[str, Path | None]:
    """The open view of the latest passing version, else the curated current rows, else nothing."""
    paths = get_paths()
    version = store.latest_passing_version(resource.code)
    if version is not None:
        opened = paths.batch_file(Zone.open, resource.table, version.fingerprint, version.rules)
        if opened.exists():
            return "open", opened
    current = paths.current_file(resource.table)
    return ("curated", current) if current.exists() else ("", None)


def _read(path: Path, resource: Resource, limit: int) -> tuple[list[tuple[str, str]], list[tuple]]:
    """The non-personal item columns present in the file, first `limit` rows (DuckDB, read-only)."""
    from common.lake_store import connect as lake_connection

    con = lake_connection()
    try:
        source = f"read_parquet({literal(str(path))}, hive_partitioning = false)"
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        shown = [i for i in resource.items if not i.maybe_personal and i.code in present]
        if not shown:
            return [], []
        select = ", ".join(ident(i.code) for i in shown)
        rows = con.execute(f"SELECT {select} FROM {source} LIMIT {int(limit)}").fetchall()
    finally:
        con.close()
    return [(i.code, i.name) for i in shown], rows
