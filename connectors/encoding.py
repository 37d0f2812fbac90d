"""Detect the text encoding departments really use: UTF-8, UTF-8 with BOM, or GB18030/GBK."""
from __future__ import annotations

from pathlib import Path

from charset_normalizer import from_bytes

_SAMPLE_BYTES = 4 * 1024 * 1024

# GB2312 and GBK are subsets of GB18030; decoding with the superset never loses a character.
_CHINESE_LEGACY = {"gb2312", "gbk", "gb18030", "hz", "big5"}


def detect_encoding(path: Path) -> str:
    """Return a Python codec name for `path`.

    A BOM wins; then strict UTF-8 over a large sample (cut back to a character boundary);
    otherwise charset-normalizer's guess, widened to GB18030 for the GB family.
    """
    with path.open("rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        _decode_prefix(head, "utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        _decode_prefix(head, "gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        pass
    mostly = _mostly(head)
    if mostly is not None:
        return mostly  # a few lines are broken: the reader sets exactly those rows aside
    best = from_bytes(head).best()
    if best is None:
        raise UnicodeError(f"{path}: cannot tell the text encoding (not UTF-8, not GB18030)")
    return "gb18030" if best.encoding.lower() in _CHINESE_LEGACY else best.encoding


def _mostly(head: bytes, tolerance: float = 0.05) -> str | None:
    """UTF-8 or GB18030 when all but a few lines of the sample decode in it (a character cut in
    half, a row pasted from another editor), else None."""
    lines = [line for line in head.splitlines()[:-1] if line.strip()] or head.splitlines()
    if not lines:
        return None
    for codec in ("utf-8", "gb18030"):
        failing = 0
        for line in lines:
            try:
                line.decode(codec)
            except UnicodeDecodeError:
                failing += 1
        if failing <= max(1, tolerance * len(lines)) and failing < len(lines):
            return codec
    return None


def _decode_prefix(data: bytes, codec: str) -> None:
    """Decode `data`, forgiving only a multi-byte character cut at the sample's end."""
    for cut in range(0, 4):
        try:
            data[: len(data) - cut].decode(codec)
            return
        except UnicodeDecodeError as exc:
            if exc.start < len(data) - 4 or cut == 3:
                raise
