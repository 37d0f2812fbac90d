"""The open view: what of a resource may leave the bureau, built after dbt.

Input: dbt's current rows of the resource (`<lake>/curated/resources/<table>.parquet`, one row
per key, the latest passing batch winning: the one dedupe rule, in dbt's `latest_per_key`).
Output: `<lake>/open/<table>/batch=<fp16>.<rules>/data.parquet`, named by the latest passing version,
written once. Today the treatment is binary: items whose sensitivity is `public` are kept, any
other item is dropped, never published. Resources that may not be opened get no view at all.
"""
from __future__ import annotations

from catalog.model import OpenType, Resource, Sensitivity
from common.atomic import staged_dir, sweep_stale_temps
from common.errors import KcdataError
from common.lake import DATA_FILE, OpenView, Zone
from common.settings import Paths, get_paths
from common.sqltext import ident, literal

__all__ = ["OpenView", "build_open_view", "may_open", "public_items"]


def public_items(resource: Resource) -> list[str]:
    return [i.code for i in resource.items if i.sensitivity is Sensitivity.public]


def may_open(resource: Resource) -> bool:
    """Only resources whose open type allows it get an open view."""
    return resource.open.type is not OpenType.none


def build_open_view(resource: Resource, fingerprint: str, rules: str, paths: Paths | None = None) -> OpenView:
    """Write (once per passing version: a delivery validated under a set of rules) and describe
    the open view of `resource`."""
    import duckdb

    paths = paths or get_paths()
    if not may_open(resource):
        raise KcdataError(f"{resource.code}: open type is {resource.open.type.value}; it has no open view")
    target = paths.batch_dir(Zone.open, resource.table, fingerprint, rules)
    out = target / DATA_FILE
    if not out.exists():
        current = paths.current_file(resource.table)
        if not current.exists():
            raise KcdataError(f"{resource.code}: no curated rows at {current}; run the transform first")
        keep = ", ".join(ident(c) for c in public_items(resource))
        order = ", ".join(ident(k) for k in resource.key) or "_loaded_at, _batch"
        sweep_stale_temps(target.parent)
        con = duckdb.connect()
        try:
            source = f"read_parquet({literal(str(current))})"
            (has_rows,) = con.execute(f"SELECT count(*) > 0 FROM {source}").fetchall()[0]
            (included,) = con.execute(f"SELECT count(*) > 0 FROM {source} WHERE _batch = ?", [fingerprint[:16]]).fetchall()[0]
            if has_rows and not included:
                raise KcdataError(
                    f"{resource.code}: the curated rows do not include batch {fingerprint[:16]} yet; run the transform first"
                )
            with staged_dir(target) as tmp:
                con.execute(
                    f"""COPY (SELECT {keep} FROM {source} ORDER BY {order})
                        TO {literal(str(tmp / DATA_FILE))} (FORMAT parquet, COMPRESSION zstd)"""
                )
        finally:
            con.close()
    return OpenView.describe(out, [i.code for i in resource.items])
