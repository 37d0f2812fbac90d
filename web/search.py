"""Faceted search over the catalog, in memory: pure functions over plain records.

Why in memory: the catalog has hundreds to a few thousand resources, so one index held by the
web process answers a faceted search in well under a millisecond, with no search server to run.

How: every facet value keeps a bit set (a Python int) of the records that carry it. A search is
then a few AND/OR operations on ints: the text match gives one set, each facet's selected values
OR together, the facets AND together. A facet's counts are taken against the text match and every
*other* facet's selection (the usual "disjunctive" facets), so a count says how many results
ticking that value would add — and counts change as the selection does.

Text matching is a substring test on lower-cased text (names zh/en, code, summary, item names
and codes, keywords): Chinese needs no word splitting for `空气` to be found inside
`空气质量监测站小时数据`, and English is case-insensitive. Several words must all match.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

PAGE_SIZE = 50


@dataclass(frozen=True)
class FacetSpec:
    """One facet: its query-string key, bilingual label, and the labels of its values."""

    key: str
    label_zh: str
    label_en: str
    value_labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # value -> (zh, en)
    order: Sequence[str] = ()  # preferred value order; others follow by count


@dataclass(frozen=True)
class SearchRecord:
    """What the index needs of one resource (plain data, built by web.catalog_state)."""

    code: str
    name: str
    name_en: str
    summary: str = ""
    department: str = ""  # display name (zh)
    department_en: str = ""
    item_text: str = ""  # item names and codes, space separated
    keywords: str = ""
    facets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # facet key -> values
    badges: tuple[tuple[str, str], ...] = ()  # (css class, text) shown on the result


@dataclass(frozen=True)
class FacetValue:
    value: str
    label_zh: str
    label_en: str
    count: int
    selected: bool


@dataclass(frozen=True)
class FacetResult:
    spec: FacetSpec
    values: list[FacetValue]


@dataclass(frozen=True)
class SearchResult:
    query: str
    selection: dict[str, tuple[str, ...]]
    total: int
    page: int
    pages: int
    hits: list[SearchRecord]
    facets: list[FacetResult]


class SearchIndex:
    """Records plus, per facet value, the bit set of records that have it."""

    def __init__(self, records: Iterable[SearchRecord], specs: Sequence[FacetSpec]) -> None:
        self.records: list[SearchRecord] = list(records)
        self.specs = list(specs)
        self.all_bits = (1 << len(self.records)) - 1
        self._text: list[tuple[str, str, str]] = []  # (title text, summary text, item text), lower-cased
        self._bits: dict[str, dict[str, int]] = {s.key: {} for s in self.specs}
        for position, record in enumerate(self.records):
            self._text.append(_texts(record))
            for spec in self.specs:
                values = self._bits[spec.key]
                for value in record.facets.get(spec.key, ()):
                    values[value] = values.get(value, 0) | (1 << position)

    def __len__(self) -> int:
        return len(self.records)

    def text_bits(self, query: str) -> tuple[int, dict[int, int]]:
        """The records matching every word of `query`, and a relevance score per matching record."""
        words = query_words(query)
        if not words:
            return self.all_bits, {}
        bits, scores = 0, {}
        for position, (title, summary, items) in enumerate(self._text):
            score = 0
            for word in words:
                if word in title:
                    score += 3
                elif word in summary:
                    score += 2
                elif word in items:
                    score += 1
                else:
                    break
            else:
                bits |= 1 << position
                scores[position] = score
        return bits, scores

    def facet_bits(self, key: str, selected: Iterable[str]) -> int:
        """Records having any of the selected values of one facet (OR within a facet)."""
        values = self._bits.get(key, {})
        bits = 0
        for value in selected:
            bits |= values.get(value, 0)
        return bits


def _texts(record: SearchRecord) -> tuple[str, str, str]:
    title = " ".join((record.code, record.name, record.name_en, record.keywords)).casefold()
    summary = " ".join((record.summary, record.department, record.department_en)).casefold()
    return title, summary, record.item_text.casefold()


def query_words(query: str) -> list[str]:
    """The words of a query, case-folded; blank queries have none."""
    return [w for w in query.casefold().split() if w]


def clean_selection(index: SearchIndex, selection: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Only known facets, each value once, in the order given (unknown values are kept: they
    simply match nothing, so a shared URL still shows what it asked for)."""
    known = {s.key for s in index.specs}
    cleaned: dict[str, tuple[str, ...]] = {}
    for key, values in selection.items():
        if key in known:
            kept = tuple(dict.fromkeys(v for v in values if v))
            if kept:
                cleaned[key] = kept
    return cleaned


def search(index: SearchIndex, query: str = "", selection: Mapping[str, Iterable[str]] | None = None,
           page: int = 1, page_size: int = PAGE_SIZE) -> SearchResult:
    """Text match AND every facet's selection (OR within a facet), with facet counts and one page."""
    chosen = clean_selection(index, selection or {})
    text_bits, scores = index.text_bits(query)
    per_facet = {key: index.facet_bits(key, values) for key, values in chosen.items()}
    result_bits = text_bits
    for bits in per_facet.values():
        result_bits &= bits
    positions = _positions(result_bits)
    if scores:
        positions.sort(key=lambda p: (-scores.get(p, 0), index.records[p].code))
    else:
        positions.sort(key=lambda p: index.records[p].code)
    total = len(positions)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    hits = [index.records[p] for p in positions[start:start + page_size]]
    facets = [_facet_counts(index, spec, text_bits, per_facet, chosen.get(spec.key, ())) for spec in index.specs]
    return SearchResult(query=query, selection=chosen, total=total, page=page, pages=pages, hits=hits, facets=facets)


def _facet_counts(index: SearchIndex, spec: FacetSpec, text_bits: int, per_facet: Mapping[str, int],
                  selected: Sequence[str]) -> FacetResult:
    """Counts of one facet's values among the records the query and the *other* facets allow."""
    base = text_bits
    for key, bits in per_facet.items():
        if key != spec.key:
            base &= bits
    values = []
    for value, bits in index._bits.get(spec.key, {}).items():
        label_zh, label_en = spec.value_labels.get(value, (value, ""))
        values.append(FacetValue(value, label_zh, label_en, (bits & base).bit_count(), value in selected))
    known = {v.value for v in values}
    for value in selected:  # a selected value no record has still shows, to be removable
        if value not in known:
            label_zh, label_en = spec.value_labels.get(value, (value, ""))
            values.append(FacetValue(value, label_zh, label_en, 0, True))
    rank = {v: i for i, v in enumerate(spec.order)}
    values.sort(key=lambda v: (rank.get(v.value, len(rank)), -v.count, v.value))
    return FacetResult(spec, values)


def _positions(bits: int) -> list[int]:
    """The positions of the set bits of `bits`, ascending."""
    positions = []
    while bits:
        low = bits & -bits
        positions.append(low.bit_length() - 1)
        bits ^= low
    return positions
