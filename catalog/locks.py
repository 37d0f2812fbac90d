"""Locks that die with their holder, so a crashed run never leaves work blocked.

The scheduler, the CLI and several workers may act on the same resource at once; whoever holds a
resource's lock is the only one landing, validating or recording it. The lock lives where the
catalog store lives:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own. The
  server releases it when that connection closes, also when the process is killed.
- SQLite: `fcntl.flock` on a lock file in a folder beside the database (`catalog.db.locks/`).
  The kernel releases it when the process dies; a leftover file holds nothing.
- Any other store: the same file locks in the machine's temporary folder (one host only).

Waiting is bounded (`KCDATA_LOCK_TIMEOUT` seconds, 900 by default); a run that gives up says
which lock it waited for and, when it can tell, who holds it. A lock is re-entrant within one
thread, so a step that takes it can call another step that takes it too.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from common.errors import KcdataError
from common.settings import read_settings

_NAMESPACE = zlib.crc32(b"kcdata") & 0x7FFFFFFF  # first key of our PostgreSQL advisory locks
_held = threading.local()  # lock key -> depth, per thread: what this thread holds already


class LockTimeout(KcdataError):
    """Another run held the lock for longer than we were willing to wait."""

    retryable = True


def default_timeout() -> float:
    """Seconds to wait for a lock: KCDATA_LOCK_TIMEOUT (900 by default: long enough for a 10M-row
    validation ahead of us, short enough to notice)."""
    return read_settings().lock_timeout


def holder_text() -> str:
    """Who we are, as a waiting run will read it: pid, host, command, since when."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:120] if sys.argv and sys.argv[0] else "python"
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()} ({command}), since {since}"


@contextmanager
def store_lock(engine: Engine, name: str, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock `name` of the store behind `engine` (see the module's docstring)."""
    timeout = default_timeout() if timeout is None else timeout
    if engine.dialect.name == "postgresql":
        key = f"pg:{engine.url.render_as_string(hide_password=True)}:{name}"
        with _reentrant(key, _advisory_lock(engine, name, what, timeout)):
            yield
    else:
        with file_lock(lock_dir(engine) / f"{_file_name(name)}.lock", what, timeout):
            yield


def lock_dir(engine: Engine) -> Path:
    """Where the lock files of a file-backed store live: beside the SQLite database."""
    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        db = Path(database).resolve()
        return db.with_name(db.name + ".locks")
    # in-memory SQLite or another server: one folder per store in the machine's temporary folder
    digest = hashlib.sha256(engine.url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "kcdata-locks" / digest


def _file_name(name: str) -> str:
    """A safe file name for a lock name (resource codes are safe already)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return safe if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@contextmanager
def _reentrant(key: str, lock: AbstractContextManager[None]) -> Iterator[None]:
    """Take `lock` unless this thread holds `key` already (then only count the nesting)."""
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    with lock:
        depth[key] = 1
        try:
            yield
        finally:
            depth.pop(key, None)


def _pause(delay: float, deadline: float) -> float:
    """Sleep a little (backing off to 1 s, never past the deadline); the next delay."""
    time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
    return min(delay * 2, 1.0)


def _busy(what: str, timeout: float, holder: str | None) -> LockTimeout:
    who = f"held by {holder}" if holder else "held by another run"
    return LockTimeout(
        f"{what} is busy: {who}; gave up after waiting {timeout:g} s. Try again when that run has "
        "finished (KCDATA_LOCK_TIMEOUT sets how long to wait)."
    )


@contextmanager
def file_lock(path: Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """An exclusive `fcntl.flock` on `path`, waited for at most `timeout` seconds (re-entrant
    in a thread). `what` names the lock in the message of a run that gives up waiting."""
    timeout = default_timeout() if timeout is None else timeout
    path = path.resolve()
    with _reentrant(f"file:{path}", _flock(path, what, timeout)):
        yield


@contextmanager
def _flock(path: Path, what: str, timeout: float) -> Iterator[None]:
    """Take the flock; the holder writes who it is into the file for waiting runs to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline, delay = time.monotonic() + timeout, 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(what, timeout, _read_holder(path)) from None
                delay = _pause(delay, deadline)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (holder_text() + "\n").encode("utf-8"), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or None
    except OSError:
        return None


@contextmanager
def _advisory_lock(engine: Engine, name: str, what: str, timeout: float) -> Iterator[None]:
    """A PostgreSQL session advisory lock on a connection of its own (never a pooled one, so the
    lock cannot outlive this block in a pool); the connection's application_name says who we are."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    key = zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF
    params = {"a": _NAMESPACE, "b": key}
    own = create_engine(engine.url, poolclass=NullPool)
    try:
        with own.connect() as conn:
            conn.execute(text("SELECT set_config('application_name', :who, false)"),
                         {"who": f"kcdata pid {os.getpid()}@{socket.gethostname()}"[:63]})
            conn.commit()
            deadline, delay = time.monotonic() + timeout, 0.05
            while not conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), params).scalar():
                conn.commit()
                if time.monotonic() >= deadline:
                    raise _busy(what, timeout, _pg_holder(conn, params))
                delay = _pause(delay, deadline)
            conn.commit()
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), params)
                    conn.commit()
                except Exception:  # noqa: BLE001 - closing the session below releases it anyway
                    conn.invalidate()
    finally:
        own.dispose()


def _pg_holder(conn: Connection, params: dict[str, int]) -> str | None:
    """Who holds an advisory lock, from pg_locks and pg_stat_activity (None if it cannot tell)."""
    try:
        row = conn.execute(
            text(
                """SELECT a.application_name, a.pid, a.client_addr, a.backend_start
                   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                     AND l.classid::bigint = :a AND l.objid::bigint = :b
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
            ),
            params,
        ).first()
        conn.commit()
    except Exception:  # noqa: BLE001 - the message is a courtesy; the timeout is what matters
        conn.rollback()
        return None
    if row is None:
        return None
    name, pid, addr, since = row
    where = f" from {addr}" if addr else ""
    started = f", connected since {since:%Y-%m-%d %H:%M:%S%z}" if since else ""
    return f"{name or 'a session'} (server pid {pid}{where}{started})"
