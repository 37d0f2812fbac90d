"""Where pulls keep their files and state in the lake, and how a delivery file is written.

    <lake>/state/pull/<table>.json               the last committed pull (watermark, rows, when)
    <lake>/state/pull/<table>/<utc>.jsonl        delivery files, written under a temporary name first

A delivery file is one JSON object per line, keys sorted, compact separators, UTF-8: the same
records always give the same bytes, which is what change detection relies on.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from catalog.model import Resource
from common.atomic import write_bytes_atomic
from common.settings import Paths

log = logging.getLogger("kcdata.pull")

KEEP_FILES = 10  # newest delivery files kept per table after a commit (their content is in raw)


def pull_root(paths: Paths) -> Path:
    return paths.lake / "state" / "pull"


def state_file(paths: Paths, table: str) -> Path:
    return pull_root(paths) / f"{table}.json"


def files_dir(paths: Paths, table: str) -> Path:
    """Pulled delivery files, landed from local disk (on an S3 lake, the worker's work folder;
    only the pull state above, the watermark every worker needs, lives in the lake)."""
    return paths.local_state / "state" / "pull" / table


def canonical_line(record: dict[str, Any]) -> bytes:
    """One record as its canonical JSON line."""
    return (json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class Delivery:
    """A delivery file being written: lines go to a temporary name, `keep()` renames it into place."""

    def __init__(self, handle: IO[bytes], tmp: Path, target: Path) -> None:
        self._handle, self.tmp, self.target, self.rows = handle, tmp, target, 0

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(canonical_line(record))
        self.rows += 1

    def write_lines(self, lines: list[bytes]) -> None:
        self._handle.writelines(lines)
        self.rows += len(lines)


@contextmanager
def delivery(paths: Paths, table: str) -> Iterator[Delivery]:
    """Yield a `Delivery`; on success with rows it becomes `<utc>.jsonl`, otherwise it is removed.

    `Delivery.target` is only meaningful after the block: check `rows` (0 = nothing written)."""
    folder = files_dir(paths, table)
    folder.mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{stamp}.jsonl"
    tmp = folder / f".tmp-{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
    handle = open(tmp, "wb")
    out = Delivery(handle, tmp, target)
    try:
        yield out
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        if out.rows:
            os.replace(tmp, target)
        else:
            tmp.unlink()
    except BaseException:
        handle.close()
        tmp.unlink(missing_ok=True)
        raise


def _sweep(folder: Path) -> None:
    """Remove temporary files of crashed pulls."""
    for leftover in folder.glob(".tmp-*"):
        leftover.unlink(missing_ok=True)


def load_state(paths: Paths, table: str) -> dict[str, Any]:
    """The last committed pull of `table`, or {} before the first."""
    path = state_file(paths, table)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from connectors.pull import PullError

        raise PullError(f"{path}: pull state unreadable ({exc}); fix or remove it (removing it re-pulls everything)") from exc


def commit_state(resource: Resource, paths: Paths, result: Any) -> None:
    """Write the state of a landed pull atomically, then prune old delivery files."""
    state = {
        **result.state,
        "resource": resource.code,
        "source_uri": result.source_uri,
        "rows": result.rows,
        "pages": result.pages,
        "file": result.file.name if result.file else None,
        "committed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    data = json.dumps(state, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    write_bytes_atomic(state_file(paths, resource.table), data)
    _prune(files_dir(paths, resource.table))


def _prune(folder: Path) -> None:
    if not folder.is_dir():
        return
    files = sorted(folder.glob("*.jsonl"))
    for old in files[:-KEEP_FILES]:
        old.unlink(missing_ok=True)
