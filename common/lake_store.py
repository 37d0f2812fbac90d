"""Where the lake's bytes live: a local folder, or an S3 bucket when `KCDATA_LAKE=s3://bucket/prefix`.

The lake layout (common/lake.py) builds every path from one root; this module turns that root
into a local `Path` or, for S3, a `UPath` (universal-pathlib over s3fs), so `/`, `exists()`,
`glob()`, `read_text()` and `write_bytes()` mean the same on both. The S3 endpoint and
credentials come from the standard AWS variables that botocore reads everywhere (s3fs, pyarrow,
DuckDB through fsspec): `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_DEFAULT_REGION`. Nothing here knows a bucket name or a key.

What cannot live in a bucket stays on local disk under `KCDATA_WORK`: dbt's scratch DuckDB file
(DuckDB locks it), GX's working context, and staged batches before they are published.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection
    from fsspec import AbstractFileSystem

LAKE_ENV = "KCDATA_LAKE"
REMOTE_PREFIXES = ("s3://",)
# Workers share the bucket: a cached listing would hide a batch another worker just wrote.
S3_OPTIONS = {"use_listings_cache": False}
CONDITIONAL_PUT_BYTES = 64 << 20  # up to this size a batch's data file is committed by one conditional put


def is_remote(path: object) -> bool:
    """Whether `path` (a Path, UPath or string) names an object store rather than local disk."""
    return str(path).startswith(REMOTE_PREFIXES)


def lake_root(value: str | os.PathLike[str]) -> Path:
    """The lake root for `value`: a local `Path`, or a `UPath` for `s3://bucket/prefix`."""
    text = str(value)
    if not is_remote(text):
        return Path(text)
    from upath import UPath

    bucket = text[len("s3://"):].split("/", 1)[0]
    if not bucket:
        raise ValueError(f"{LAKE_ENV}={text}: name a bucket, as in s3://kcdata-lake/city")
    # A UPath is no Path subclass, but it answers every Path method the lake uses: one path type throughout.
    return cast(Path, UPath(text.rstrip("/"), **S3_OPTIONS))


def remote_lake() -> bool:
    """Whether the configured lake (`KCDATA_LAKE`) is on object storage."""
    from common.settings import read_settings  # here: common.settings builds its paths with this module

    return is_remote(read_settings().lake or "")


def work_dir(lake: object) -> Path:
    """Local scratch for a remote lake: `KCDATA_WORK`, else one folder per lake under the user's
    cache (so two lakes never share a dbt scratch file)."""
    from common.settings import read_settings  # here: common.settings builds its paths with this module

    configured = read_settings().work
    if configured:
        return configured
    tag = hashlib.sha256(str(lake).encode()).hexdigest()[:12]
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kcdata" / f"work-{tag}"


def s3_filesystem() -> AbstractFileSystem:
    """The fsspec S3 filesystem configured from the environment (cached by fsspec)."""
    import fsspec

    return fsspec.filesystem("s3", **S3_OPTIONS)


def register_lake(con: DuckDBPyConnection) -> None:
    """Let DuckDB connection `con` read and write `s3://` paths (through fsspec/s3fs: DuckDB's own
    httpfs extension is not installed), when the lake is remote."""
    if remote_lake() and "s3" not in con.list_filesystems():  # one registration per database
        con.register_filesystem(s3_filesystem())


def connect(database: str = ":memory:", read_only: bool = False,
            config: dict[str, str | bool | int | float | list[str]] | None = None) -> DuckDBPyConnection:
    """A DuckDB connection that can read the lake, wherever it is."""
    import duckdb

    con = duckdb.connect(database, read_only=read_only, config=config or {})
    register_lake(con)
    return con


_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ClientConnectorError",
                "ServerDisconnectedError", "ConnectionRefusedError")


_STORE_CLIENTS = {"botocore", "aiobotocore", "aiohttp", "s3fs"}  # how the lake's store is reached
_OTHER_HTTP = {"requests", "urllib3"}  # how Airflow's API and CKAN are reached (botocore wraps urllib3 too)


def unreachable(exc: BaseException) -> str | None:
    """A plain sentence when `exc` (or what caused it) is the lake's object store not answering;
    None for anything else. The store restarting mid-run fails the run; nothing half-written is
    visible, and running it again finishes the work.

    Only a remote lake has a store to blame, and a timeout met by an HTTP client that the store's
    clients do not use (Airflow's API or CKAN not answering) is not the store's."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    culprit = next((e for e in chain if type(e).__name__ in _UNREACHABLE
                    or "Could not connect to the endpoint URL" in str(e)), None)
    if culprit is None or not remote_lake():
        return None
    clients = {type(e).__module__.split(".")[0] for e in chain}
    if clients & _OTHER_HTTP and not clients & _STORE_CLIENTS:
        return None
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "the S3 endpoint")
    return (f"the lake's S3 store ({endpoint}) did not answer ({type(culprit).__name__}); nothing "
            "half-written is visible: run the same command again once it is back")


def put_if_absent(path: str | Path, data: bytes) -> bool:
    """Create object `path` with `data` unless it exists (S3 conditional put, `If-None-Match: *`).

    The put is the commit: an object is visible whole or not at all. False when another writer
    created it first (its content stands)."""
    fs = s3_filesystem()
    bucket, _, key = str(path)[len("s3://"):].partition("/")
    try:
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
    except OSError as exc:  # s3fs maps 412 Precondition Failed to OSError(EINVAL)
        if "pre-condition" in str(exc).lower() or "precondition" in str(exc).lower():
            return False
        raise
    return True


def upload_batch(staged: Path, target: Path, commit_name: str) -> bool:
    """Publish the local folder `staged` as the batch `target` on S3: every other file first,
    then `commit_name` by a conditional put, so readers (who look for `commit_name`) never see
    a half-written batch. False when another run committed the same batch first."""
    fs = s3_filesystem()
    files = sorted(p for p in staged.rglob("*") if p.is_file())
    commit: Path | None = staged / commit_name
    if commit in files:
        files.remove(commit)
    else:  # a batch without a data file (feedback only): its last file is the commit
        commit = files.pop() if files else None
    if commit is not None and (target / commit.relative_to(staged).as_posix()).exists():
        return False
    for path in files:
        fs.put_file(str(path), str(target / path.relative_to(staged).as_posix()))
    if commit is None:
        return True
    destination = target / commit.relative_to(staged).as_posix()
    if commit.stat().st_size <= CONDITIONAL_PUT_BYTES:
        return put_if_absent(destination, commit.read_bytes())
    # Large files go up as a multipart upload, which S3 shows only once it completes. Two runs of
    # one batch at once may both write it; a batch is named by its content, so either copy stands.
    fs.put_file(str(commit), str(destination))
    return True
