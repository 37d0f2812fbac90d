"""dbt-duckdb plugin: dbt reads the encrypted validated batches, decrypted in memory only.

DuckDB cannot decrypt the Parquet modular encryption pyarrow writes (common/lake_crypto.py), so
for every encrypted validated batch this plugin registers a decrypting Arrow dataset on each
DuckDB connection and cursor dbt uses (`kcdata_decrypted_<n>`), and a small table
`kcdata_encrypted_batches(file, relation)` saying which file is which. The `validated_source`
macro reads plain batches with `read_parquet` and encrypted ones from their relation. Nothing
decrypted is written to disk by this: the datasets are scanned lazily, in memory.

Configured by the generated profiles.yml (transform/project.py `profiles_document`):
`plugins: [{module: transform.lake_plugin, config: {validated: <lake>/validated}}]`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

INDEX = "kcdata_encrypted_batches"
PREFIX = "kcdata_decrypted_"


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._validated = Path(plugin_config["validated"])
        self._registered: dict[str, Any] | None = None

    def _objects(self) -> dict[str, Any]:
        """Name -> Arrow object to register, built once per dbt run (batches do not change during it)."""
        if self._registered is None:
            import pyarrow as pa

            from common.lake_crypto import dataset, encrypted_files

            files = encrypted_files([self._validated], staged=False)
            objects: dict[str, Any] = {f"{PREFIX}{n}": dataset(f) for n, f in enumerate(files)}
            index = pa.table({"file": [str(f) for f in files], "relation": list(objects)},
                             schema=pa.schema([("file", pa.string()), ("relation", pa.string())]))
            self._registered = {INDEX: index, **objects}
        return self._registered

    def _register(self, con) -> None:
        for name, value in self._objects().items():
            con.register(name, value)

    def configure_connection(self, conn) -> None:
        self._register(conn)

    def configure_cursor(self, cursor) -> None:
        self._register(cursor)
