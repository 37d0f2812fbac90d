"""dbt-duckdb plugin: dbt reads the encrypted validated batches, decrypted in memory only.

DuckDB cannot decrypt the Parquet modular encryption pyarrow writes (common/lake_crypto.py), so
for every encrypted validated batch this plugin registers a decrypting Arrow dataset on each
DuckDB connection and cursor dbt uses (`kcdata_decrypted_<n>`), and a small table
`kcdata_encrypted_batches(file, relation)` saying which file is which. The `validated_source`
macro reads plain batches with `read_parquet` and encrypted ones from their relation. Nothing
decrypted is written to disk by this: the datasets are scanned lazily, in memory.

Configured by the generated profiles.yml (transform/project.py `profiles_document`):
`plugins: [{module: transform.lake_plugin, config: {validated: <lake>/validated}}]`.

A run that reads only some resources says which in `KCDATA_DBT_TABLES` (comma-separated, set by
transform/runner.py): only their batches get a decrypting dataset, so a delivery of a resource
without personal items does not import pyarrow's dataset layer nor open other resources' keys.
It is read here at run time, not by the project, so dbt's partial parsing does not depend on it.
A batch left out and read anyway would fail loudly (DuckDB cannot read it), never silently.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbt.adapters.duckdb.plugins import BasePlugin

from common.settings import read_settings

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

INDEX = "kcdata_encrypted_batches"
PREFIX = "kcdata_decrypted_"


def wanted_tables() -> set[str] | None:
    """The resources this run reads (KCDATA_DBT_TABLES), or None for all."""
    value = read_settings().dbt_tables
    return None if value is None else {t for t in value.split(",") if t}


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        from common.lake_store import lake_root

        self._validated = lake_root(plugin_config["validated"])
        self._registered: tuple[str, dict[str, Any]] | None = None

    def _objects(self) -> tuple[str, dict[str, Any]]:
        """The SQL making the index view, and name -> decrypting Arrow dataset; built once per dbt
        run (batches do not change during it). The index is plain SQL, not an Arrow table:
        building one imports pandas through pyarrow (half a second) even when nothing is encrypted."""
        if self._registered is None:
            from common.lake_crypto import encrypted_files
            from common.sqltext import literal

            tables = wanted_tables()
            files = [
                f for f in encrypted_files([self._validated], staged=False)
                if tables is None or f.relative_to(self._validated).parts[0] in tables
            ]
            objects: dict[str, Any] = {}
            if files:
                from common.lake_crypto import dataset

                objects = {f"{PREFIX}{n}": dataset(f) for n, f in enumerate(files)}
            rows = ", ".join(f"({literal(str(f))}, {literal(name)})" for f, name in zip(files, objects, strict=True))
            body = (
                f"select * from (values {rows}) as batches(file, relation)" if rows
                else "select cast(null as varchar) as file, cast(null as varchar) as relation where false"
            )
            self._registered = (f"create or replace temp view {INDEX} as {body}", objects)
        return self._registered

    def _register(self, con: DuckDBPyConnection) -> None:
        index, objects = self._objects()
        con.execute(index)
        for name, value in objects.items():
            con.register(name, value)

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        self._register(conn)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        self._register(cursor)
