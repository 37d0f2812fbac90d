"""The open view: what of a resource may leave the bureau, built after dbt.

Input: dbt's current rows of the resource (`<lake>/curated/resources/<table>.parquet`, one row
per key, the latest passing batch winning: the one dedupe rule, in dbt's `latest_per_key`).
Output: `<lake>/open/<table>/batch=<fp16>.<rules>/data.parquet`, named by the latest passing version,
written once. Each item gets the treatment its entry declares, or its sensitivity implies (public:
kept, anything else: dropped), see governance/treatments.py; the treatments are part of `<rules>`,
so a changed treatment makes a new view. Resources that may not be opened (不予开放, or core data)
get no view at all, and neither does one with an item whose sensitivity nobody declared.
"""
from __future__ import annotations

from catalog.model import Grade, OpenType, Resource, Sensitivity, TreatmentKind
from common.atomic import staged_dir, sweep_stale_temps
from common.errors import KcdataError
from common.lake import DATA_FILE, OpenView, Zone
from common.settings import Paths, get_paths
from common.sqltext import ident, literal

__all__ = ["OpenView", "build_open_view", "may_open", "public_items"]


def public_items(resource: Resource) -> list[str]:
    """Items declared public (kept as they are unless a treatment says otherwise)."""
    return [i.code for i in resource.items if i.sensitivity is Sensitivity.public]


def may_open(resource: Resource) -> bool:
    """Only resources whose open type allows it get an open view; core data never leaves the lake."""
    return resource.open.type is not OpenType.none and resource.grade is not Grade.core


def build_open_view(resource: Resource, fingerprint: str, rules: str, paths: Paths | None = None) -> OpenView:
    """Write (once per passing version: a delivery validated under a set of rules) and describe
    the open view of `resource`."""
    from common.lake_store import connect as lake_connection

    paths = paths or get_paths()
    if resource.grade is Grade.core:
        raise KcdataError(f"{resource.code}: core data (核心数据) never leaves the lake; it has no open view")
    if not may_open(resource):
        raise KcdataError(f"{resource.code}: open type is {resource.open.type.value}; it has no open view")
    problems = resource.publication_problems()
    if problems:
        raise KcdataError("no open view: " + "; ".join(problems))
    target = paths.batch_dir(Zone.open, resource.table, fingerprint, rules)
    out = target / DATA_FILE
    if not out.exists():
        from governance.treatments import needs_pseudonym_key, register, select_list

        current = paths.current_file(resource.table)
        if not current.exists():
            raise KcdataError(f"{resource.code}: no curated rows at {current}; run the transform first")
        keep = ", ".join(select_list(resource))
        if not keep:
            raise KcdataError(f"{resource.code}: every item is dropped; an open view needs at least one published item")
        order = _row_order(resource)
        sweep_stale_temps(target.parent)
        con = lake_connection()
        try:
            if needs_pseudonym_key(resource):
                from common.keys import pseudonym_key

                register(con, pseudonym_key())
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


def _row_order(resource: Resource) -> str:
    """By key when the key is published as it is; otherwise by the published values themselves
    (ordering by a hidden or pseudonymised original would leak its order)."""
    if not resource.key:
        return "_loaded_at, _batch"
    if all((t := resource.item(k).effective_treatment) is not None and t.kind is TreatmentKind.keep for k in resource.key):
        return ", ".join(ident(k) for k in resource.key)
    return "ALL"
