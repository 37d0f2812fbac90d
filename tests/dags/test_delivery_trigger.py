"""The inbox watcher's poll: every marker is taken once, and a poll lists only the folders that
changed, so a look stays cheap over a catalog of thousands of resources."""
from __future__ import annotations

import os
import time

from orchestration.delivery_trigger import take_all_markers


def _deliver(folder, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("a,b\n1,2\n", encoding="utf-8")
    (folder / f"{name}.ready").touch()


def _age(folder, mtime_ns: int) -> None:
    os.utime(folder, ns=(mtime_ns, mtime_ns))


def test_every_marker_is_taken_once_from_whichever_folder_it_is_in(tmp_path):
    seen: dict[str, int] = {}
    for table in ("air", "roads", "clinics"):
        (tmp_path / table).mkdir()
    assert take_all_markers(str(tmp_path), seen) == []
    _deliver(tmp_path / "roads", "r1.csv")
    _deliver(tmp_path / "air", "a1.csv")
    assert take_all_markers(str(tmp_path), seen) == ["air/a1.csv", "roads/r1.csv"]
    assert take_all_markers(str(tmp_path), seen) == []
    assert (tmp_path / "air" / "a1.csv.queued").exists() and not (tmp_path / "air" / "a1.csv.ready").exists()
    _deliver(tmp_path / "new_table", "n1.csv")  # a folder made after the watcher started
    assert take_all_markers(str(tmp_path), seen) == ["new_table/n1.csv"]


def test_a_folder_is_listed_again_when_its_time_moves_or_is_too_recent_to_trust(tmp_path):
    seen: dict[str, int] = {}
    old = time.time_ns() - 10 * 1_000_000_000
    (tmp_path / "air").mkdir()
    _age(tmp_path / "air", old)
    assert take_all_markers(str(tmp_path), seen) == []
    # a marker whose folder time did not move (written in the clock tick of the last look) ...
    _deliver(tmp_path / "air", "a1.csv")
    _age(tmp_path / "air", old)
    assert take_all_markers(str(tmp_path), seen) == []  # an unchanged old folder is not listed
    # ... is taken when the time moves; and a folder changed under a second ago is always listed
    now = time.time_ns()
    _age(tmp_path / "air", now)
    assert take_all_markers(str(tmp_path), seen) == ["air/a1.csv"]
    _deliver(tmp_path / "air", "a2.csv")
    _age(tmp_path / "air", now)
    assert take_all_markers(str(tmp_path), seen) == ["air/a2.csv"]


def test_without_a_memory_every_folder_is_listed(tmp_path):
    _deliver(tmp_path / "air", "a1.csv")
    _age(tmp_path / "air", time.time_ns() - 10 * 1_000_000_000)
    assert take_all_markers(str(tmp_path)) == ["air/a1.csv"]
