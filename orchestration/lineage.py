"""OpenLineage from Airflow: where the provider sends its events, and which datasets our tasks touch.

Airflow's OpenLineage provider (apache-airflow-providers-openlineage 2.20) is a listener that
runs in every task process (task START/COMPLETE/FAIL) and where the DAG run is handled (the
scheduler; the calling process under `dag.test()`). It reads its `[openlineage]` options, which
`openlineage_environment` gives as environment variables for orchestration/airflow_env.py to merge:

- `transport`: the same choice as dbt's events (transform/lineage.py `transport_config`): JSON
  lines appended to `<lake>/lineage/airflow.jsonl`, or HTTP to `KCDATA_OPENLINEAGE_URL`
  (Marquez, DataHub). With no transport at all the provider disables itself.
- `namespace`: `kcdata`, the jobs' namespace (`<dag_id>.<task_id>`), as dbt's jobs.
- `extractors`: `AssetLineageExtractor`, below. The provider turns an Asset into an OpenLineage
  dataset only through a converter that an installed provider package registers for the URI's
  scheme (here only `file`); `kcdata://lake/...` Assets are dropped silently, so our tasks'
  events would carry no inputs or outputs. A custom extractor is the provider's documented
  extension point that needs no DAG change and no packaging: it names our Assets with
  `dataset_name`, the mapping shared with dbt's events and the catalog's URIs. It lives in
  transform/lineage.py, the lowest floor that needs it (the stage may not import orchestration/).
- `execute_in_thread`: by default the provider sends a task's events from a fork() of the task
  process; the provider's own notes say a child blocked on a slow backend can leave the task stuck
  in `running`, and forking a process that holds DuckDB's and dbt's threads is risky too. A
  thread bounded by `[openlineage] execution_timeout` (10 s) cannot do either.

`OPENLINEAGE_DISABLED=true` turns the provider (and dbt's events) off.
"""
from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from common.settings import Paths
from transform.lineage import JOB_NAMESPACE, dataset_name, transport_config

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors.base import OperatorLineage

EXTRACTOR = f"{__name__}.AssetLineageExtractor"
OPERATORS = ["_PythonDecoratedOperator"]  # @task: every task of ours (a classic PythonOperator keeps the provider's extractor)


def openlineage_environment(paths: Paths) -> dict[str, str]:
    """Airflow's `[openlineage]` options as environment variables (creates `<lake>/lineage/`)."""
    return {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": JOB_NAMESPACE,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport_config(paths.lake, "airflow")),
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": EXTRACTOR,
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
    }


def schedule_assets(dag: Any) -> list:
    """The Assets a DAG is scheduled on (through any AssetAny/AssetAll nesting); none on a clock."""
    found: list = []

    def walk(condition: Any) -> None:
        if hasattr(condition, "uri") and hasattr(condition, "name"):
            found.append(condition)
        for inner in getattr(condition, "objects", ()):
            walk(inner)

    walk(getattr(getattr(dag, "timetable", None), "asset_condition", None))
    return found


def to_dataset(obj: Any) -> Any:
    """An OpenLineage dataset for an inlet/outlet: `kcdata://` Assets by `dataset_name`, anything
    else as the provider converts it (None when it cannot, and for the changes aliases)."""
    from openlineage.client.event_v2 import Dataset

    uri = getattr(obj, "uri", None)
    if type(obj).__name__ == "AssetAlias":
        return None  # what schedules the next stage (topology.changes_alias), not data
    if isinstance(uri, str) and uri.startswith("kcdata://"):
        namespace, name = dataset_name(uri)
        return Dataset(namespace=namespace, name=name)
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    return ExtractorManager.convert_to_ol_dataset(obj)


def task_datasets(task: Any) -> tuple[list, list]:
    """(inputs, outputs) of a task: its inlets, plus the DAG's schedule Assets for a task that
    starts the DAG (the run was started because they changed, and it reads them); its outlets."""
    inlets = list(task.inlets or [])
    if not task.upstream_task_ids:
        inlets += schedule_assets(task.dag)

    def unique(objs: list) -> list:
        seen: dict[tuple[str, str], Any] = {}
        for d in filter(None, map(to_dataset, objs)):
            seen.setdefault((d.namespace, d.name), d)
        return list(seen.values())

    return unique(inlets), unique(list(task.outlets or []))


@cache
def _extractor_class() -> type:
    """Built on first use, so importing this module never imports Airflow (airflow_env needs it first)."""
    from airflow.providers.openlineage.extractors.python import PythonExtractor

    class AssetLineageExtractor(PythonExtractor):
        """The provider's PythonExtractor (source code facet), plus the task's Assets as datasets."""

        @classmethod
        def get_operator_classnames(cls) -> list[str]:
            return OPERATORS

        def _execute_extraction(self) -> OperatorLineage:
            lineage = super()._execute_extraction()
            lineage.inputs, lineage.outputs = task_datasets(self.operator)
            if lineage.inputs or lineage.outputs:  # the lineage is known after all
                lineage.run_facets.pop("unknownSourceAttribute", None)
            return lineage

    AssetLineageExtractor.__module__, AssetLineageExtractor.__qualname__ = __name__, "AssetLineageExtractor"
    return AssetLineageExtractor


def __getattr__(name: str) -> type:
    """`orchestration.lineage.AssetLineageExtractor`, as the provider imports it by name (PEP 562)."""
    if name == "AssetLineageExtractor":
        return _extractor_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
