"""Generate one resource's sample file and its ground-truth manifest of bad rows.

Deterministic: every random stream is seeded from (seed, sha256 of the resource code, item,
chunk), never Python's hash(), so the same arguments give byte-identical files. Files are
written under a temporary name in the target folder and renamed into place.

The manifest also records the SHA-256 of the data file it describes (Parquet key-value
metadata, key `kcdata.sample_sha256`): proof that a file, and so a catalog version whose
fingerprint is that hash, was made by this generator and is not a department's real data.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.model import Resource, SourceFormat
from common.checksums import sha256_file
from samples.corruptions import KINDS, Plan, apply_plan, plan_corruptions
from samples.generators import Chunk, generate_column, generation_order
from samples.writers import XLSX_MAX_ROWS, extension, open_writer

CHUNK_ROWS = 500_000
DEFAULT_SEED = 20261122
SAMPLE_SHA256_KEY = b"kcdata.sample_sha256"


@dataclass(frozen=True)
class SampleResult:
    """What was written; bad_rows counts distinct manifest rows (duplicate sources included)."""

    path: Path
    rows: int
    bad_rows: int
    manifest: Path
    by_kind: dict[str, int] = field(default_factory=dict)


def stable_hash(text: str) -> int:
    """64 bits of sha256: the same on every run and machine, unlike hash()."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _rng(seed: int, resource: Resource, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stable_hash(resource.code), *stream])))


def manifest_path(inbox: Path, table: str) -> Path:
    """Where generate_resource writes the ground-truth manifest of `table`'s sample file."""
    return Path(inbox) / ".manifests" / f"{table}.parquet"


def sample_fingerprints(inbox: Path, table: str) -> set[str]:
    """SHA-256 of the sample data file generated for `table` (empty: no manifest, or none recorded)."""
    path = manifest_path(inbox, table)
    if not path.is_file():
        return set()
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):  # a half-written or foreign file proves nothing
        return set()
    value = metadata.get(SAMPLE_SHA256_KEY)
    return {value.decode("ascii")} if value else set()


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def generate_resource(
    resource: Resource,
    out_dir: Path,
    rows: int | None = None,
    bad_share: float = 0.02,
    seed: int = DEFAULT_SEED,
) -> SampleResult:
    """Write out_dir/<table>/<table>_sample.<ext> and out_dir/.manifests/<table>.parquet
    (the manifest records the data file's SHA-256; see sample_fingerprints)."""
    rows = resource.source.sample_rows if rows is None else rows
    if rows < 0:
        raise ValueError(f"{resource.code}: rows must be >= 0, not {rows}")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError(f"{resource.code}: bad_share must be between 0 and 1, not {bad_share}")
    if resource.source.format is SourceFormat.xlsx and rows > XLSX_MAX_ROWS:
        raise ValueError(
            f"{resource.code} ({resource.table}): {rows:,} rows do not fit one XLSX sheet "
            f"(at most {XLSX_MAX_ROWS:,} data rows); generate fewer rows, or use CSV for large volumes"
        )
    path = Path(out_dir) / resource.table / f"{resource.table}_sample.{extension(resource)}"
    manifest_file = manifest_path(Path(out_dir), resource.table)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest_file.parent.mkdir(parents=True, exist_ok=True)

    plan = plan_corruptions(resource, rows, bad_share, _rng(seed, resource, 0))
    _write_data(resource, path, rows, seed, plan)
    manifest = plan.manifest()
    metadata = {**(manifest.schema.metadata or {}), SAMPLE_SHA256_KEY: sha256_file(path).encode("ascii")}
    manifest = manifest.replace_schema_metadata(metadata)
    tmp = _temp_name(manifest_file)
    try:
        pq.write_table(manifest, tmp)
        os.replace(tmp, manifest_file)
    finally:
        tmp.unlink(missing_ok=True)
    counts = Counter(manifest.column("kind").to_pylist())
    return SampleResult(
        path=path,
        rows=rows,
        bad_rows=len(set(manifest.column("row").to_pylist())),
        manifest=manifest_file,
        by_kind={k: counts[k] for k in KINDS if counts[k]},
    )


def _write_data(resource: Resource, path: Path, rows: int, seed: int, plan: Plan) -> None:
    tmp = _temp_name(path)
    order = generation_order(resource)
    states: dict[str, dict] = {i.code: {} for i in resource.source_items}
    sources: dict[int, tuple] = {}
    try:
        writer = open_writer(resource, tmp)
        try:
            for chunk_no, start in enumerate(range(0, rows, CHUNK_ROWS)):
                n = min(CHUNK_ROWS, rows - start)
                columns: dict[str, pa.Array] = {}
                for item in order:
                    rng = _rng(seed, resource, 1 + stable_hash(item.code) % 2**32, chunk_no)
                    ctx = Chunk(resource, item, item.sample, start, n, rng, seed, states[item.code], columns)
                    columns[item.code] = generate_column(ctx)
                columns = apply_plan(plan, resource, start, columns, sources)
                writer.write([columns[i.code] for i in resource.source_items])
        finally:
            writer.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
