"""Typed status of the system, as `kcdata status` shows it and the tests check it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ComponentStatus:
    """One service: is it answering, where, which version, which process and log."""

    name: str
    running: bool
    url: str
    version: str | None = None
    pid: int | None = None
    log: Path | None = None
    detail: str = ""
    state: str = ""  # supervisord's state of the process (RUNNING, STARTING, BACKOFF, FATAL...)
    port: int | None = None


@dataclass(frozen=True)
class StackStatus:
    """All services of the running system, in start order."""

    home: Path
    components: tuple[ComponentStatus, ...] = field(default_factory=tuple)

    @property
    def running(self) -> bool:
        return bool(self.components) and all(c.running for c in self.components)

    def __getitem__(self, name: str) -> ComponentStatus:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)
