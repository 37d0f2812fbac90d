"""A cache of the loaded catalog between processes, because every DAG file loads the whole catalog
at every parse, in a process of its own: with 1,000 entries YAML and validation cost ~1.7 s a
file, the cache ~0.3 s.

The cache is the validated entries of one catalog folder, pickled into a private folder of the
user (mode 0700, files 0600: only a process of the same user can write what is unpickled here),
and used only while every file of the folder has the size and modification time it had when the
cache was written. Anything unusual (no cache folder, a stale or unreadable file) means: load
the YAML, as without a cache.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

T = TypeVar("T")
_RACY_NS = 2_000_000_000


def _folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kcdata" / "catalog"


def fingerprint(directory: Path) -> str | None:
    """Changes when any entry, departments.yaml or bureau.yaml is added, removed or edited, or
    when catalog/model.py (the classes the pickle holds) changes. None
    while a file was modified in the last 2 s: timestamps are coarse, and an edit of the same size
    within the same tick would go unseen (git's "racy clean" rule)."""
    digest = hashlib.sha256(str(directory.resolve()).encode())
    # the entries' classes too: a pickle made before a field was added would load without it
    model = Path(__file__).with_name("model.py").stat()
    digest.update(f"model.py|{model.st_size}|{model.st_mtime_ns}\n".encode())
    newest = 0
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*/*.yaml")]):
        st = path.stat()
        newest = max(newest, st.st_mtime_ns)
        digest.update(f"{path.relative_to(directory)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}\n".encode())
    return None if time.time_ns() - newest < _RACY_NS else digest.hexdigest()


def cached(directory: Path, load: Callable[[], T]) -> T:
    """`load()`'s result for this folder, from the cache while the folder is unchanged."""
    try:
        folder = _folder()
        key = fingerprint(directory)
        path = folder / f"{hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]}.pickle"
    except OSError:
        return load()
    if key is None:
        return load()
    try:
        if folder.stat().st_uid == os.getuid() and not folder.stat().st_mode & 0o077:
            with path.open("rb") as fh:
                stored_key, value = pickle.load(fh)  # noqa: S301 - our own private file, see above
            if stored_key == key:
                return cast(T, value)  # what `_store` pickled from `load()` under this key
    except (OSError, pickle.PickleError, EOFError, ValueError, TypeError, AttributeError, ImportError):
        pass
    value = load()
    _store(folder, path, key, value)
    return value


def _store(folder: Path, path: Path, key: str, value: object) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((key, value), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PickleError):
        pass  # no cache: the next load reads the YAML again
