"""The lake layout: the one module that knows where every zone, batch and file lives.

    <lake>/raw/<table>/batch=<fp16>/data.parquet                  the delivery as sent (text)
    <lake>/validated/<table>/batch=<fp16>.<rules>/data.parquet    rows that passed (+ outcome.json)
    <lake>/quarantine/<table>/batch=<fp16>.<rules>/data.parquet   rows that failed (+ feedback.csv)
    <lake>/quarantine/<table>/refused=<fp16>/feedback.csv         why a delivery was refused whole
    <lake>/curated/<mart>.parquet                          dbt marts
    <lake>/curated/resources/<table>.parquet               dbt: current rows of one resource
    <lake>/open/<table>/batch=<fp16>.<rules>/data.parquet  the publishable view
    <lake>/manifests/<table>/batch=<fp16>/                 what was published, for verification
    <lake>/.dbt/  <lake>/gx/  <lake>/catalog.db            scratch and state of the stages

Batches are named by the first 16 hex digits of the source file's SHA-256, and after validation
also by the signature of the rules they were validated under (8 hex digits), so a changed
catalog entry validates the same delivery again without rewriting anything. Lineage names them
with stable URIs: `lake://<zone>/<table>[/batch=...]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from common.lake_store import is_remote, work_dir

DATA_FILE = "data.parquet"
OUTCOME_FILE = "outcome.json"
FEEDBACK_FILE = "feedback.csv"


class Zone(str, Enum):
    """The lake's zones, in the order data flows through them."""

    raw = "raw"
    validated = "validated"
    quarantine = "quarantine"
    curated = "curated"
    open = "open"
    manifests = "manifests"


def batch_name(fingerprint: str, rules: str | None = None) -> str:
    """`batch=<first 16 hex digits of the file's SHA-256>`, and `.<rules>` after it in the zones
    that depend on the rules a batch was validated under (validated, quarantine, open)."""
    return f"batch={fingerprint[:16]}" + (f".{rules}" if rules else "")


def lake_uri(zone: Zone | str, name: str, fingerprint: str | None = None, rules: str | None = None) -> str:
    """Stable lineage name of a table's zone, or of one batch in it."""
    zone = Zone(zone)
    return f"lake://{zone.value}/{name}" + (f"/{batch_name(fingerprint, rules)}" if fingerprint else "")


@dataclass(frozen=True)
class LakeLayout:
    """Paths under one lake root; `lake` is the only input."""

    lake: Path

    def zone(self, zone: Zone | str) -> Path:
        return self.lake / Zone(zone).value

    @property
    def raw(self) -> Path:
        return self.zone(Zone.raw)

    @property
    def validated(self) -> Path:
        return self.zone(Zone.validated)

    @property
    def quarantine(self) -> Path:
        return self.zone(Zone.quarantine)

    @property
    def curated(self) -> Path:
        return self.zone(Zone.curated)

    @property
    def open(self) -> Path:
        return self.zone(Zone.open)

    def table_dir(self, zone: Zone | str, table: str) -> Path:
        return self.zone(zone) / table

    def batch_dir(self, zone: Zone | str, table: str, fingerprint: str, rules: str | None = None) -> Path:
        """<lake>/<zone>/<table>/batch=<fp16>[.<rules>]: one immutable batch."""
        return self.table_dir(zone, table) / batch_name(fingerprint, rules)

    def batch_file(self, zone: Zone | str, table: str, fingerprint: str, rules: str | None = None) -> Path:
        return self.batch_dir(zone, table, fingerprint, rules) / DATA_FILE

    def refused_dir(self, table: str, fingerprint: str) -> Path:
        """Where the feedback on a refused delivery is kept: <lake>/quarantine/<table>/refused=<fp16>."""
        return self.table_dir(Zone.quarantine, table) / f"refused={fingerprint[:16] or 'unreadable'}"

    def batch_glob(self, zone: Zone | str, table: str) -> str:
        """Glob of every batch file of `table` in `zone` (for DuckDB's read_parquet)."""
        return str(self.table_dir(zone, table) / "*" / DATA_FILE)


    def outcome_glob(self, table: str) -> str:
        return str(self.table_dir(Zone.validated, table) / "*" / OUTCOME_FILE)

    def mart_file(self, mart: str) -> Path:
        """<lake>/curated/<mart>.parquet, written by dbt."""
        return self.curated / f"{mart}.parquet"

    @property
    def current_dir(self) -> Path:
        """Where dbt writes each resource's current rows (one key, one row)."""
        return self.curated / "resources"

    def current_file(self, table: str) -> Path:
        return self.current_dir / f"{table}.parquet"

    def uri_of(self, path: Path) -> str:
        """Lineage name of a single-file table under the lake: `lake://curated/<mart>`."""
        if not self.remote:
            return "lake://" + path.relative_to(self.lake).with_suffix("").as_posix()
        relative = str(path)[len(str(self.lake)):].lstrip("/")
        return "lake://" + relative.rsplit(".", 1)[0]

    @property
    def remote(self) -> bool:
        """Whether the lake is on object storage (`KCDATA_LAKE=s3://...`)."""
        return is_remote(self.lake)

    @property
    def local_state(self) -> Path:
        """Where the stages' local scratch and state live: the lake folder itself, or for an S3
        lake a local work folder (`KCDATA_WORK`): DuckDB and GX need files on disk."""
        return work_dir(self.lake) if self.remote else self.lake

    @property
    def dbt_dir(self) -> Path:
        """dbt's scratch: the assembled project, target/, logs/ and the DuckDB file."""
        return self.local_state / ".dbt"

    @property
    def gx_root(self) -> Path:
        return self.local_state / "gx"

    @property
    def data_docs_index(self) -> Path:
        return self.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def default_catalog_url(self) -> str:
        if self.remote:
            raise ValueError(
                f"the lake is on object storage ({self.lake}): set KCDATA_CATALOG_URL to the shared "
                "PostgreSQL catalog store (postgresql+psycopg://...), which every worker must see"
            )
        return f"sqlite:///{self.lake / 'catalog.db'}"


@dataclass(frozen=True)
class OpenView:
    """What one open-view file holds: the contract between governance and publishing."""

    path: Path
    rows: int
    columns: list[str]  # item codes kept, in catalog order
    dropped: list[str]  # item codes withheld

    @classmethod
    def describe(cls, path: Path, item_codes: list[str]) -> OpenView:
        """Read rows and columns from the file's Parquet footer (no data is read)."""
        import pyarrow.parquet as pq

        meta = pq.read_metadata(str(path))
        present = set(meta.schema.names)
        return cls(
            path=path,
            rows=meta.num_rows,
            columns=[c for c in item_codes if c in present],
            dropped=[c for c in item_codes if c not in present],
        )
