"""Pulled sources: kcdata fetches the data (an HTTP API, a database) instead of waiting for a file.

A pull writes one JSON-lines delivery file under `<lake>/state/pull/<table>/` and the caller lands
it through `connectors.file_drop.land_file` like any department's file, so validation,
quarantine and versions work unchanged. Files are written canonically (sorted keys, the rows in
the order served), so an unchanged source gives identical bytes: the same fingerprint, and
landing says "already landed" — a new version only when the content changed.

    result = pull(resource, paths, credentials)     # result.file None: nothing new
    if result.file: land (and validate) result.file
    commit(resource, paths, result)                 # only after landing succeeded

`commit` is separate so a database's watermark only moves once its rows are safely in the lake:
a pull whose file was refused or crashed is simply pulled again next time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.model import Resource
from common.errors import KcdataError
from common.settings import Paths


class PullError(KcdataError):
    """A pull failed (unreachable, refused, bad answer); the message names the source, never a secret."""

    retryable = True


@dataclass
class Credentials:
    """What an Airflow connection holds, without Airflow: the secret stays out of repr and logs."""

    login: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    schema: str | None = None  # database name (postgres/mysql) or URL scheme (http)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    conn_type: str | None = None  # Airflow's connection type: postgres, mysql, http...

    @property
    def secret(self) -> str | None:
        """The token or API key of an HTTP connection: its password, else `token`/`api_key` in extra."""
        return self.password or self.extra.get("token") or self.extra.get("api_key") or None


@dataclass
class PullResult:
    """One pull: the delivery file (None = nothing new), what it holds and where it came from."""

    file: Path | None
    rows: int
    pages: int
    watermark: str | None  # the highest watermark in `file` (incremental database pulls)
    source_uri: str  # for lineage: the URL, or dialect://host:port/db/table; never a secret
    state: dict[str, Any] = field(default_factory=dict)  # what `commit` records for the next pull

    def to_dict(self) -> dict[str, Any]:
        return {"file": str(self.file) if self.file else None, "rows": self.rows, "pages": self.pages,
                "watermark": self.watermark, "source_uri": self.source_uri}


def pull(resource: Resource, paths: Paths, credentials: Credentials | None) -> PullResult:
    """Fetch the resource's source into a new delivery file; see the module notes."""
    kind = resource.source.kind
    if kind == "http_api":
        from connectors.pull.http_api import pull_http

        return pull_http(resource, paths, credentials)
    if kind == "database":
        from connectors.pull.database import pull_database

        return pull_database(resource, paths, credentials)
    raise PullError(f"{resource.code}: source kind {kind} is not pulled (departments deliver its files to the inbox)")


def commit(resource: Resource, paths: Paths, result: PullResult) -> None:
    """Record a landed pull: the next incremental pull starts after its watermark. Call it only
    once `result.file` was landed (or was already there)."""
    from connectors.pull.state import commit_state

    commit_state(resource, paths, result)
