"""The event that a department finished a delivery: a `<file>.ready` marker in its inbox folder.

A department (or `kcdata submit`) writes the data file first and the empty marker last, so a
marker means the file beside it is complete. Airflow's own `DirectoryFileDeleteTrigger` matches
one exact file name; a delivery is any file, so this trigger matches the `.ready` suffix. When it
sees markers it renames each `X.ready` to `X.queued` (atomic, so it fires once per delivery and a
marker is never lost) and emits one event naming the files. The ingest run lands every file with
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


class DeliveryMarkerTrigger(BaseEventTrigger):
    """Fires when `<directory>/*.ready` markers appear; consumes them (renamed to `.queued`)."""

    def __init__(self, *, directory: str, poke_interval: float = 1.0) -> None:
        super().__init__()
        self.directory = directory
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("orchestration.delivery_trigger.DeliveryMarkerTrigger",
                {"directory": self.directory, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            taken = await asyncio.to_thread(take_markers, self.directory)
            if taken:
                self.log.info("delivery complete in %s: %s", self.directory, ", ".join(taken))
                yield TriggerEvent({"directory": self.directory, "files": taken})
                return
            await asyncio.sleep(self.poke_interval)
