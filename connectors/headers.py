"""Map the Chinese headers departments write to the catalog's item codes."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from catalog.model import Resource
from common.errors import KcdataError


def normalise_header(text: str) -> str:
    """Fold the differences departments introduce by hand: width, case, spaces, BOM, brackets."""
    folded = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    return "".join(folded.split()).lower()


@dataclass
class HeaderMapping:
    """Which source column feeds which item, and what was left over."""

    columns: dict[int, str]  # source column index -> item code
    ignored: list[str] = field(default_factory=list)  # source headers no item claims
    absent: list[str] = field(default_factory=list)  # optional item codes missing from the file


def map_headers(resource: Resource, headers: list[str], source: str) -> HeaderMapping:
    """Match headers to items by name or alias; refuse files that lack a required item."""
    lookup: dict[str, str] = {}
    for item in resource.source_items:
        for label in (item.name, *item.aliases, item.code):
            lookup[normalise_header(label)] = item.code
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        code = lookup.get(normalise_header(header or ""))
        if code is None:
            ignored.append(str(header))
        elif code in columns.values():
            raise KcdataError(f"{source}: column {index + 1} ({header!r}) repeats item {code!r}")
        else:
            columns[index] = code
    found = set(columns.values())
    missing_required = [i for i in resource.source_items if i.required and i.code not in found]
    if missing_required:
        names = ", ".join(f"{i.name} ({i.code})" for i in missing_required)
        raise KcdataError(
            f"{source}: header row lacks required column(s) {names}; found headers: "
            + ", ".join(map(str, headers))
        )
    absent = [i.code for i in resource.source_items if i.code not in found]
    return HeaderMapping(columns=columns, ignored=ignored, absent=absent)
