"""Safe inboxes: what in `inbox/<table>/` may be read, what is refused unread, where processed files go.

Departments drop files into `inbox/<table>/`. Only regular files directly in that folder, with a
known suffix, are deliveries. Symbolic links (wherever they point, even nowhere), devices, FIFOs
and sockets are refused *without being followed or opened*: every decision is made from
`os.lstat`, never from `is_file()`, which follows links (a link to a file elsewhere on the
machine was once ingested that way) and would block forever opening a FIFO. Names starting with
`.` are ours (`.archive/`, `.manifests/`) or partial uploads, and sub-directories are not
deliveries: both are skipped silently.

A department marks a delivery complete by writing an empty `<file>.ready` marker after the file
(`kcdata submit` does both). The running system lands only marked files (`marked_only=True`): a
file still being copied has no marker yet, so it is never read. The trigger that reports markers
to Airflow renames `.ready` to `.queued`; either counts. Marker files are never deliveries; a
marker is removed when its file is archived.

Once processed (landed or refused), a delivery is moved to
`inbox/<table>/.archive/<first 16 hex of its SHA-256, or "refused">/<name>`; a file is deleted
from the inbox only when an identical copy is already archived.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from catalog.model import Resource
from common.errors import KcdataError
from common.problems import Refusal
from common.settings import Paths, get_paths
from connectors.delivered_file import check_delivery, entry_kind, suffix_refusal

ARCHIVE_DIR = ".archive"
READY_SUFFIX = ".ready"
QUEUED_SUFFIX = ".queued"
MARKER_SUFFIXES = (READY_SUFFIX, QUEUED_SUFFIX)
REFUSED_BUCKET = "refused"
_FINGERPRINT = re.compile(r"[0-9a-f]{16,64}")
_CHUNK = 1 << 20


@dataclass
class InboxScan:
    """One look at an inbox folder: the files to land (sorted by name) and the entries refused unread."""

    deliveries: list[Path] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def _inbox_folder(resource: Resource, paths: Paths) -> Path:
    table = resource.table
    if not table or table.startswith(".") or "/" in table or os.sep in table:
        raise KcdataError(f"{resource.code}: table name {table!r} cannot name an inbox folder")
    return Path(os.path.abspath(paths.inbox / table))


def _scan_entry(path: Path, real_folder: str) -> Path | Refusal | None:
    """One entry of the folder: a delivery, a refusal, or None (ignored, or gone meanwhile)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:  # renamed or removed since the listing: not ours to report
        return None
    if stat.S_ISDIR(mode):
        return None
    kind = entry_kind(mode)
    if kind is not None:
        return Refusal(str(path), "not-a-regular-file", detail=kind)
    if os.path.dirname(os.path.realpath(path)) != real_folder:
        return Refusal(str(path), "not-a-regular-file", detail="outside the inbox folder")
    return suffix_refusal(path) or path


def marked(path: Path) -> bool:
    """A complete delivery: its `.ready` (or, once Airflow saw it, `.queued`) marker exists."""
    return any(os.path.lexists(f"{path}{suffix}") for suffix in MARKER_SUFFIXES)


def marked_tables(paths: Paths | None = None) -> set[str]:
    """The inbox folders (tables) holding at least one marked delivery: what a run started by a
    marker event has to land. One directory listing per folder, no file opened."""
    root = (paths or get_paths()).inbox
    try:
        folders = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return set()
    found = set()
    for folder in folders:
        try:
            names = os.listdir(folder.path)
        except OSError:
            continue
        if any(n.endswith(MARKER_SUFFIXES) and not n.startswith(".") for n in names):
            found.add(folder.name)
    return found


def remove_markers(path: Path) -> None:
    for suffix in MARKER_SUFFIXES:
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def scan_inbox(resource: Resource, paths: Paths | None = None, marked_only: bool = False) -> InboxScan:
    """The deliveries waiting in `inbox/<table>/` and the entries refused there, without reading any file.

    Only the folder's direct entries are looked at; a missing folder is an empty scan. Marker files
    are never deliveries; with `marked_only`, entries without a marker are left alone (still
    being copied, or not yet submitted)."""
    folder = _inbox_folder(resource, paths or get_paths())
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return InboxScan()
    real_folder = os.path.realpath(folder)
    scan = InboxScan()
    for name in names:
        if name.startswith(".") or name.endswith(MARKER_SUFFIXES):
            continue
        if marked_only and not marked(folder / name):
            continue
        outcome = _scan_entry(folder / name, real_folder)
        if isinstance(outcome, Refusal):
            scan.refused.append(outcome)
        elif outcome is not None:
            scan.deliveries.append(outcome)
    return scan


