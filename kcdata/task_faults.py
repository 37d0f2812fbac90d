"""Which failures of a stage task Airflow should retry.

A stage task has retries (`kcdata.topology.STAGE_RETRY`) for faults that pass: a worker killed
mid-task, an object store or source that did not answer. A `KcdataError` that is not `retryable`
is a problem in the data or the catalog; the same inputs give it again, so the task fails at once
and its alert goes out without waiting for retries that cannot mend it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from common.errors import KcdataError


@contextmanager
def fail_at_once_on_user_errors() -> Iterator[None]:
    """Turn a non-retryable KcdataError into Airflow's fail-without-retry; let every other error retry."""
    try:
        yield
    except KcdataError as exc:
        if exc.retryable:
            raise
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
