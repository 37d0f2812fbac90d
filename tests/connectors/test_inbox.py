"""Safe inboxes: links, FIFOs, sockets and devices are refused unread; odd names are fine; archiving loses nothing."""
from __future__ import annotations

import builtins
import hashlib
import io
import os
import socket
import threading
from pathlib import Path

import pytest

from catalog.entries import get_resource
from common.errors import KcdataError
from common.problems import Refusal
from connectors.delivered_file import check_delivery
from connectors.inbox import InboxScan, archive_delivery, scan_inbox

ENTERPRISES = get_resource("KC-SCJG-001")


@pytest.fixture
def box(lake) -> Path:
    """The enterprises' inbox folder, created."""
    folder = lake.inbox / ENTERPRISES.table
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file elsewhere on the machine, which must never be read through the inbox."""
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("password\nhunter2\n")
    return secret


def _write(path: Path, text: str = "a,b\n1,2\n") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _refused(scan: InboxScan) -> dict[str, tuple[str, dict]]:
    return {Path(r.source).name: (r.code, r.params) for r in scan.refused}


def _fp(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scan_with_timeout(seconds: float = 5.0) -> InboxScan:
    """Scan in a thread: a scan that opens a FIFO would block forever, this fails instead."""
    result: list[InboxScan] = []
    worker = threading.Thread(target=lambda: result.append(scan_inbox(ENTERPRISES)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "scan_inbox blocked (did it open a FIFO?)"
    return result[0]


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Every path opened (builtins.open, io.open, os.open) from now on."""
    seen: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        if not isinstance(file, int):
            seen.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    def spy_os_open(file, *args, **kwargs):
        seen.append(os.fspath(file))
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    return seen


# --- scanning ---------------------------------------------------------------------------------


def test_symlink_to_a_file_outside_is_refused_and_never_read(box, outside, opened):
    (box / "innocent.csv").symlink_to(outside)
    scan = scan_inbox(ENTERPRISES)
    assert scan.deliveries == []
    assert _refused(scan) == {"innocent.csv": ("not-a-regular-file", {"detail": "a symbolic link"})}
    assert not any(str(outside) in p or "innocent" in p for p in opened)


def test_symlink_inside_the_inbox_and_dangling_symlink_are_refused(box):
    real = _write(box / "real.csv")
    (box / "alias.csv").symlink_to(real)
    (box / "relative.csv").symlink_to("real.csv")
    (box / "dangling.csv").symlink_to(box / "gone.csv")
    (box / "dir-link").symlink_to(box.parent)
    scan = scan_inbox(ENTERPRISES)
    assert scan.deliveries == [real]
    refused = _refused(scan)
    assert set(refused) == {"alias.csv", "relative.csv", "dangling.csv", "dir-link"}
    assert all(v == ("not-a-regular-file", {"detail": "a symbolic link"}) for v in refused.values())
    assert all(isinstance(r, Refusal) for r in scan.refused)


def test_fifo_is_refused_without_blocking(box):
    os.mkfifo(box / "pipe.csv")
    good = _write(box / "good.csv")
    scan = _scan_with_timeout()
    assert scan.deliveries == [good]
    assert _refused(scan) == {"pipe.csv": ("not-a-regular-file", {"detail": "a named pipe (FIFO)"})}


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets")
def test_socket_is_refused(box):
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(box / "s.csv"))
        scan = scan_inbox(ENTERPRISES)
    finally:
        sock.close()
    assert scan.deliveries == []
    assert _refused(scan) == {"s.csv": ("not-a-regular-file", {"detail": "a socket"})}


def test_subdirectories_and_dot_names_are_ignored_silently(box):
    (box / "sub").mkdir()
    _write(box / "sub" / "nested.csv")
    (box / ".archive" / "refused").mkdir(parents=True)
    (box / ".manifests").mkdir()
    _write(box / ".upload-partial.csv")
    (box / ".hidden-link").symlink_to("/etc/passwd")
    assert scan_inbox(ENTERPRISES) == InboxScan()


