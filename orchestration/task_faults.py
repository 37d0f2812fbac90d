"""Which failures of a stage task Airflow should retry.

A stage task has retries (`orchestration.topology.STAGE_RETRY`) for faults that pass: a worker killed
mid-task, an object store or source that did not answer. A `KcdataError` that is not `retryable`
is a problem in the data or the catalog; the same inputs give it again, so the task fails at once
and its alert goes out without waiting for retries that cannot mend it.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from common.errors import KcdataError
from common.settings import read_settings

log = logging.getLogger(__name__)


@contextmanager
def fail_at_once_on_user_errors() -> Iterator[None]:
    """Turn a non-retryable KcdataError into Airflow's fail-without-retry; let every other error retry."""
    try:
        read_settings()  # a wrong or unknown KCDATA_ variable fails the task at its start, named
        from orchestration.warm_imports import PRELOADED_ENV

        if os.environ.get(PRELOADED_ENV):
            log.info("loaded before this task started, by the process that forked it: %s", os.environ[PRELOADED_ENV])
        yield
    except KcdataError as exc:
        if exc.retryable:
            raise
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc


def stage_task(**task_args: Any) -> Callable[[Callable], Any]:
    """Airflow's `@task` for a stage of the flow (land, validate, transform): retried
    on faults that pass (`STAGE_RETRY`), failed at once on a data or catalog error."""
    from airflow.sdk import task

    from orchestration.topology import STAGE_RETRY

    def decorate(function: Callable) -> Any:
        return task(**STAGE_RETRY, **task_args)(fail_at_once_on_user_errors()(function))

    return decorate
