"""Which failures a stage task retries: faults that pass (a lock held too long, a source that did not
answer, a lost connection) are raised as they are, so Airflow retries them; a problem in the data
or the catalog fails the task at once, since the same inputs give the same error."""
from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from catalog.locks import LockTimeout
from common.errors import KcdataError
from connectors.pull import PullError
from orchestration.task_faults import fail_at_once_on_user_errors


def test_a_data_or_catalog_error_fails_the_task_without_retries():
    with pytest.raises(AirflowFailException, match="dbt build failed: 2 tests"):
        with fail_at_once_on_user_errors():
            raise KcdataError("dbt build failed: 2 tests")


@pytest.mark.parametrize("fault", [LockTimeout("the catalog lock was held for 600 s"),
                                   PullError("stations API: connection refused"),
                                   ConnectionError("S3 endpoint did not answer")])
def test_a_passing_fault_is_left_for_airflow_to_retry(fault):
    with pytest.raises(type(fault)) as raised:
        with fail_at_once_on_user_errors():
            raise fault
    assert raised.value is fault


def test_a_stage_task_retries_passing_faults_and_fails_at_once_on_data_errors():
    from orchestration.task_faults import stage_task
    from orchestration.topology import STAGE_RETRY

    @stage_task(pool="dbt")
    def dbt_build(fault: Exception) -> None:
        raise fault

    operator = dbt_build.function  # what Airflow calls when the task runs
    assert dbt_build.kwargs["retries"] == STAGE_RETRY["retries"] and dbt_build.kwargs["pool"] == "dbt"
    with pytest.raises(AirflowFailException, match="bad delivery"):
        operator(KcdataError("bad delivery"))
    with pytest.raises(LockTimeout):
        operator(LockTimeout("held"))
