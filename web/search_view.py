"""What the search page shows, from the query string and a search result: the selected filters
(each with a link that removes it), facet links that add or remove one value, and paging links.

Every link is a plain URL (progressive enhancement: the page works without JavaScript)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from web.catalog_state import Snapshot
from web.search import SearchIndex, SearchResult, clean_selection

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class SearchParams:
    query: str
    selection: dict[str, tuple[str, ...]]
    page: int

    @classmethod
    def from_query(cls, params: QueryParams, index: SearchIndex) -> SearchParams:
        """Read ?q=, ?page= and facet keys (repeated for OR: ?grade=一般&grade=重要); junk is ignored."""
        query = (params.get("q") or "").strip()[:MAX_QUERY_LENGTH]
        try:
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            page = 1
        selection = clean_selection(index, {key: params.getlist(key) for key in params.keys()})
        return cls(query, selection, page)

    def url(self, selection: Mapping[str, tuple[str, ...]] | None = None, page: int = 1) -> str:
        """/search?… for this query with `selection` (default: the current one) and `page`."""
        chosen = self.selection if selection is None else selection
        pairs: list[tuple[str, str]] = []
        if self.query:
            pairs.append(("q", self.query))
        for key, values in chosen.items():
            pairs.extend((key, v) for v in values)
        if page > 1:
            pairs.append(("page", str(page)))
        return "/search" + (f"?{urlencode(pairs)}" if pairs else "")

    def toggled(self, key: str, value: str) -> str:
        """The URL with `value` of facet `key` added, or removed if it is selected (back to page 1)."""
        chosen = dict(self.selection)
        values = chosen.get(key, ())
        values = tuple(v for v in values if v != value) if value in values else (*values, value)
        if values:
            chosen[key] = values
        else:
            chosen.pop(key, None)
        return self.url(chosen)


def search_page(params: SearchParams, result: SearchResult, snapshot: Snapshot) -> dict:
    """The template context of the search page."""
    facets = []
    labels: dict[tuple[str, str], tuple[str, str]] = {}
    for facet in result.facets:
        values = [
            {"value": v.value, "label_zh": v.label_zh, "label_en": v.label_en, "count": v.count, "selected": v.selected,
             "url": params.toggled(facet.spec.key, v.value)}
            for v in facet.values
        ]
        for v in facet.values:
            labels[(facet.spec.key, v.value)] = (v.label_zh, v.label_en)
        if values:
            facets.append({"key": facet.spec.key, "label_zh": facet.spec.label_zh, "label_en": facet.spec.label_en, "options": values})
    spec_labels = {f.spec.key: (f.spec.label_zh, f.spec.label_en) for f in result.facets}
    selected = [
        {"facet_zh": spec_labels[key][0], "facet_en": spec_labels[key][1], "key": key, "value": value,
         "label_zh": labels.get((key, value), (value, ""))[0], "label_en": labels.get((key, value), (value, ""))[1],
         "remove_url": params.toggled(key, value)}
        for key, values in result.selection.items() for value in values
    ]
    hits = [{"record": h, "resource": snapshot.resources[h.code]} for h in result.hits]
    return {
        "nav": "catalog",
        "query": params.query,
        "result": result,
        "hits": hits,
        "facets": facets,
        "selected": selected,
        "clear_url": params.url({}) if result.selection else None,
        "prev_url": params.url(page=result.page - 1) if result.page > 1 else None,
        "next_url": params.url(page=result.page + 1) if result.page < result.pages else None,
        "catalog_size": len(snapshot.resources),
    }
