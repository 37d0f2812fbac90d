"""Pull a PostgreSQL or MariaDB/MySQL table (or one SELECT) into a JSON-lines delivery file.

Rows stream through a server-side cursor (`stream_results` + `yield_per`) and are written chunk by
chunk, so memory stays bounded by `source.chunk_rows` whatever the table's size. Every value is
written as text the readers and the validator accept: timestamps `YYYY-MM-DD HH:MM:SS`
(timezone-aware ones in `source.timezone`), dates `YYYY-MM-DD`, decimals as exact digits,
booleans `true`/`false`.

`mode: incremental` takes only rows whose `watermark` column is above the last committed value,
ordered by it; the value is committed (`connectors.pull.commit`) only after the file landed, so
a failed landing is pulled again. The watermark should only grow (an identity column, or a
last-modified timestamp the database sets): rows arriving later with a value at or below the
committed one are not seen, and rows whose watermark is NULL are only taken by the first pull.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from json.encoder import encode_basestring  # C-accelerated; what json.dumps uses with ensure_ascii=False
from typing import Any
from zoneinfo import ZoneInfo

from catalog.model import Resource, Source
from common.settings import Paths
from connectors.pull import Credentials, PullError, PullResult
from connectors.pull.state import Delivery, delivery, load_state

log = logging.getLogger("kcdata.pull")

DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
# Airflow connection types (and URL schemes) of each dialect.
CONN_TYPES = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
# Connection extras passed on to the driver; anything else in extra (Airflow's own keys) is ignored.
DRIVER_EXTRAS = {
    "postgresql": {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options",
                   "target_session_attrs"},
    "mysql": {"charset", "connect_timeout", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_check_hostname"},
}


def pull_database(resource: Resource, paths: Paths, credentials: Credentials | None) -> PullResult:
    """Pull the table or query, full or since the last committed watermark."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    source = resource.source
    if credentials is None:
        raise PullError(f"{resource.code}: kind database needs the credentials of Airflow connection {source.connection}")
    dialect = _dialect(resource, credentials)
    uri = source_uri(source, dialect, credentials)
    previous = _previous_watermark(resource, paths)
    engine = sa.create_engine(_url(dialect, credentials), poolclass=NullPool)
    try:
        sql, params = _select(engine.dialect.identifier_preparer, source, previous)
        with delivery(paths, resource.table) as out, engine.connect() as conn:
            # a server-side cursor (psycopg ServerCursor, PyMySQL SSCursor), fetched chunk_rows at a time
            rows = conn.execution_options(stream_results=True).execute(sa.text(sql), params).yield_per(source.chunk_rows)
            last, chunks = _write_rows(rows, source, out)
            state = _watermark_state(source, last) if last is not None else (previous or {})
    except sa.exc.SQLAlchemyError as exc:
        raise PullError(f"{uri}: {_safe(exc, credentials)}") from None
    except PullError as exc:
        raise PullError(f"{uri}: {exc}") from None
    finally:
        engine.dispose()
    mark = state.get("watermark")
    log.info("%s: %d rows in %d chunks from %s (watermark %s)", resource.code, out.rows, chunks, uri, mark)
    return PullResult(file=out.target if out.rows else None, rows=out.rows, pages=chunks, watermark=mark, source_uri=uri, state=state)


def _write_rows(rows: Any, source: Source, out: Delivery) -> tuple[Any, int]:
    """Write every row as a canonical JSON line, a chunk at a time; (last watermark seen, chunks)."""
    columns = list(rows.keys())
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise PullError(f"the result has column {twice[0]!r} twice; give each column its own name (AS ...) in source.query")
    mark_at = None
    if source.mode == "incremental":
        if source.watermark not in columns:
            raise PullError(f"source.watermark {source.watermark!r} is not a column of the result (columns: {', '.join(columns)})")
        mark_at = columns.index(source.watermark)
    line = _line_writer(columns, ZoneInfo(source.timezone))
    last, chunks = None, 0
    for chunk in rows.partitions():
        out.write_lines([line(row) for row in chunk])
        chunks += 1
        if mark_at is not None:
            last = next((r[mark_at] for r in reversed(chunk) if r[mark_at] is not None), last)
    return last, chunks


def _line_writer(columns: list[str], zone: ZoneInfo) -> Callable[[Any], bytes]:
    """A function making a row's canonical JSON line: the bytes `state.canonical_line` gives for
    {column: text}, built directly because this runs once per row of tables of any size."""
    order = sorted(range(len(columns)), key=lambda i: columns[i])
    keys = [encode_basestring(columns[i]) + ":" for i in order]
    pairs = list(zip(keys, order, strict=True))

    def line(row: Any) -> bytes:
        parts = []
        for key, i in pairs:
            v = row[i]
            if v is None:
                parts.append(key + "null")
            else:
                parts.append(key + encode_basestring(v if type(v) is str else text_value(v, zone)))
        return ("{" + ",".join(parts) + "}\n").encode("utf-8")

    return line


def text_value(value: Any, zone: ZoneInfo) -> str:
    """One (non-null) database value as the text a department would have written in a file."""
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, datetime):  # timezone-aware: written as local time in `zone`
        if value.tzinfo is not None:
            value = value.astimezone(zone).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat(sep=" ")
    for kind, convert in _BY_SUPERTYPE:
        if isinstance(value, kind):
            return convert(value)
    return str(value)  # uuid.UUID, ipaddress, ranges...


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


