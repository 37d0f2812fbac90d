"""Map the headers departments write to the catalog's item codes, and report the drift."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from catalog.model import Resource
from common.problems import Refusal, excerpt

SHOWN_HEADERS = 10  # headers a refusal names; a file may have thousands


def normalise_header(text: str) -> str:
    """Fold the differences departments introduce by hand: width, case, spaces, BOM, brackets."""
    folded = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    return "".join(folded.split()).lower()


def header_labels(resource: Resource) -> dict[str, str]:
    """Normalised header label -> item code, for every name, alias and code of the sent items."""
    lookup: dict[str, str] = {}
    for item in resource.source_items:
        for label in (item.name, *item.aliases, item.code):
            lookup[normalise_header(label)] = item.code
    return lookup


@dataclass
class HeaderMapping:
    """Which source column feeds which item, and what drifted from the catalog entry."""

    columns: dict[int, str]  # source column index -> item code
    unknown: dict[int, str] = field(default_factory=dict)  # source column index -> header no item claims
    absent: list[str] = field(default_factory=list)  # optional item codes missing from the file

    @property
    def ignored(self) -> list[str]:
        return list(self.unknown.values())


def map_headers(resource: Resource, headers: list[str], source: str) -> HeaderMapping:
    """Match headers to items by name or alias; refuse files that lack a required item or name
    one item twice; keep the columns no item claims aside (they are reported, not dropped)."""
    lookup = header_labels(resource)
    columns: dict[int, str] = {}
    unknown: dict[int, str] = {}
    for index, header in enumerate(headers):
        code = lookup.get(normalise_header(header or ""))
        if code is None:
            unknown[index] = str(header or "")
        elif code in columns.values():
            raise Refusal(source, "duplicate-header", column=str(header), position=index + 1, header=excerpt(str(header)), item=code)
        else:
            columns[index] = code
    found = set(columns.values())
    missing_required = [i for i in resource.source_items if i.required and i.code not in found]
    if missing_required:
        names = [f"{i.name} ({i.code})" for i in missing_required]
        raise Refusal(source, "missing-required-column", column=missing_required[0].code, columns=names, headers=shown_headers(headers))
    absent = [i.code for i in resource.source_items if i.code not in found]
    return HeaderMapping(columns=columns, unknown=unknown, absent=absent)


def shown_headers(headers: list) -> list[str]:
    """The first SHOWN_HEADERS headers as a message quotes them (short, printable), and how many more."""
    shown = [excerpt(str(h or ""), 40) for h in headers[:SHOWN_HEADERS]]
    more = len(headers) - SHOWN_HEADERS
    return shown + [f"… (and {more:,} more)"] if more > 0 else shown
