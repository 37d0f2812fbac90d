"""The HTTP API connector against a real HTTP server on 127.0.0.1 (http.server in a thread).

Each pagination style, each way of sending the secret, retries on 429/5xx/timeouts, change
detection (an unchanged API adds no version), and errors that name the URL and status but never
the secret."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import duckdb
import pytest

from catalog.store import open_store
from common.errors import KcdataError
from connectors.file_drop import land_file
from connectors.pull import Credentials, PullError, commit, pull
from connectors.pull.state import state_file
from flow.pipeline import land_and_validate

TOKEN = "tok-3f9a8c1d2e7b"
PAGE = 3  # records per page the server serves


def _records(n: int) -> list[dict]:
    return [
        {"reading_id": i, "station": f"知识城{i}号站", "reading": i + 0.5, "measured_at": f"2026-01-02 03:04:{i:02d}",
         "ok": i % 2 == 0, "day": f"2026-01-{i:02d}"}
        for i in range(1, n + 1)
    ]


class FakeApi:
    """What the server serves and what it saw; reset for every test."""

    def __init__(self) -> None:
        self.records = _records(7)
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    """Routes: /page (bearer), /offset (X-API-Key header), /cursor (api_key query), /next (bearer,
    relative next links), /all (no auth, no pages), /flaky (429 then 500 first), /slow (first answer
    too late), /down (api_key query, always 503), /elsewhere (a next link to another host)."""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: C901 - one branch per route keeps the fake readable
        api: FakeApi = self.server.api  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        q = dict(parse_qsl(url.query))
        route = url.path
        with api.lock:
            api.calls[route] += 1
            calls = api.calls[route]
        if not self._authorised(route, q):
            return self._send(401, {"error": "unauthorized"})
        if route == "/flaky" and calls == 1:
            return self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
        if route == "/flaky" and calls == 2:
            return self._send(500, {"error": "oops"})
        if route == "/slow" and calls == 1:
            time.sleep(1.0)
        if route == "/down":
            return self._send(503, {"error": "maintenance"})
        recs = api.records
        if route in ("/page", "/flaky", "/slow"):
            page, size = int(q["page"]), int(q["page_size"])
            return self._send(200, {"data": {"items": recs[(page - 1) * size: page * size]}, "meta": {"page": page}})
        if route == "/offset":
            offset, limit = int(q["offset"]), int(q["limit"])
            return self._send(200, {"data": {"items": recs[offset: offset + limit]}})
        if route == "/cursor":
            start = int(q.get("cursor", "c0")[1:])
            more = start + PAGE < len(recs)
            cursor = f"c{start + PAGE}" if more else None
            return self._send(200, {"data": {"items": recs[start: start + PAGE]}, "meta": {"next_cursor": cursor}})
        if route == "/next":
            start = int(q.get("after", "0"))
            more = start + PAGE < len(recs)
            nxt = f"/next?after={start + PAGE}&size={PAGE}" if more else None
            return self._send(200, {"results": recs[start: start + PAGE], "links": {"next": nxt}})
        if route == "/elsewhere":
            return self._send(200, {"results": recs[:1], "links": {"next": "http://example.invalid/steal"}})
        if route == "/all":
            return self._send(200, recs)
        return self._send(404, {"error": "no such route"})

    def _authorised(self, route: str, q: dict) -> bool:
        if route == "/all":
            return True
        if route == "/offset":
            return self.headers.get("X-API-Key") == TOKEN
        if route in ("/cursor", "/down"):
            return q.get("api_key") == TOKEN
        return self.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _send(self, status: int, body: object, headers: dict | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (the timeout test)
            pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that timed out is expected
        pass


@pytest.fixture(scope="module")
def http_source():
    """The paginated HTTP API stub, in a thread, for the module."""
    srv = QuietServer(("127.0.0.1", 0), Handler)
    srv.api = FakeApi()  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def api(http_source) -> tuple[str, FakeApi]:
    """(base URL, fresh server state)."""
    http_source.api = FakeApi()
    return f"http://127.0.0.1:{http_source.server_address[1]}", http_source.api


CREDENTIALS = Credentials(password=TOKEN, conn_type="http")
STYLES = {
    "page": ("/page", "data.items", {"style": "page", "size": PAGE}, {"style": "bearer"}, 3),
    "offset": ("/offset", "data.items", {"style": "offset", "limit": PAGE}, {"style": "header", "name": "X-API-Key"}, 3),
    "cursor": ("/cursor", "data.items", {"style": "cursor", "cursor_path": "meta.next_cursor"}, {"style": "query", "name": "api_key"}, 3),
    "next": ("/next", "results", {"style": "cursor", "next_url_path": "links.next"}, {"style": "bearer"}, 3),
    "none": ("/all", "", {"style": "none"}, None, 1),
}


def _source(base: str, path: str, records_path: str = "data.items", pagination: dict | None = None,
            auth: dict | None = None, **more) -> dict:
    source = {"kind": "http_api", "url": base + path, "records_path": records_path,
              "pagination": pagination or {"style": "page", "size": PAGE}, "backoff_s": 0.01, **more}
    if auth is not None:
        source |= {"auth": auth, "connection": "kc_test_api"}
    return source


def _validated_ids(outcome) -> list[int]:
    rows = duckdb.sql(f"SELECT reading_id FROM read_parquet('{outcome.validated_path}') ORDER BY reading_id").fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("style", list(STYLES))
def test_each_pagination_style_lands_every_record(lake, api, make_resource, style):
    base, server = api
    path, records_path, pagination, auth, pages = STYLES[style]
    resource = make_resource(_source(base, path, records_path, pagination, auth))
    result = pull(resource, lake, CREDENTIALS)
    assert (result.rows, result.pages) == (7, pages)
    assert result.source_uri == base + path and TOKEN not in result.source_uri
    assert result.file.parent == lake.lake / "state" / "pull" / "readings"
    assert not list(result.file.parent.glob(".tmp-*"))
    first = result.file.read_text(encoding="utf-8").splitlines()[0]
    assert first == ('{"day":"2026-01-01","measured_at":"2026-01-02 03:04:01","ok":false,"reading":1.5,'
                     '"reading_id":1,"station":"知识城1号站"}')  # canonical: sorted keys, compact, UTF-8
    ingested = land_and_validate(resource, result.file, lake)
    assert (ingested.outcome.accepted, ingested.outcome.quarantined) == (7, 0)
    assert _validated_ids(ingested.outcome) == list(range(1, 8))


def test_unchanged_content_gives_one_version_and_changed_content_a_second(lake, api, make_resource):
    base, server = api
    resource = make_resource(_source(base, "/page", auth={"style": "bearer"}))
    first = pull(resource, lake, CREDENTIALS)
    assert land_and_validate(resource, first.file, lake).version == 1
    commit(resource, lake, first)

    second = pull(resource, lake, CREDENTIALS)
    assert second.file != first.file and second.file.read_bytes() == first.file.read_bytes()
    assert land_file(resource, second.file, lake).skipped  # already landed: no new batch
    assert land_and_validate(resource, second.file, lake).version == 1
    commit(resource, lake, second)

    server.records[0]["station"] = "知识城改名站"
    third = pull(resource, lake, CREDENTIALS)
    assert not land_file(resource, third.file, lake).skipped
    assert land_and_validate(resource, third.file, lake).version == 2
    assert len(open_store(lake.catalog_url).resource("KC-TEST-001")[1]) == 2
    commit(resource, lake, third)
    state = json.loads(state_file(lake, "readings").read_text(encoding="utf-8"))
    assert state["rows"] == 7 and state["source_uri"] == base + "/page" and TOKEN not in json.dumps(state)


def test_429_then_500_are_retried(lake, api, make_resource):
    base, server = api
    resource = make_resource(_source(base, "/flaky", auth={"style": "bearer"}))
    result = pull(resource, lake, CREDENTIALS)
    assert (result.rows, result.pages) == (7, 3)
    assert server.calls["/flaky"] == 2 + 3  # 429 (Retry-After: 0), 500, then three pages
    assert land_and_validate(resource, result.file, lake).outcome.accepted == 7


def test_a_timeout_is_retried(lake, api, make_resource):
    base, server = api
    resource = make_resource(_source(base, "/slow", auth={"style": "bearer"}, timeout_s=0.3))
    started = time.monotonic()
    result = pull(resource, lake, CREDENTIALS)
    assert result.rows == 7 and server.calls["/slow"] == 1 + 3
    assert time.monotonic() - started < 5


def test_a_server_that_stays_down_fails_clearly_after_the_attempts(lake, api, make_resource, caplog):
    base, server = api
    resource = make_resource(_source(base, "/down", auth={"style": "query", "name": "api_key"}, attempts=3))
    with caplog.at_level("WARNING", logger="kcdata.pull"), pytest.raises(PullError) as caught:
        pull(resource, lake, CREDENTIALS)
    assert str(caught.value) == f"GET {base}/down?page=1&page_size=3: HTTP 503 Service Unavailable after 3 attempts"
    assert server.calls["/down"] == 3
    assert caplog.text.count("HTTP 503") == 2 and TOKEN not in caplog.text  # each retry logged, the key never
    assert not list((lake.lake / "state" / "pull" / "readings").glob("*"))  # nothing half-written left


@pytest.mark.parametrize("style", ["page", "offset", "cursor"])
def test_a_wrong_secret_names_the_url_and_status_never_the_secret(lake, api, make_resource, style):
    base, server = api
    path, records_path, pagination, auth, _ = STYLES[style]
    resource = make_resource(_source(base, path, records_path, pagination, auth))
    wrong = Credentials(password="wrong-secret-77", conn_type="http")
    with pytest.raises(PullError) as caught:
        pull(resource, lake, wrong)
    message = str(caught.value)
    assert isinstance(caught.value, KcdataError)
    assert f"{base}{path}" in message and "HTTP 401" in message and "kc_test_api" in message
    assert "wrong-secret-77" not in message and TOKEN not in message
    assert server.calls[path] == 1  # a refusal is not retried


def test_the_page_cap_stops_a_runaway_api(lake, api, make_resource):
    base, _ = api
    resource = make_resource(_source(base, "/page", pagination={"style": "page", "size": 1}, auth={"style": "bearer"}, max_pages=3))
    with pytest.raises(PullError, match="max_pages = 3"):
        pull(resource, lake, CREDENTIALS)


def test_a_next_link_to_another_host_is_not_followed(lake, api, make_resource):
    base, _ = api
    pagination = {"style": "cursor", "next_url_path": "links.next"}
    resource = make_resource(_source(base, "/elsewhere", "results", pagination, {"style": "bearer"}))
    with pytest.raises(PullError, match="example.invalid.*refusing"):
        pull(resource, lake, CREDENTIALS)


def test_wrong_records_path_is_named(lake, api, make_resource):
    base, _ = api
    resource = make_resource(_source(base, "/page", "data.rows", auth={"style": "bearer"}))
    with pytest.raises(PullError, match="no 'data.rows' in the answer"):
        pull(resource, lake, CREDENTIALS)


def test_credentials_come_from_an_airflow_connection(lake, api, make_resource, monkeypatch):
    """`orchestration.connections.credentials_for` reads AIRFLOW_CONN_<ID> (JSON here) through Airflow's Connection;
    a relative source.url is resolved on the connection's host."""
    from orchestration.connections import credentials_for

    base, _ = api
    port = int(base.rsplit(":", 1)[1])
    monkeypatch.setenv("AIRFLOW_CONN_KC_TEST_API", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port,
                                                               "schema": "http", "password": TOKEN}))
    credentials = credentials_for("kc_test_api")
    assert (credentials.host, credentials.port, credentials.password) == ("127.0.0.1", port, TOKEN)
    assert TOKEN not in repr(credentials)
    resource = make_resource(_source("", "/page", auth={"style": "bearer"}))
    result = pull(resource, lake, credentials)
    assert result.rows == 7 and result.source_uri == base + "/page"

    with pytest.raises(KcdataError, match="AIRFLOW_CONN_KC_NOT_THERE"):
        credentials_for("kc_not_there")