def test_unknown_suffix_is_refused(box):
    _write(box / "notes.doc")
    _write(box / "README")
    _write(box / "data.csv.bak")
    scan = scan_inbox(ENTERPRISES)
    assert scan.deliveries == []
    assert _refused(scan) == {
        "notes.doc": ("unsupported-file-type", {"suffix": ".doc"}),
        "README": ("unsupported-file-type", {"suffix": "(none)"}),
        "data.csv.bak": ("unsupported-file-type", {"suffix": ".bak"}),
    }


def test_odd_but_legal_names_are_ordinary_deliveries_sorted_by_name(box):
    names = ["企业名录 2024.csv", "a..b.csv", "-x.csv", "with space.xlsx", "UPPER.CSV", "z.jsonl", "b.json", "semi;colon'q.csv"]
    for name in names:
        _write(box / name)
    scan = scan_inbox(ENTERPRISES)
    assert scan.refused == []
    assert [p.name for p in scan.deliveries] == sorted(names)
    assert all(p.is_absolute() and p.parent == box for p in scan.deliveries)


def test_missing_inbox_folder_is_an_empty_scan(lake):
    assert scan_inbox(ENTERPRISES) == InboxScan()


def test_explicit_paths_argument(tmp_path):
    from common.settings import Paths

    folder = tmp_path / "other-inbox" / ENTERPRISES.table
    folder.mkdir(parents=True)
    f = _write(folder / "e.csv")
    assert scan_inbox(ENTERPRISES, Paths(lake=tmp_path / "lake", inbox=tmp_path / "other-inbox")).deliveries == [f]


def test_entry_resolving_outside_the_folder_is_refused(box, outside, monkeypatch):
    # A bind mount or a `..` trick cannot be staged without privileges: make realpath say so.
    entry = _write(box / "mounted.csv")
    real_realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p, **kw: str(outside) if Path(p) == entry else real_realpath(p, **kw))
    scan = scan_inbox(ENTERPRISES)
    assert scan.deliveries == []
    assert _refused(scan) == {"mounted.csv": ("not-a-regular-file", {"detail": "outside the inbox folder"})}


# --- one explicit file -------------------------------------------------------------------------


def test_check_delivery_accepts_a_regular_file_anywhere(tmp_path, monkeypatch):
    (tmp_path / "anywhere").mkdir()
    f = _write(tmp_path / "anywhere" / "e.csv")
    assert check_delivery(f) == f
    monkeypatch.chdir(tmp_path)
    assert check_delivery(Path("anywhere/e.csv")) == f  # made absolute


def test_check_delivery_does_not_resolve_links_in_parent_folders(tmp_path):
    (tmp_path / "real").mkdir()
    _write(tmp_path / "real" / "e.csv")
    (tmp_path / "via").symlink_to(tmp_path / "real")
    assert check_delivery(tmp_path / "via" / "e.csv") == tmp_path / "via" / "e.csv"


@pytest.mark.parametrize("kind", ["symlink", "dangling", "fifo", "directory", "missing", "device"])
def test_check_delivery_refuses_what_is_not_a_regular_file(tmp_path, outside, kind):
    target = tmp_path / "x.csv"
    details = {"symlink": "a symbolic link", "dangling": "a symbolic link", "fifo": "a named pipe (FIFO)",
               "directory": "a directory", "missing": "no such file", "device": "a character device"}
    if kind == "symlink":
        target.symlink_to(outside)
    elif kind == "dangling":
        target.symlink_to(tmp_path / "nowhere.csv")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "device":
        target = Path("/dev/null")
    with pytest.raises(Refusal) as caught:
        check_delivery(target)
    assert caught.value.code == "not-a-regular-file"
    assert caught.value.params == {"detail": details[kind]}
    assert caught.value.source == str(target)


def test_check_delivery_refuses_an_unknown_suffix(tmp_path):
    with pytest.raises(Refusal) as caught:
        check_delivery(_write(tmp_path / "e.txt"))
    assert caught.value.code == "unsupported-file-type" and caught.value.params == {"suffix": ".txt"}


# --- archiving ---------------------------------------------------------------------------------


