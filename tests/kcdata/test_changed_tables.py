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


def test_a_run_started_by_events_is_told_from_one_by_the_clock_or_by_hand():
    """The task SDK hands the run type as an enum whose str() is `DagRunType.ASSET_TRIGGERED`: a
    run started by a marker must still count as started by an event (it takes only the resources
    with deliveries), and a clock or manual run as not (it looks at every resource)."""
    import enum
    from types import SimpleNamespace

    from orchestration.task_context import started_by_event

    class DagRunType(str, enum.Enum):  # as the task SDK's generated model declares it
        ASSET_TRIGGERED = "asset_triggered"
        SCHEDULED = "scheduled"
        MANUAL = "manual"

    assert str(DagRunType.ASSET_TRIGGERED) != "asset_triggered"
    assert started_by_event({"dag_run": SimpleNamespace(run_type=DagRunType.ASSET_TRIGGERED)})
    assert started_by_event({"dag_run": SimpleNamespace(run_type="asset_triggered")})
    assert not started_by_event({"dag_run": SimpleNamespace(run_type=DagRunType.SCHEDULED)})
    assert not started_by_event({"dag_run": SimpleNamespace(run_type=DagRunType.MANUAL)})
    assert not started_by_event({})
