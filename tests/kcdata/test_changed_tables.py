"""A downstream run works on what changed: the tables the stage before announced in the events that
started it, every table for a run started by hand or by a clock."""
from __future__ import annotations

from types import SimpleNamespace

from orchestration.task_context import changed_tables
from orchestration.topology import changed_asset


def _events(zone: str, *tables: str) -> list[SimpleNamespace]:
    """Events as Airflow hands them to the task: the Asset each was announced as, through the alias."""
    return [SimpleNamespace(asset=SimpleNamespace(name=changed_asset(zone, t).name), extra={}) for t in tables]


def test_the_tables_of_every_triggering_event_of_the_zone() -> None:
    context = {"triggering_asset_events": {"a": _events("validated", "air_quality_hourly"),
                                           "b": _events("validated", "traffic_flow", "air_quality_hourly")}}
    assert changed_tables(context, "validated") == ["air_quality_hourly", "traffic_flow"]
    context = {"triggering_asset_events": {"x": _events("curated/resources", "traffic_flow")}}
    assert changed_tables(context, "curated/resources") == ["traffic_flow"]


def test_a_run_by_hand_or_by_a_clock_covers_everything() -> None:
    assert changed_tables({}, "open") is None
    assert changed_tables({"triggering_asset_events": {}}, "curated/resources") is None


def test_another_zone_s_events_are_not_this_zone_s_changes() -> None:
    context = {"triggering_asset_events": {"x": _events("validated", "traffic_flow")}}
    assert changed_tables(context, "open") is None
