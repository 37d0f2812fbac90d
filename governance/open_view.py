"""The publishable view of a resource: lake/open/<table>/batch=<fp16>/data.parquet.

Built from every validated batch, deduplicated on the key exactly as dbt's staging does (the
latest batch wins), keeping only items whose sensitivity is `public`. Until the protection
stage brings masking and generalisation, any other item is dropped, never published.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.model import Resource, Sensitivity
from kcdata.atomic import staged_dir
from kcdata.settings import Paths, get_paths
from kcdata.sqltext import ident


@dataclass(frozen=True)
class OpenView:
    path: Path
    rows: int
    columns: list[str]  # item codes kept, in catalog order
    dropped: list[str]  # item codes withheld


def public_items(resource: Resource) -> list[str]:
    return [i.code for i in resource.items if i.sensitivity is Sensitivity.public]



def build_open_view(resource: Resource, fingerprint: str, paths: Paths | None = None) -> OpenView:
    """Write (once per latest batch) and describe the open view of `resource`."""
    import duckdb
    import pyarrow.parquet as pq

    paths = paths or get_paths()
    keep = public_items(resource)
    dropped = [i.code for i in resource.items if i.code not in keep]
    target = paths.lake / "open" / resource.table / f"batch={fingerprint[:16]}"
    out = target / "data.parquet"
    if not out.exists():
        glob = str(paths.validated / resource.table / "*" / "data.parquet").replace("'", "''")
        key = ", ".join(ident(k) for k in resource.key) or "_row, _batch"
        order = ", ".join(ident(k) for k in resource.key) or "_loaded_at, _row"
        con = duckdb.connect()
        with staged_dir(target) as tmp:
            con.execute(
                f"""COPY (
                      SELECT {', '.join(ident(c) for c in keep)} FROM (
                        SELECT * FROM read_parquet('{glob}', union_by_name = true, hive_partitioning = false)
                        -- the same rule as dbt/macros/latest_per_key.sql: the newest batch wins
                        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _loaded_at DESC, _row DESC, _batch DESC) = 1)
                      ORDER BY {order})
                    TO '{tmp / "data.parquet"}' (FORMAT parquet, COMPRESSION zstd)"""
            )
        con.close()
    return OpenView(path=out, rows=pq.read_metadata(out).num_rows, columns=keep, dropped=dropped)