def _open_regular(path: Path) -> int:
    """A read descriptor on `path` if it is a regular file: links are not followed, FIFOs do not block."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path}: not a regular file")
    return fd


def _same_bytes(a: Path, b: Path) -> bool:
    """Whether two regular files hold the same bytes; anything that is not a regular file differs."""
    try:
        fa = open(_open_regular(a), "rb")
    except OSError:
        return False
    with fa:
        try:
            fb = open(_open_regular(b), "rb")
        except OSError:
            return False
        with fb:
            if os.fstat(fa.fileno()).st_size != os.fstat(fb.fileno()).st_size:
                return False
            while True:
                block = fa.read(_CHUNK)
                if block != fb.read(_CHUNK):
                    return False
                if not block:
                    return True


def _in_inbox(path: Path, inbox: Path) -> bool:
    """Whether `path` sits directly in a table folder of the inbox (`<inbox>/<table>/<name>`)."""
    table = path.parent
    if table.name.startswith(".") or path.name.startswith("."):
        return False
    if table.parent == Path(os.path.abspath(inbox)):
        return True
    return Path(os.path.realpath(table)).parent == Path(os.path.realpath(inbox))


def _archive_folder(table_folder: Path, bucket: str) -> Path:
    """`<table>/.archive/<bucket>/`, created; a link or a file in its place is a tampered inbox."""
    folder = table_folder
    for part in (ARCHIVE_DIR, bucket):
        folder = folder / part
        try:
            folder.mkdir()
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                raise KcdataError(f"{folder}: not a directory (a link?); archive by hand and remove it") from None
    return folder


def _bucket(fingerprint: str | None) -> str:
    if fingerprint is None:
        return REFUSED_BUCKET
    fp = fingerprint.lower()
    if not _FINGERPRINT.fullmatch(fp):
        raise KcdataError(f"{fingerprint!r} is not a SHA-256 fingerprint")
    return fp[:16]


def archive_delivery(path: Path, fingerprint: str | None, paths: Paths | None = None) -> Path | None:
    """Move a processed delivery to `<inbox>/<table>/.archive/<fp16 or 'refused'>/<name>`; return where it went.

    A same-named archived file with the same bytes means the delivery is already archived: the inbox
    copy is removed. Different bytes: the new one becomes `name (2).ext`, `name (3).ext`... Returns
    None, moving nothing, for a symlink or anything not a regular file, a missing file, or a file
    outside the inbox (an explicit `kcdata ingest CODE FILE`)."""
    path = Path(os.path.abspath(path))
    bucket = _bucket(fingerprint)
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not _in_inbox(path, (paths or get_paths()).inbox):
        return None
    if not stat.S_ISREG(mode):
        remove_markers(path)  # refused unread (a link, a FIFO...): its marker is spent too
        return None
    folder = _archive_folder(path.parent, bucket)
    stem, suffix = path.stem, path.suffix
    target, n = folder / path.name, 1
    while os.path.lexists(target):
        if _same_bytes(path, target):
            os.unlink(path)
            remove_markers(path)
            return target
        n += 1
        target = folder / f"{stem} ({n}){suffix}"
    os.replace(path, target)
    remove_markers(path)
    return target


def submit_delivery(resource: Resource, source: Path, paths: Paths | None = None) -> Path:
    """Deliver `source` as a department would: copy it into `inbox/<table>/` under a hidden temporary
    name, rename it into place, then write its `.ready` marker (the event the running system waits
    for). A waiting delivery of the same name is never overwritten: the copy becomes `name (2).ext`.
    Returns the delivered path; raises `Refusal` for what the inbox would refuse anyway."""
    import shutil

    source = check_delivery(source)
    folder = _inbox_folder(resource, paths or get_paths())
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = source.stem, source.suffix
    target, n = folder / source.name, 1
    while os.path.lexists(target) or marked(target):
        n += 1
        target = folder / f"{stem} ({n}){suffix}"
    part = folder / f".{target.name}.{os.getpid()}.part"
    try:
        shutil.copyfile(source, part, follow_symlinks=False)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    marker_part = folder / f".{target.name}{READY_SUFFIX}.{os.getpid()}.part"
    marker_part.touch()
    os.replace(marker_part, f"{target}{READY_SUFFIX}")
    return target