def test_archive_moves_a_landed_delivery_under_its_fingerprint(box):
    f = _write(box / "企业 名录.csv")
    fp = _fp(f)
    archived = archive_delivery(f, fp)
    assert archived == box / ".archive" / fp[:16] / "企业 名录.csv"
    assert not f.exists() and archived.read_text(encoding="utf-8") == "a,b\n1,2\n"
    assert scan_inbox(ENTERPRISES) == InboxScan()  # the archive is not rescanned


def test_archive_puts_refused_files_under_refused(box):
    f = _write(box / "notes.doc")
    assert archive_delivery(f, None) == box / ".archive" / "refused" / "notes.doc"
    assert not f.exists()


def test_archive_identical_duplicate_removes_the_inbox_copy(box):
    first = _write(box / "e.csv")
    fp = _fp(first)
    archived = archive_delivery(first, fp)
    again = _write(box / "e.csv")
    assert archive_delivery(again, fp) == archived
    assert not again.exists()
    assert sorted(p.name for p in archived.parent.iterdir()) == ["e.csv"]


def test_archive_different_duplicates_are_numbered_and_nothing_is_lost(box):
    contents = ["a\n1\n", "a\n2\n", "a\n3\n"]
    archived = []
    for text in contents:
        f = _write(box / "a..b.csv", text)
        archived.append(archive_delivery(f, None))
        assert not f.exists()
    folder = box / ".archive" / "refused"
    assert archived == [folder / "a..b.csv", folder / "a..b (2).csv", folder / "a..b (3).csv"]
    assert [p.read_text() for p in archived] == contents
    # the same bytes as the second one again: recognised, not archived a fourth time
    f = _write(box / "a..b.csv", contents[1])
    assert archive_delivery(f, None) == folder / "a..b (2).csv"
    assert not f.exists() and len(list(folder.iterdir())) == 3


def test_archive_numbering_without_an_extension(box):
    _write(box / "README", "one")
    archive_delivery(box / "README", None)
    _write(box / "README", "two")
    assert archive_delivery(box / "README", None) == box / ".archive" / "refused" / "README (2)"


def test_archive_never_follows_or_moves_a_symlink(box, outside, opened):
    link = box / "innocent.csv"
    link.symlink_to(outside)
    assert archive_delivery(link, None) is None
    assert not any(str(outside) in p or "innocent" in p for p in opened)
    assert link.is_symlink() and outside.read_text() == "password\nhunter2\n"
    assert not (box / ".archive").exists()


def test_archive_leaves_fifos_alone_without_blocking(box):
    fifo = box / "pipe.csv"
    os.mkfifo(fifo)
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(archive_delivery(fifo, None)), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and result == [None]
    assert fifo.exists()


def test_archive_never_reads_through_a_symlink_in_the_archive(box, outside):
    # Someone planted a link where the archived copy would be: it is not compared, not overwritten.
    f = _write(box / "secret.csv", outside.read_text())
    folder = box / ".archive" / "refused"
    folder.mkdir(parents=True)
    (folder / "secret.csv").symlink_to(outside)
    assert archive_delivery(f, None) == folder / "secret (2).csv"
    assert (folder / "secret.csv").is_symlink() and outside.exists()


def test_archive_refuses_a_linked_archive_folder(box, tmp_path):
    elsewhere = tmp_path / "elsewhere-archive"
    elsewhere.mkdir()
    (box / ".archive").symlink_to(elsewhere)
    f = _write(box / "e.csv")
    with pytest.raises(KcdataError, match="not a directory"):
        archive_delivery(f, None)
    assert f.exists() and list(elsewhere.iterdir()) == []


def test_archive_leaves_files_outside_the_inbox_alone(lake, box, outside):
    assert archive_delivery(outside, _fp(outside)) is None
    assert outside.exists()
    nested = box / "sub" / "e.csv"
    nested.parent.mkdir()
    _write(nested)
    at_root = _write(lake.inbox / "e.csv")
    assert archive_delivery(nested, None) is None and archive_delivery(at_root, None) is None
    assert nested.exists() and at_root.exists()
    assert archive_delivery(box / "missing.csv", None) is None


def test_archive_rejects_a_fingerprint_that_is_not_one(box):
    f = _write(box / "e.csv")
    with pytest.raises(KcdataError):
        archive_delivery(f, "../../etc")
    assert f.exists()
