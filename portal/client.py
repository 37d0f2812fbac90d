"""A ckanapi client that retries what is worth retrying and says clearly when CKAN is gone.

Connection failures and 5xx answers are retried with exponential backoff; 4xx answers
(validation, not found, not authorised) are our mistake and fail at once. The token is never
part of any message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from common.errors import KcdataError
from common.settings import read_settings

TIMEOUT_S = 120  # one request's answer
SLOW_ACTIONS_S = {"kcdata_datastore_load": 1800}  # a server-side load of millions of rows answers when it has committed


@dataclass(frozen=True)
class CkanTarget:
    url: str
    token: str

    def __repr__(self) -> str:  # never print the token
        return f"CkanTarget(url={self.url!r}, token=***)"


class Portal:
    """Calls CKAN actions through ckanapi.RemoteCKAN with retries."""

    def __init__(self, target: CkanTarget, attempts: int | None = None, max_wait: float = 8.0) -> None:
        from ckanapi import RemoteCKAN

        self.target = target
        self.attempts = attempts or read_settings().ckan_attempts
        self.max_wait = max_wait
        self._ckan = RemoteCKAN(target.url, apikey=target.token, user_agent="kcdata-publisher/0.1")

    def another(self) -> Portal:
        """A client of its own to the same portal, for another thread (a requests session is not
        shared between threads)."""
        return Portal(self.target, self.attempts, self.max_wait)

    def call(self, action: str, **data: Any) -> Any:
        """Run one action; retried on connection errors and 5xx, then a KcdataError."""
        import requests
        from ckanapi.errors import CKANAPIError, NotAuthorized, NotFound, SearchError, ValidationError
        from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_exponential

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, (NotFound, NotAuthorized, ValidationError)):
                return False
            return isinstance(exc, (requests.ConnectionError, requests.Timeout, CKANAPIError, SearchError))

        @retry(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.5, max=self.max_wait),
        )
        def once() -> Any:
            files = {k: v for k, v in data.items() if k == "upload"}
            params = {k: v for k, v in data.items() if k != "upload"}
            timeout = SLOW_ACTIONS_S.get(action, TIMEOUT_S)
            return self._ckan.call_action(action, params, files=files or None, requests_kwargs={"timeout": timeout})

        try:
            return once()
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise KcdataError(
                f"CKAN at {self.target.url} failed {action} {self.attempts} times "
                f"({type(cause).__name__}: {str(cause)[:300]}); nothing was recorded as published"
            ) from cause

    def show(self, action: str, **data: Any) -> Any | None:
        """Like call(), but None when CKAN answers Not Found."""
        from ckanapi.errors import NotFound

        try:
            return self.call(action, **data)
        except NotFound:
            return None


class ConnectionFields(Protocol):
    """What is read of an Airflow connection (the stage does not import Airflow)."""

    @property
    def host(self) -> str | None: ...

    @property
    def schema(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def password(self) -> str | None: ...


def target_from_airflow_connection(conn: ConnectionFields) -> CkanTarget:
    """CkanTarget from the Airflow connection `kcdata_ckan` (host may be a full URL)."""
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        scheme = conn.schema or "http"
        host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    if not conn.password:
        raise KcdataError("Airflow connection kcdata_ckan has no password (the CKAN API token)")
    return CkanTarget(host, conn.password)