# Exact types drivers return most, then their kin (subclasses, rarer types); order matters (bool is an int).
_BY_TYPE: dict[type, Callable[[Any], str]] = {
    int: repr,
    float: repr,
    bool: lambda v: "true" if v else "false",
    Decimal: lambda v: format(v, "f"),
    date: date.isoformat,
}
_BY_SUPERTYPE: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    (str, str),
    (bool, _BY_TYPE[bool]),
    (Decimal, _BY_TYPE[Decimal]),
    ((int, float), repr),
    (date, date.isoformat),
    (time, lambda v: v.replace(microsecond=0, tzinfo=None).isoformat()),
    (timedelta, lambda v: repr(v.total_seconds())),
    ((bytes, bytearray, memoryview), lambda v: bytes(v).hex()),
    ((dict, list), _json_text),
)


# The watermark is kept exactly (full precision, its type) so the next query compares like with like.
_MARK_TYPES: dict[str, Callable[[str], object]] = {"int": int, "decimal": Decimal, "float": float, "str": str,
               "datetime": datetime.fromisoformat, "date": date.fromisoformat}


def _watermark_state(source: Source, value: Any) -> dict[str, Any]:
    """What commit records: the highest watermark pulled, as exact text plus its type."""
    if isinstance(value, datetime):
        kind = "datetime"
    elif isinstance(value, date):
        kind = "date"
    elif isinstance(value, bool) or not isinstance(value, (int, Decimal, float, str, uuid.UUID)):
        raise PullError(f"source.watermark {source.watermark!r} holds {type(value).__name__} values; "
                        f"use a number, text, date or timestamp column")
    else:
        kind = {int: "int", Decimal: "decimal", float: "float"}.get(type(value), "str")
    text = value.isoformat() if isinstance(value, (datetime, date)) else str(value)
    return {"watermark": text, "watermark_type": kind, "watermark_column": source.watermark}


def _previous_watermark(resource: Resource, paths: Paths) -> dict[str, Any] | None:
    """The committed watermark state, if the entry still pulls incrementally on the same column."""
    source = resource.source
    if source.mode != "incremental":
        return None
    state = load_state(paths, resource.table)
    if state.get("watermark") is None:
        return None
    if state.get("watermark_column") != source.watermark or state.get("watermark_type") not in _MARK_TYPES:
        log.warning("%s: the committed watermark is for column %s; pulling everything again",
                    resource.code, state.get("watermark_column"))
        return None
    return {k: state[k] for k in ("watermark", "watermark_type", "watermark_column")}


def _select(quoter: Any, source: Source, previous: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The SELECT and its parameters; identifiers quoted by the dialect, values always bound."""
    if source.table:
        relation = ".".join(quoter.quote(part) for part in source.table.split("."))
    else:
        relation = f"({(source.query or '').strip().rstrip(';')}) AS kcdata_pull"
    sql, params = f"SELECT * FROM {relation}", {}
    order = list(source.order_by)
    if source.mode == "incremental":
        mark = quoter.quote(str(source.watermark))
        if previous:
            sql += f" WHERE {mark} > :watermark"
            params["watermark"] = _MARK_TYPES[previous["watermark_type"]](previous["watermark"])
        order = [str(source.watermark), *(c for c in order if c != source.watermark)]
    if order:
        sql += " ORDER BY " + ", ".join(quoter.quote(c) for c in order)
    return sql, params


def _dialect(resource: Resource, credentials: Credentials) -> str:
    if resource.source.dialect:
        return resource.source.dialect
    dialect = CONN_TYPES.get((credentials.conn_type or "").lower())
    if dialect is None:
        raise PullError(f"{resource.code}: cannot tell the database from Airflow connection {resource.source.connection} "
                        f"(type {credentials.conn_type!r}); set source.dialect to postgresql or mysql")
    return dialect


def _url(dialect: str, credentials: Credentials) -> Any:
    from sqlalchemy.engine import URL

    query = {k: str(v) for k, v in credentials.extra.items() if k in DRIVER_EXTRAS[dialect] and v is not None}
    if dialect == "mysql":
        query.setdefault("charset", "utf8mb4")
    return URL.create(DRIVERS[dialect], username=credentials.login, password=credentials.password,
                      host=credentials.host, port=credentials.port, database=credentials.schema, query=query)


def source_uri(source: Source, dialect: str, credentials: Credentials) -> str:
    """`postgresql://host:port/db/table` (a query: `.../db?query=<sha256 prefix>`), for lineage; no login, no secret."""
    where = f"{dialect}://{credentials.host or 'localhost'}" + (f":{credentials.port}" if credentials.port else "")
    where += f"/{credentials.schema or ''}"
    if source.table:
        return f"{where}/{source.table}"
    return f"{where}?query={hashlib.sha256((source.query or '').encode('utf-8')).hexdigest()[:12]}"


def _safe(exc: Exception, credentials: Credentials) -> str:
    """The driver's message (first line) without the SQL, and without the password should a driver echo it."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    text = lines[0][:300] if lines else ""
    if credentials.password:
        text = text.replace(credentials.password, "***")
    return f"{type(exc).__name__}: {text}"
