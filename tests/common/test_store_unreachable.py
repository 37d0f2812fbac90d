"""When a command fails because a service did not answer, the message names the right one: the
lake's S3 store only when the lake is on S3 and the store's own client met the fault; a timeout of
Airflow's API or CKAN (reached with requests/urllib3) is never blamed on the lake."""
from __future__ import annotations

import pytest
import requests
import urllib3
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from common.lake_store import unreachable


def _raised(make) -> BaseException:
    try:
        make()
    except BaseException as exc:  # noqa: BLE001 - the chain as Python builds it
        return exc
    raise AssertionError("nothing raised")


def _api_timeout() -> None:
    """What the Airflow client raises when `/dags` does not answer in time."""
    try:
        raise urllib3.exceptions.ReadTimeoutError(None, "/api/v2/dags", "Read timed out.")
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from exc


def _store_timeout() -> None:
    """What botocore raises when the S3 store does not answer (it wraps urllib3's error)."""
    try:
        raise urllib3.exceptions.ReadTimeoutError(None, "/kcdata-lake", "Read timed out.")
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:8333/kcdata-lake", error=exc) from exc


@pytest.fixture
def s3_lake_env(monkeypatch):
    monkeypatch.setenv("KCDATA_LAKE", "s3://kcdata-lake/city")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")


def _store_down() -> None:
    raise EndpointConnectionError(endpoint_url="http://127.0.0.1:8333/kcdata-lake")


def test_the_store_is_named_when_it_does_not_answer(s3_lake_env):
    for fault in (_store_timeout, _store_down):
        message = unreachable(_raised(fault))
        assert message and "S3 store (http://127.0.0.1:8333) did not answer" in message, fault


def test_an_airflow_or_ckan_timeout_is_not_blamed_on_the_store(s3_lake_env):
    assert unreachable(_raised(_api_timeout)) is None


def test_a_local_lake_has_no_store_to_blame(monkeypatch, tmp_path):
    monkeypatch.setenv("KCDATA_LAKE", str(tmp_path / "lake"))
    assert unreachable(_raised(_api_timeout)) is None
    assert unreachable(_raised(_store_timeout)) is None
