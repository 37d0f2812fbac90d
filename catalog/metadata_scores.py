"""Metadata-quality scores of the portal's datasets, kept over time (table metadata_scores).

The scorer (portal/metadata_quality.py) measures; this module only records and reads, so the
catalog web can show each dataset's latest rating and its trend.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy import func, select

from catalog.store import CatalogStore
from catalog.tables import MetadataScoreRow


class ScoreLike(Protocol):
    """What a score must offer (portal.metadata_quality.Score does); the catalog floor cannot
    import the portal stage, so it names the shape instead."""

    @property
    def points(self) -> int: ...

    @property
    def max(self) -> int: ...

    @property
    def rating(self) -> str: ...

    @property
    def dimensions(self) -> dict[str, dict[str, Any]]: ...

    def indicators_json(self) -> list[dict[str, Any]]: ...


def record_score(store: CatalogStore, code: str, score: ScoreLike, source_url: str, at: datetime | None = None) -> MetadataScoreRow:
    """Append one measurement of resource `code` (history is kept, never overwritten)."""
    row = MetadataScoreRow(
        resource_code=code,
        measured_at=(at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None),
        points=score.points,
        max_points=score.max,
        rating=score.rating,
        dimensions=score.dimensions,
        indicators=score.indicators_json(),
        source_url=source_url,
    )
    with store.session() as s:
        s.add(row)
        s.flush()
        s.refresh(row)
    return row


def score_history(store: CatalogStore, code: str) -> list[MetadataScoreRow]:
    """Every measurement of `code`, oldest first."""
    with store.session() as s:
        query = select(MetadataScoreRow).where(MetadataScoreRow.resource_code == code)
        return list(s.scalars(query.order_by(MetadataScoreRow.measured_at, MetadataScoreRow.id)))


def latest_scores(store: CatalogStore) -> dict[str, MetadataScoreRow]:
    """The newest measurement of every scored resource, by code (one query)."""
    newest = select(func.max(MetadataScoreRow.id)).group_by(MetadataScoreRow.resource_code)
    with store.session() as s:
        return {row.resource_code: row for row in s.scalars(select(MetadataScoreRow).where(MetadataScoreRow.id.in_(newest)))}
