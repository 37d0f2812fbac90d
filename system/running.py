"""The running system from kcdata's side: which settings the services get, bringing it up until
the DAGs are there, and a signed-in Airflow client.

`stack/` runs the services; this module decides what they run with: the lake, inbox and catalog
of the person who ran `kcdata up` (absolute paths), Airflow's SMTP settings, the OpenLineage
transport, and the web base URL, so that the scheduler's tasks see the same lake as the CLI.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from common.errors import KcdataError
from common.settings import get_paths, read_settings
from orchestration.airflow_api import AirflowApi

Report = Callable[[str], None]

# settings passed through from the caller's environment to the services, when set
# (AIRFLOW_CONN_*: connections of pulled sources given in the environment; the settings file is
# mode 0600 in the state folder outside the repository, like the secrets file)
_PASS_THROUGH = ("AIRFLOW__SMTP__", "AIRFLOW__OPENLINEAGE__", "AIRFLOW_CONN_", "OPENLINEAGE_")
_PASSED_SETTINGS = ("KCDATA_WEB_URL", "KCDATA_RECONCILE_CRON", "KCDATA_CHAIN_WAYS", "KCDATA_PUBLISH_WAYS",
                    "KCDATA_OPENLINEAGE_URL", "KCDATA_OPENLINEAGE_ENDPOINT",
                    "KCDATA_OPENLINEAGE_API_KEY", "KCDATA_EXECUTOR", "KCDATA_CELERY_WORKERS", "KCDATA_CELERY_CONCURRENCY",
                    "KCDATA_CELERY_HEARTBEAT_TIMEOUT", "KCDATA_PARSE_INTERVAL")


def settings() -> dict[str, str]:
    """What the Airflow services run with: this shell's lake, inbox and catalog, and the Airflow
    settings and connections given in its environment (the generated secrets stay in the secrets file)."""
    paths = get_paths()
    values = {
        "KCDATA_LAKE": str(paths.lake.resolve()),
        "KCDATA_INBOX": str(paths.inbox.resolve()),
        "KCDATA_CATALOG_DIR": str(paths.catalog_dir.resolve()),
    }
    given = read_settings()
    if not paths.remote or given.catalog_url:  # an S3 lake: the system's PostgreSQL (stack/launch.py)
        values["KCDATA_CATALOG_URL"] = paths.catalog_url
    from orchestration.lineage import openlineage_environment

    values.update(openlineage_environment(paths))
    values.update({k: v for k, v in os.environ.items() if k.startswith(_PASS_THROUGH)})
    values.update({k: v for k, v in given.as_environment().items() if k in _PASSED_SETTINGS})
    return values


def expected_dags() -> list[str]:
    """Every DAG the catalog makes (the chain, a pull DAG per update cycle of a pulled source,
    publish, freshness)."""
    from catalog.entries import load_catalog
    from orchestration.topology import system_dag_ids

    return system_dag_ids([r.update_cycle.value for r in load_catalog() if r.source.kind != "file_drop"])


def api() -> AirflowApi:
    """The running Airflow, signed in as the generated admin."""
    from stack import get_layout
    from stack import secrets as sec
    from stack.airflow import ADMIN
    from stack.layout import airflow_url

    password = sec.load(get_layout().secrets_file).get(sec.AIRFLOW_ADMIN_PASSWORD)
    if not password:
        raise KcdataError("the system has never been started here: run `kcdata up`")
    return AirflowApi(airflow_url(), ADMIN, password)


def wait_for_dags(report: Report, timeout: float = 180) -> AirflowApi:
    """Until every kcdata DAG is parsed and unpaused (the dag-processor looks every 5 s)."""
    from datetime import datetime, timezone

    from stack import get_layout
    from stack.supervisor import info

    client = api()
    want = set(expected_dags())
    # parsed by the running dag-processor, i.e. with the settings it runs with now (a DAG parsed
    # before a restart still watches the previous inbox)
    started = info(get_layout()).get("airflow-dag-processor", {}).get("start") or 0
    since = datetime.fromtimestamp(started, timezone.utc)
    deadline = time.monotonic() + timeout
    said = False
    while True:
        dags = client.dags()
        fresh = {d for d, v in dags.items() if v.get("last_parsed_time") and datetime.fromisoformat(
            v["last_parsed_time"].replace("Z", "+00:00")) >= since}
        missing = want - fresh
        for dag_id in want & fresh:
            if dags[dag_id].get("is_paused"):
                client.unpause(dag_id)
        if not missing:
            return client
        if time.monotonic() > deadline:
            # errors of an earlier parse stay listed until the files are parsed again: name them only now
            errors = "; ".join(f"{e['filename']}: {e['stack_trace'][-400:]}" for e in client.import_errors())
            raise KcdataError(f"Airflow has not found these DAGs after {timeout:.0f} s: {', '.join(sorted(missing))}"
                              + (f"; DAG import errors: {errors}" if errors else ""))
        if not said:
            report(f"waiting for Airflow to parse {len(missing)} DAG(s)")
            said = True
        time.sleep(2)


def up(report: Report) -> AirflowApi:
    """Every service running with this checkout's settings, and every DAG ready."""
    import stack

    stack.up(report=report, settings=settings())
    return wait_for_dags(report)


def serves_this_lake() -> bool:
    """Whether the system running here works on this shell's lake and catalog (a test or a
    second checkout with a lake of its own must not start runs over another lake)."""
    from stack import get_layout
    from stack import secrets as sec

    running = sec.load(get_layout().system_env)
    mine = settings()
    return all(running.get(key) == mine.get(key) for key in ("KCDATA_LAKE", "KCDATA_CATALOG_DIR"))


def request_run(dag_id: str, reason: str, conf: dict | None = None) -> str | None:
    """Ask a running system for a run of `dag_id` (with `conf`); the run id, or None when no system
    runs here (or the one running works on another lake)."""
    from stack.layout import AIRFLOW_PORT, HOST
    from stack.proc import port_open

    if not port_open(HOST, AIRFLOW_PORT) or not serves_this_lake():
        return None
    try:
        return api().trigger(dag_id, conf={"reason": reason, **(conf or {})})
    except KcdataError:
        return None


def request_publish(reason: str) -> str | None:
    """Ask a running system for a publish run (after an approval or a withdrawal); the run id, or
    None when no system runs here (then `kcdata publish` does it without Airflow)."""
    from orchestration.topology import PUBLISH

    return request_run(PUBLISH, reason)
