"""Atomic, immutable writes into the lake: write beside the target, then rename.

On an S3 lake there is no rename: a batch is staged in a local folder and published by
`common.lake_store.upload_batch`, whose last step (the data file, by a conditional put) is the
commit. Readers look for that file, so they never see a half-written batch either way.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.lake_store import is_remote, upload_batch, work_dir

COMMIT_FILE = "data.parquet"  # the file whose presence makes a batch visible (common.lake.DATA_FILE)


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `target` in one rename when the block succeeds.

    Readers never see a half-written batch; a crash leaves only a `.tmp-*` folder, which
    the next run ignores and cleans up.
    """
    if is_remote(target):
        with _staged_remote(target) as tmp:
            yield tmp
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():  # another run finished the same batch first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _staged_remote(target: Path) -> Iterator[Path]:
    """Stage on local disk (under KCDATA_WORK), then publish to the bucket with the data file last."""
    scratch = work_dir(str(target).split("/", 3)[2]) / "staging"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".tmp-{target.name}-", dir=scratch) as tmp:
        yield Path(tmp)
        upload_batch(Path(tmp), target, COMMIT_FILE)


def sweep_stale_temps(folder: Path) -> None:
    """Remove `.tmp-*` leftovers of crashed runs under `folder` (an S3 lake stages locally and
    has none: an unfinished batch there lacks its data file, and is overwritten by the next run)."""
    if is_remote(folder):
        return
    if folder.exists():
        for leftover in folder.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one rename (one PUT on S3, which is atomic per object)."""
    if is_remote(path):
        path.write_bytes(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
