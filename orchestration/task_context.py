"""What a DAG task reads from Airflow's task context, for the flow: the tables the previous stage
changed, and the run link the catalog keeps with what the task made. The flow never reads the
context itself; the task hands these in."""
from __future__ import annotations

from typing import Any

from orchestration.topology import changes_name


def changed_tables(context: dict[str, Any], zone: str) -> list[str] | None:
    """The tables the previous stage announced as changed in `zone`, in the events that started
    this run (`orchestration.topology.announce_changes`); None for a run started by hand or by the clock
    (then: everything)."""
    prefix = f"{changes_name(zone)}."
    seen, names = False, set()
    for asset_events in (context.get("triggering_asset_events") or {}).values():
        for event in asset_events:
            name = getattr(getattr(event, "asset", None), "name", "") or ""
            if name.startswith(prefix):
                seen = True
                names.add(name.removeprefix(prefix))
    return sorted(names) if seen else None


def run_type(dag_run: Any) -> str:
    """The run's type as Airflow names it (`asset_triggered`, `scheduled`, `manual`...): the task
    SDK's run type is an enum whose str() is not its value."""
    kind = getattr(dag_run, "run_type", "")
    return str(getattr(kind, "value", kind))


def started_by_event(context: dict[str, Any]) -> bool:
    """Whether Asset events started this run (not the clock, not a person)."""
    return run_type(context.get("dag_run")) == "asset_triggered"


def run_link(context: dict[str, Any]) -> dict[str, Any]:
    """What the catalog keeps of the Airflow run a task belongs to: DAG, run, run type, and the
    asset events that started it (watcher events name the delivered files)."""
    dag_run = context.get("dag_run")
    events = []
    for asset_events in (context.get("triggering_asset_events") or {}).values():
        for event in asset_events:
            events.append({
                "asset": getattr(getattr(event, "asset", None), "name", None),
                "id": getattr(event, "id", None),
                "timestamp": str(getattr(event, "timestamp", "")),
                "extra": getattr(event, "extra", None) or {},
            })
    return {
        "dag_id": getattr(dag_run, "dag_id", None),
        "run_id": getattr(dag_run, "run_id", None),
        "run_type": run_type(dag_run),
        "events": events,
    }
