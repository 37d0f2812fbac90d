"""`kcdata_datastore_load`: fill a resource's DataStore table from its own uploaded data.csv at
database speed, atomically.

The publisher used to send every row through `datastore_upsert` (minutes for a million rows, and
a reader saw the table fill up). Here the rows never leave the server: the file CKAN stored at
upload (the one the leak gate passed and the manifest signs) is streamed into PostgreSQL with
`COPY ... FROM STDIN (FORMAT csv)` into a staging table, as ckanext-xloader does. Then, in the same
transaction, a new table is built beside the live one (its rows with CKAN's full-text vectors, in
a statement PostgreSQL runs in parallel, then the live table's indexes, trigger, comments and
grants, each index built once rather than kept up row by row) and swapped in for it: a reader sees
the old table until the commit and the whole new one after it, never a 404 or a part. A table
that cannot be rebuilt exactly (an alias view reads it, it has constraints CKAN does not make, ...)
is filled in place instead: old rows deleted, new ones inserted, in the same one transaction. The
cached row count CKAN answers totals from is refreshed in the transaction too.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

import ckan.plugins.toolkit as tk
from ckanext.kcdata.loadsql import ChunkReader, copy_sql, fill_sql, quote_ident, staging_name, staging_sql
from ckanext.kcdata.swap import swap_in, swap_plan

log = logging.getLogger(__name__)
COPY_CHUNK = 1 << 20


def datastore_load_auth(context: dict, data_dict: dict) -> dict:
    """Whoever may both create and upsert this resource's DataStore table, nobody else."""
    resource_id = data_dict.get("resource_id")
    for action in ("datastore_create", "datastore_upsert"):
        try:
            tk.check_access(action, context, {"resource_id": resource_id})
        except tk.NotAuthorized:
            return {"success": False, "msg": f"not authorised to {action} resource {resource_id}"}
    return {"success": True}


def datastore_load(context: dict, data_dict: dict) -> dict:
    """Replace the rows of the DataStore table of `resource_id` with its uploaded CSV.

    :param resource_id: the resource (its file uploaded to CKAN, its DataStore table created)
    :param verbatim: {column: [row, ...]}: text cells (1-based data rows) whose value itself starts
        with an apostrophe, kept as the file has them (other formula apostrophes are taken off)
    :param in_place: keep the live table and fill it (old rows deleted, new ones inserted, in one
        transaction) instead of swapping a new one in; slower, and what a table that cannot be
        rebuilt exactly gets anyway
    :returns: {"resource_id", "rows"}
    """
    resource_id = tk.get_or_bust(data_dict, "resource_id")
    tk.check_access("kcdata_datastore_load", context, data_dict)
    verbatim = data_dict.get("verbatim") or {}
    if not isinstance(verbatim, dict) or not all(isinstance(v, list) for v in verbatim.values()):
        raise tk.ValidationError({"verbatim": ["a mapping of column to a list of row numbers"]})
    in_place = data_dict.get("in_place", False)
    if not isinstance(in_place, bool):
        raise tk.ValidationError({"in_place": ["true or false"]})
    resource = tk.get_action("resource_show")(dict(context), {"id": resource_id})
    if resource.get("url_type") != "upload":
        raise tk.ValidationError({"resource_id": ["the resource has no uploaded file to load"]})
    with _uploaded_file(resource) as fh:
        rows = _copy(resource_id, fh, verbatim, in_place)
    log.info("kcdata_datastore_load %s: %s rows", resource_id, rows)
    return {"resource_id": resource_id, "rows": rows}


@contextmanager
def _uploaded_file(resource: dict) -> Iterator[BinaryIO | ChunkReader]:
    """The stored upload as a readable stream, from CKAN's file storage or its plain folder."""
    from ckan.lib import uploader

    upload = uploader.get_resource_uploader(resource)
    path = upload.get_path(resource["id"])
    storage = getattr(upload, "storage", None)
    if storage is not None and hasattr(storage, "stream"):  # CKAN 2.12's file storage (file-keeper)
        from ckan.lib import files

        location = files.Location(path)
        try:
            data = files.FileData(location, size=storage.size(location))
        except files.exc.LocationError as exc:
            raise tk.ObjectNotFound("the resource's uploaded file is not in storage") from exc
        yield ChunkReader(storage.stream(data))
        return
    with open(path, "rb") as fh:
        yield fh


def _copy(resource_id: str, fh: Any, verbatim: dict[str, list], in_place: bool = False) -> int:
    """COPY the file into a staging table, then swap a table built from it in for the live one
    (or fill the live one in place), in one transaction."""
    import psycopg2
    import sqlalchemy as sa
    from ckanext.datastore.backend.postgres import get_write_engine
    from sqlalchemy.exc import DataError, ProgrammingError

    engine = get_write_engine()
    try:
        with engine.begin() as conn:
            layout = [(str(n), str(k)) for n, k in conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :table ORDER BY ordinal_position"),
                {"table": resource_id}).fetchall()]
            columns = [(n, k) for n, k in layout if n not in ("_id", "_full_text")]
            if not columns:
                raise tk.ObjectNotFound(f"resource {resource_id} has no DataStore table: datastore_create it first")
            unknown = set(verbatim) - {name for name, _ in columns}
            if unknown:
                raise tk.ValidationError({"verbatim": [f"no such columns: {sorted(unknown)}"]})
            table, staging = quote_ident(resource_id), quote_ident(staging_name(resource_id))
            names = [name for name, _ in columns]
            # readers (ACCESS SHARE) go on seeing the old rows; a second load of the table waits
            conn.execute(sa.text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
            for statement in staging_sql(resource_id, names):
                conn.execute(sa.text(statement))
            cursor = conn.connection.cursor()
            cursor.copy_expert(copy_sql(staging_name(resource_id), names), fh, size=COPY_CHUNK)
            rows = cursor.rowcount
            conn.execute(sa.text(f"ANALYZE {staging}"))
            swap = None if in_place else swap_plan(conn, resource_id)
            if swap is None:
                conn.execute(sa.text(f"DELETE FROM {table}"))
                conn.execute(sa.text(fill_sql(resource_id, columns, verbatim)))
                conn.execute(sa.text(f"ANALYZE {table}"))
            else:
                swap_in(conn, resource_id, layout, verbatim, swap)
            conn.execute(sa.text(f"DROP TABLE {staging}"))
            # CKAN answers a search's total from a cached count (`_table_stats`), which its own
            # writes refresh: refreshed here, in the same transaction, readers get the old count
            # until the commit and the new one with the new rows
            conn.execute(sa.text("SELECT update_cached_table_row_count(:table)"), {"table": resource_id})
    except (DataError, ProgrammingError, psycopg2.DataError, psycopg2.ProgrammingError) as exc:
        # a cell the column's type refuses, a column count that differs: the caller's mistake, not retried
        raise tk.ValidationError({"records": [str(getattr(exc, "orig", exc)).strip()[:500]]}) from exc
    return rows
