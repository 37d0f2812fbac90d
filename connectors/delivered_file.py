"""What counts as a delivered file, decided before any byte is read: a regular file (never followed
through a link, never a device or FIFO) with a suffix we can read. The inbox scan and landing both
ask here, so neither needs the other."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from catalog.model import SourceFormat
from common.problems import Refusal

SUFFIXES = {
    ".csv": SourceFormat.csv, ".xlsx": SourceFormat.xlsx, ".xls": SourceFormat.xlsx,  # .xls: Excel 97-2003, read as a spreadsheet
    ".json": SourceFormat.json, ".jsonl": SourceFormat.json,
}


def entry_kind(mode: int) -> str | None:
    """None for a regular file, else what the entry is (the `detail` of a not-a-regular-file refusal)."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((label for test, label in kinds if test(mode)), "not a regular file")


def suffix_refusal(path: Path) -> Refusal | None:
    """The refusal of a file whose suffix we do not read; None for a known suffix."""
    suffix = path.suffix
    if suffix.lower() in SUFFIXES:
        return None
    return Refusal(str(path), "unsupported-file-type", suffix=suffix or "(none)")


def check_delivery(path: Path) -> Path:
    """An explicitly named file (`kcdata ingest CODE FILE`), checked like an inbox entry; anywhere on disk.

    Returns the absolute path (links in the folders above are not resolved); raises `Refusal`."""
    path = Path(os.path.abspath(path))
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise Refusal(str(path), "not-a-regular-file", detail="no such file") from None
    except OSError as exc:
        raise Refusal(str(path), "not-a-regular-file", detail=exc.strerror or str(exc)) from None
    kind = entry_kind(mode)
    if kind is not None:
        raise Refusal(str(path), "not-a-regular-file", detail=kind)
    refusal = suffix_refusal(path)
    if refusal is not None:
        raise refusal
    return path
