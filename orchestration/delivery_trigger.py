"""The event that a department finished a delivery: a `<file>.ready` marker in an inbox folder.

A department (or `kcdata submit`) writes the data file first and the empty marker last, so a
marker means the file beside it is complete. Airflow's own `DirectoryFileDeleteTrigger` matches
one exact file name; a delivery is any file, so this trigger matches the `.ready` suffix. When it
sees markers it renames each `X.ready` to `X.queued` (atomic, so it fires once per delivery and a
marker is never lost) and emits one event naming the files. One trigger watches the whole inbox
(`inbox/<table>/` for every resource): one poll, whatever the size of the catalog, where one
watcher per resource made the triggerer hold a thousand triggers. The chain's run lands every file with
a `.ready` or `.queued` marker and removes the marker when the file is archived; files without a
marker are never read. Events that Airflow folds together, or that were missed while the
triggerer was down, cost nothing: the run and the periodic reconciliation run look at the folder.

A poll reads only the folders that changed: adding, renaming or removing a file changes its
folder's modification time, so one `scandir` of the inbox tells which of a thousand folders to
list, where every poll listed all of them. A folder changed in the last second is listed again
whatever its time says: the file system's clock is coarse, and a marker written in the same tick
as the last look would not move it. (Polling four times a second instead of once was measured:
the marker -> run-queued time did not shorten, 1.1 s against 0.7 s median over 5 deliveries, so
the wait is not the poll's; it stays at once a second.)
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

READY = ".ready"
QUEUED = ".queued"
POKE_INTERVAL_S = 1.0  # between two looks at the inbox
RECENT_NS = 1_000_000_000  # a folder changed this recently is listed again, whatever its time says


def take_markers(directory: str) -> list[str]:
    """Rename every `X.ready` in `directory` to `X.queued`; the names X of the deliveries taken."""
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    taken = []
    for name in names:
        if not name.endswith(READY) or name.startswith("."):
            continue
        try:
            os.replace(os.path.join(directory, name), os.path.join(directory, name[: -len(READY)] + QUEUED))
        except FileNotFoundError:
            continue  # taken by a run meanwhile
        taken.append(name[: -len(READY)])
    return taken


def take_all_markers(root: str, seen: dict[str, int] | None = None) -> list[str]:
    """`take_markers` in every folder directly under `root` (the inbox): `<table>/<name>` of each
    delivery taken. With `seen` (folder -> modification time at the last look, kept by the caller
    and updated here), only the folders changed since, or changed in the last second, are listed."""
    try:
        entries = sorted((e for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")),
                         key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    now = time.time_ns()
    taken = []
    for entry in entries:
        if seen is not None:
            try:
                changed = entry.stat(follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                continue
            if seen.get(entry.name) == changed and now - changed > RECENT_NS:
                continue
            seen[entry.name] = changed
        taken += [f"{entry.name}/{name}" for name in take_markers(entry.path)]
    return taken


class DeliveryMarkerTrigger(BaseEventTrigger):
    """Fires when `<root>/<table>/*.ready` markers appear; consumes them (renamed to `.queued`)."""

    def __init__(self, *, root: str, poke_interval: float = POKE_INTERVAL_S) -> None:
        super().__init__()
        self.root = root
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("orchestration.delivery_trigger.DeliveryMarkerTrigger", {"root": self.root, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        seen: dict[str, int] = {}  # a new trigger lists every folder once
        while True:
            taken = await asyncio.to_thread(take_all_markers, self.root, seen)
            if taken:
                self.log.info("deliveries complete in %s: %s", self.root, ", ".join(taken))
                yield TriggerEvent({"root": self.root, "files": taken})
                return
            await asyncio.sleep(self.poke_interval)
