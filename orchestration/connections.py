"""Credentials for pulled sources, read from the Airflow connection the catalog entry names.

The catalog names a connection id (`source.connection`), never a secret. Where it is found:
- inside an Airflow task: `airflow.sdk.Connection.get` (the worker asks the API server, which
  reads the metadata DB or a secrets backend);
- anywhere (CLI, tests): the environment variable `AIRFLOW_CONN_<ID>` in URI or JSON form, which
  the same call reads through Airflow's environment-variables backend;
- from the CLI, a connection stored with `airflow connections add <id> ...`: outside a task the
  SDK does not read the metadata DB, so we fall back to Airflow's core model, which does.
Airflow's own classes parse the URI/JSON and register the secret with its log masker; nothing here
logs or prints a secret.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from common.errors import KcdataError
from connectors.pull import Credentials

log = logging.getLogger("kcdata")


def credentials_for(conn_id: str) -> Credentials:
    """The credentials of Airflow connection `conn_id`; KcdataError saying how to define it if absent."""
    conn = _airflow_connection(conn_id)
    port = conn.port
    return Credentials(
        login=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=int(port) if port else None,
        schema=conn.schema or None,
        extra=dict(conn.extra_dejson or {}),
        conn_type=conn.conn_type or None,
    )


def _airflow_connection(conn_id: str) -> Any:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        pass
    if not _in_task():
        stored = _stored_connection(conn_id)
        if stored is not None:
            return stored
    env = "AIRFLOW_CONN_" + conn_id.upper()
    raise KcdataError(
        f"Airflow connection {conn_id!r} is not defined: set {env} (a URI such as postgresql://user:password@host:5432/db, "
        f"or JSON) or run `airflow connections add {conn_id} --conn-uri ...`"
    )


def _in_task() -> bool:
    """Whether we run inside an Airflow task (its runner talks to the supervisor; no metadata DB access)."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def _stored_connection(conn_id: str) -> Any | None:
    """A connection from the metadata DB (or a configured secrets backend), outside a task."""
    try:
        from airflow.models.connection import Connection as StoredConnection

        conn = StoredConnection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # not found, or no metadata DB here: both mean "not defined" to the caller
        log.debug("Airflow connection %s not in the metadata DB: %s", conn_id, type(exc).__name__)
        return None
    from airflow.sdk.log import mask_secret

    if conn.password:
        mask_secret(conn.password)
    return conn
