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
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

READY = ".ready"
QUEUED = ".queued"


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


def take_all_markers(root: str) -> list[str]:
    """`take_markers` in every folder directly under `root` (the inbox): `<table>/<name>` of each
    delivery taken."""
    try:
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [f"{folder}/{name}" for folder in folders for name in take_markers(os.path.join(root, folder))]


class DeliveryMarkerTrigger(BaseEventTrigger):
    """Fires when `<root>/<table>/*.ready` markers appear; consumes them (renamed to `.queued`)."""

    def __init__(self, *, root: str, poke_interval: float = 1.0) -> None:
        super().__init__()
        self.root = root
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("orchestration.delivery_trigger.DeliveryMarkerTrigger", {"root": self.root, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            taken = await asyncio.to_thread(take_all_markers, self.root)
            if taken:
                self.log.info("deliveries complete in %s: %s", self.root, ", ".join(taken))
                yield TriggerEvent({"root": self.root, "files": taken})
                return
            await asyncio.sleep(self.poke_interval)
