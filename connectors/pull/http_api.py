"""Pull a JSON HTTP API into one JSON-lines delivery file.

Pagination (`source.pagination`): none, page + size, offset + limit, or a cursor taken from a
response field or a whole `next` URL; the records sit at `source.records_path` in each answer.
The secret of the Airflow connection goes in `Authorization: Bearer`, a named header or a named
query parameter, and never into a message or log line (URLs are shown with secrets removed).
429 (honouring Retry-After), 5xx, timeouts and dropped connections are retried with exponential
backoff; any other error status fails at once. More pages than `source.max_pages` is an error
rather than a silently truncated version.

Records are written as served, one canonical JSON line each, so an unchanged API gives a
byte-identical file that landing recognises as already landed.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from catalog.model import CursorPagination, OffsetPagination, PagePagination, Resource, Source
from common.settings import Paths
from connectors.pull import Credentials, PullError, PullResult
from connectors.pull.state import delivery

log = logging.getLogger("kcdata.pull")

MAX_WAIT_S = 60.0  # longest exponential backoff between tries
MAX_RETRY_AFTER_S = 300.0  # longest Retry-After honoured; a server asking for more fails this pull
_SECRET_NAMES = re.compile(r"token|key|secret|passw|signature|auth", re.IGNORECASE)
_MISSING = object()


class _Transient(Exception):
    """An answer worth trying again: 429 or 5xx."""

    def __init__(self, status: int, reason: str, retry_after: float | None) -> None:
        super().__init__(status)
        self.status, self.reason, self.retry_after = status, reason, retry_after


def pull_http(resource: Resource, paths: Paths, credentials: Credentials | None) -> PullResult:
    """Fetch every page of the resource's API into a delivery file (None when it served no records)."""
    client = _Client(resource, credentials)
    with delivery(paths, resource.table) as out:
        for records in _pages(client, resource.source.pagination):
            for record in records:
                out.write(record)
    log.info("%s: %d records in %d pages from %s", resource.code, out.rows, client.pages, client.source_uri)
    return PullResult(
        file=out.target if out.rows else None, rows=out.rows, pages=client.pages, watermark=None,
        source_uri=client.source_uri, state={"pulled_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    )


def _pages(client: _Client, pagination: Any) -> Iterator[list[dict]]:
    """The records of each page, in the order served, until the API says there are no more."""
    if isinstance(pagination, PagePagination):
        page = pagination.first_page
        while True:
            records, _ = client.get(client.base_url, {pagination.page_param: page, pagination.size_param: pagination.size})
            yield records
            if len(records) < pagination.size:
                return
            page += 1
    elif isinstance(pagination, OffsetPagination):
        offset = 0
        while True:
            records, _ = client.get(client.base_url, {pagination.offset_param: offset, pagination.limit_param: pagination.limit})
            yield records
            if len(records) < pagination.limit:
                return
            offset += len(records)
    elif isinstance(pagination, CursorPagination):
        yield from _cursor_pages(client, pagination)
    else:
        yield client.get(client.base_url, {})[0]


def _cursor_pages(client: _Client, pagination: CursorPagination) -> Iterator[list[dict]]:
    params: dict[str, Any] = {}
    url, seen = client.base_url, set()
    while True:
        records, doc = client.get(url, params)
        yield records
        follow = _dig(doc, pagination.cursor_path or pagination.next_url_path or "")
        if follow is _MISSING or follow in (None, ""):
            return
        if not isinstance(follow, (str, int)) or follow in seen:
            raise PullError(f"GET {client.shown(url, params)}: the next-page {'cursor' if pagination.cursor_path else 'URL'} "
                            f"repeats or is not a value; stopping instead of looping")
        seen.add(follow)
        if pagination.cursor_path:
            params = {pagination.cursor_param: follow}
        else:
            url, params = client.same_origin(urljoin(url, str(follow))), {}


def _dig(doc: Any, path: str) -> Any:
    """The value at a dotted path (`data.items`, `results.0`); "" is the document itself."""
    for part in path.split(".") if path else []:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return _MISSING
    return doc


class _Client:
    """One pull's HTTP session: base URL, auth, retries, page count, secret-free display of URLs."""

    def __init__(self, resource: Resource, credentials: Credentials | None) -> None:
        self.source: Source = resource.source
        self.code = resource.code
        self.base_url = _base_url(resource, credentials)
        self.headers, self.auth_params = _auth(resource, credentials)
        self.pages = 0
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "kcdata-pull"})
        self.source_uri = self.shown(self.base_url, {})

    def shown(self, url: str, params: dict) -> str:
        """`url` with `params` and the fixed parameters, secrets (and any login) removed."""
        parts = urlsplit(url)
        query = [*parse_qsl(parts.query, keep_blank_values=True), *((k, str(v)) for k, v in params.items())]
        kept = [(k, v) for k, v in query if k not in self.auth_params and not _SECRET_NAMES.search(k)]
        netloc = parts.hostname or ""
        netloc += f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), ""))

    def same_origin(self, url: str) -> str:
        """A next-page URL, only if it stays on the API's host (credentials are never sent elsewhere)."""
        a, b = urlsplit(self.base_url), urlsplit(url)
        if (a.scheme, a.netloc) != (b.scheme, b.netloc):
            raise PullError(f"{self.code}: the next-page URL points to {b.scheme}://{b.hostname}, not {a.scheme}://{a.hostname}; "
                            f"refusing to follow it with the credentials")
        query = [(k, v) for k, v in parse_qsl(b.query, keep_blank_values=True) if k not in self.auth_params]
        return urlunsplit((b.scheme, b.netloc, b.path, urlencode(query), ""))  # the secret is added again by get()

    def get(self, url: str, params: dict) -> tuple[list[dict], Any]:
        """(records, whole answer) of one page; raises PullError with the URL and status."""
        if self.pages >= self.source.max_pages:
            raise PullError(f"{self.code}: more than source.max_pages = {self.source.max_pages} pages at {self.source_uri}; "
                            f"raise the cap if the API really is that large")
        query = {} if url != self.base_url else dict(self.source.params)
        query |= params
        shown = self.shown(url, query)
        response = self._send(url, {**query, **self.auth_params}, shown)
        self.pages += 1
        try:
            doc = json.loads(response.content)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise PullError(f"GET {shown}: the answer is not JSON ({kind})") from None
        return _records(doc, self.source.records_path, shown), doc

    def _send(self, url: str, params: dict, shown: str) -> requests.Response:
        source = self.source
        retrying = Retrying(
            stop=stop_after_attempt(source.attempts),
            wait=_wait(source.backoff_s),
            retry=retry_if_exception_type((_Transient, requests.Timeout, requests.ConnectionError)),
            before_sleep=lambda state: _log_retry(state, shown),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self.session.get(url, params=params, headers=self.headers, timeout=source.timeout_s,
                                                allow_redirects=False)  # a redirect could carry the secret elsewhere
                    if response.status_code == 429 or response.status_code >= 500:
                        raise _Transient(response.status_code, response.reason, _retry_after(response))
        except _Transient as exc:
            raise PullError(f"GET {shown}: HTTP {exc.status} {exc.reason} after {source.attempts} attempts") from None
        except requests.Timeout:
            raise PullError(f"GET {shown}: no answer within {source.timeout_s:g} s, {source.attempts} attempts") from None
        except requests.RequestException as exc:  # the text of requests' errors can hold the full URL: not shown
            raise PullError(f"GET {shown}: {type(exc).__name__} (could not reach the server), {source.attempts} attempts") from None
        if response.status_code in (401, 403):
            conn = source.connection or "(none)"
            raise PullError(f"GET {shown}: HTTP {response.status_code} {response.reason}: the API refused the credentials "
                            f"of Airflow connection {conn}")
        if response.is_redirect:
            target = urlsplit(urljoin(url, response.headers.get("Location", "")))
            raise PullError(f"GET {shown}: HTTP {response.status_code} redirects to {target.scheme}://{target.hostname}{target.path}; "
                            f"set source.url to the final address")
        if not response.ok:
            raise PullError(f"GET {shown}: HTTP {response.status_code} {response.reason}")
        return response


def _records(doc: Any, path: str, shown: str) -> list[dict]:
    records = _dig(doc, path)
    where = path or "the top level"
    if records is _MISSING:
        raise PullError(f"GET {shown}: no {where!r} in the answer (source.records_path)")
    if not isinstance(records, list):
        raise PullError(f"GET {shown}: {where} is {type(records).__name__}, not a list of records (source.records_path)")
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise PullError(f"GET {shown}: record {n} at {where} is {type(record).__name__}, not an object")
    return records


def _wait(backoff_s: float) -> Callable[[RetryCallState], float]:
    """Exponential backoff from `backoff_s`, but the server's Retry-After when it sent one."""
    exponential = wait_exponential(multiplier=backoff_s, min=0, max=MAX_WAIT_S)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        return exponential(state)

    return wait


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return None
    if seconds > MAX_RETRY_AFTER_S:
        raise PullError(f"HTTP {response.status_code}: the API asks to wait {seconds:.0f} s; the next scheduled pull will try again")
    return max(seconds, 0.0)


def _log_retry(state: RetryCallState, shown: str) -> None:
    exc = state.outcome.exception() if state.outcome else None
    what = f"HTTP {exc.status}" if isinstance(exc, _Transient) else type(exc).__name__
    wait = state.next_action.sleep if state.next_action else 0
    log.warning("GET %s: %s, try %d; retrying in %.1f s", shown, what, state.attempt_number, wait)


def _base_url(resource: Resource, credentials: Credentials | None) -> str:
    """The absolute API URL: `source.url`, or its path on the connection's host."""
    url = resource.source.url or ""
    if not url.startswith("/"):
        return url
    host = (credentials.host if credentials else None) or ""
    if not host:
        raise PullError(f"{resource.code}: source.url {url!r} is a path, but Airflow connection {resource.source.connection} has no host")
    if "://" not in host:
        scheme = (credentials.schema if credentials and credentials.schema in ("http", "https") else None) or "https"
        host = f"{scheme}://{host}" + (f":{credentials.port}" if credentials and credentials.port else "")
    return host.rstrip("/") + url


def _auth(resource: Resource, credentials: Credentials | None) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query parameters) that carry the connection's secret."""
    auth = resource.source.auth
    if auth is None:
        return {}, {}
    secret = credentials.secret if credentials else None
    if not secret:
        raise PullError(f"{resource.code}: source.auth needs a secret, but Airflow connection {resource.source.connection} "
                        f"has no password (the token or API key)")
    if auth.style == "bearer":
        return {"Authorization": f"Bearer {secret}"}, {}
    if auth.style == "header":
        return {str(auth.name): secret}, {}
    return {}, {str(auth.name): secret}
