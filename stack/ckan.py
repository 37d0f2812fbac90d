"""CKAN 2.12 itself: its own virtualenv, its ini, its databases, the publisher account, the server
and its background jobs worker.

CKAN's pinned requirements clash with Airflow's, so it lives in `<home>/ckan-venv` and we drive it
through its `ckan` command (and helper scripts run by its Python). Every step first checks the
real state (venv stamp, ini values, tables, token row) so a warm `up` changes nothing.

CKAN is served as deployments serve it, not by its development server: gunicorn runs CKAN's WSGI
entry (`make_app` on the ini, stack/_ckan_wsgi.py) with WORKERS processes of THREADS threads each,
and `ckan jobs worker` (RQ on Redis) runs CKAN's background jobs as a program of its own.
"""
from __future__ import annotations

import base64
import configparser
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from common.sqltext import literal
from stack import postgres
from stack import secrets as sec
from stack.layout import (
    CKAN_BOOTSTRAP,
    CKAN_EXTENSION,
    CKAN_PORT,
    CKAN_REQUIREMENTS,
    CKAN_VERSION,
    CKAN_WSGI,
    DATASET_SCHEMA,
    HOST,
    PG_PORT,
    PUBLISHER,
    REDIS_PORT,
    Layout,
    ckan_url,
    solr_url,
)
from stack.proc import PortalError, http_json, run, wait_until
from stack.supervisor import Program, info

if TYPE_CHECKING:
    from redis import Redis

PLUGINS = (
    "kcdata activity datastore datatables_view image_view text_view "
    "scheming_datasets dcat dcat_json_interface structured_data"
)
RDF_PROFILES = "euro_dcat_ap_3 kcdata"  # ckanext-dcat's DCAT-AP 3, then ours (portal/ckan/ckanext-kcdata)
TOKEN_NAME = "kcdata"
_REDIS_DB = 1  # keep CKAN's keys apart from anything else on the same Redis

JOBS = "ckan-jobs"  # the supervisord program of CKAN's background jobs worker
# gunicorn: CKAN's requests mostly wait on PostgreSQL, Solr and the disk, and a Python process uses
# one core at a time (GIL). On 2 cores, 4 processes (2 a core) keep both cores busy while leaving
# room for PostgreSQL and Solr on the same cores; 4 threads each let a process serve other
# requests while one waits. Threads (gthread), not sync workers: nothing buffers in front of CKAN
# here (no nginx), so a slow client or a large download would hold a sync worker for its whole
# duration, and a sync worker is killed after --timeout even while a long publish upload or
# DataStore load is legitimately running. Measured: bench/README.md, "The portal under load".
WORKERS = 4
THREADS = 4
TIMEOUT_S = 120  # a worker silent this long is restarted (gthread: the worker loop, not a request)
KEEPALIVE_S = 75  # seconds an idle keep-alive connection stays open


# --- virtualenv -------------------------------------------------------------------------------

def _bin(layout: Layout, name: str) -> Path:
    return layout.ckan_venv / "bin" / name


def _stamp(layout: Layout) -> Path:
    return layout.ckan_venv / ".kcdata-requirements"


def _base_python() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if found is None:
        raise PortalError("CKAN 2.12 needs Python 3.11 for its virtualenv; python3.11 not found")
    return found


def extension_digest() -> str:
    """SHA-256 over our extension's files (names and bytes): a change means a re-install."""
    h = hashlib.sha256()
    for path in sorted(CKAN_EXTENSION.rglob("*")):
        rel = path.relative_to(CKAN_EXTENSION)
        if not path.is_file() or any(part in ("__pycache__", "build") or part.endswith(".egg-info") for part in rel.parts):
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp_lines() -> list[str]:
    return [*CKAN_REQUIREMENTS, f"ckanext-kcdata {extension_digest()}"]


def venv_ready(layout: Layout) -> bool:
    stamp = _stamp(layout)
    return (_bin(layout, "ckan").exists() and stamp.exists()
            and stamp.read_text().splitlines() == _stamp_lines())


def ensure_venv(layout: Layout) -> bool:
    """Create the venv and pip-install CKAN, its extensions and ours unless already done (our
    extension again whenever its files changed). True when something was installed now."""
    if venv_ready(layout):
        return False
    log = layout.log("pip-ckan")
    if not _bin(layout, "python").exists():
        run([_base_python(), "-m", "venv", layout.ckan_venv], what="python -m venv (CKAN)", log=log)
    stamp = _stamp(layout)
    installed = stamp.read_text().splitlines() if stamp.exists() else []
    if installed[:len(CKAN_REQUIREMENTS)] != list(CKAN_REQUIREMENTS):
        run([_bin(layout, "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *CKAN_REQUIREMENTS], what="pip install CKAN", log=log, timeout=1800)
    _install_extension(layout, log)
    stamp.write_text("\n".join(_stamp_lines()) + "\n")
    return True


def _install_extension(layout: Layout, log: Path) -> None:
    """pip-install a copy of portal/ckan/ckanext-kcdata (not editable: the CKAN venv never
    imports from the checkout, and building from a copy leaves no build/ or egg-info there)."""
    copy = layout.run / "ckanext-kcdata"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(CKAN_EXTENSION, copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    try:
        run([_bin(layout, "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--no-deps", "--force-reinstall", copy], what="pip install ckanext-kcdata", log=log, timeout=600)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def solr_schema(layout: Layout) -> Path:
    """CKAN's own Solr schema.xml, from the installed package."""
    found = sorted(layout.ckan_venv.glob("lib/python*/site-packages/ckan/config/solr/schema.xml"))
    if not found:
        raise PortalError(f"ckan/config/solr/schema.xml not found in {layout.ckan_venv}")
    return found[-1]


def ckan_cli(layout: Layout, *args: str | Path, what: str, capture: bool = False) -> str:
    result = run([_bin(layout, "ckan"), "-c", layout.ckan_ini, *args], what=what,
                 log=None if capture else layout.log("ckan-cli"), capture=capture,
                 env={"CKAN_INI": str(layout.ckan_ini)}, cwd=layout.home)
    return result.stdout if capture else ""


# --- configuration ----------------------------------------------------------------------------

def desired_options(layout: Layout, secrets: dict[str, str]) -> dict[str, str]:
    """The ini options we own; everything else stays as `ckan generate config` wrote it."""
    ckan_pw = secrets[sec.PG_CKAN_PASSWORD]
    ds_pw = secrets[sec.PG_DATASTORE_PASSWORD]
    pg = f"{HOST}:{PG_PORT}"
    return {
        "ckan.site_url": ckan_url(),
        **_catalog_options(),
        "ckan.site_title": "知识城开放数据 Knowledge City Open Data",
        "ckan.site_description": "中新广州知识城公共数据开放平台 Sino-Singapore Guangzhou Knowledge City open data",
        "sqlalchemy.url": f"postgresql://{postgres.CKAN_ROLE}:{ckan_pw}@{pg}/{postgres.CKAN_DB}",
        "ckan.datastore.write_url": f"postgresql://{postgres.CKAN_ROLE}:{ckan_pw}@{pg}/{postgres.DATASTORE_DB}",
        "ckan.datastore.read_url": f"postgresql://{postgres.DATASTORE_ROLE}:{ds_pw}@{pg}/{postgres.DATASTORE_DB}",
        # full-text index of a DataStore table: GIN, not CKAN's default GiST (at 1M rows GiST took
        # ~45 s of a reload to maintain, GIN ~25 s; GIN is also the faster index to search)
        "ckan.datastore.default_fts_index_method": "gin",
        "solr_url": f"{solr_url()}/ckan",
        "ckan.redis.url": f"redis://{HOST}:{REDIS_PORT}/{_REDIS_DB}",
        "ckan.storage_path": str(layout.storage),
        "ckan.plugins": PLUGINS,
        "scheming.dataset_schemas": DATASET_SCHEMA.as_uri(),
        "scheming.presets": "ckanext.scheming:presets.json",
        "scheming.dataset_fallback": "false",
        "ckan.views.default_views": "image_view datatables_view",
        "ckan.max_resource_size": "500",
        "ckan.auth.create_unowned_dataset": "false",
        "ckan.locale_default": "zh_Hans_CN",
        "ckan.locales_offered": "zh_Hans_CN en",
        "ckan.devserver.host": HOST,
        "ckan.devserver.port": str(CKAN_PORT),
        "ckan.devserver.threaded": "true",
        "debug": "false",
    }


def _catalog_options() -> dict[str, str]:
    """ckanext-dcat and our profile's catalog-level settings: the catalog's publisher is the data
    bureau (catalog/resources/bureau.yaml), its languages and place those of catalog.dcat_terms."""
    from catalog import dcat_terms
    from catalog.entries import load_bureau

    bureau = load_bureau()
    return {
        "ckanext.dcat.rdf.profiles": RDF_PROFILES,
        "ckanext.dcat.base_uri": ckan_url(),
        "ckanext.kcdata.publisher_uri": f"{ckan_url()}/about#publisher",
        "ckanext.kcdata.publisher_name_zh": bureau.name,
        "ckanext.kcdata.publisher_name_en": bureau.name_en,
        "ckanext.kcdata.publisher_email": bureau.email,
        "ckanext.kcdata.languages": " ".join(dcat_terms.languages()),
        "ckanext.kcdata.spatial_uri": dcat_terms.spatial(),
    }


def _read_ini(path: Path) -> dict[str, str]:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep SECRET_KEY's case
    parser.read(path)
    return dict(parser["app:main"]) if parser.has_section("app:main") else {}


def write_config(layout: Layout, secrets: dict[str, str]) -> bool:
    """Generate ckan.ini once (it holds CKAN's random SECRET_KEY), then set our options. True when changed."""
    ini = layout.ckan_ini
    if not ini.exists():
        run([_bin(layout, "ckan"), "generate", "config", ini], what="ckan generate config",
            log=layout.log("ckan-cli"), cwd=layout.home)
    os.chmod(ini, 0o600)  # it holds database passwords
    current = _read_ini(ini)
    wanted = desired_options(layout, secrets)
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not changes:
        return False
    merge = layout.run / "ckan-options.ini"
    merge.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(merge, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("[app:main]\n" + "".join(f"{k} = {v}\n" for k, v in changes.items()))
    try:
        run([_bin(layout, "ckan"), "config-tool", ini, "-f", merge], what="ckan config-tool",
            log=layout.log("ckan-cli"), cwd=layout.home)
    finally:
        merge.unlink(missing_ok=True)
    os.chmod(ini, 0o600)
    missing = [k for k, v in wanted.items() if _read_ini(ini).get(k) != v]
    if missing:
        raise PortalError(f"ckan config-tool did not set: {', '.join(missing)} in {ini}")
    return True


# --- databases --------------------------------------------------------------------------------

def _db_stamp(layout: Layout) -> Path:
    return layout.run / "ckan-db.stamp"


def _db_stamp_text() -> str:
    return f"ckan {CKAN_VERSION}\nplugins {PLUGINS}\n"


def init_db(layout: Layout) -> bool:
    """`ckan db init` (core + plugin migrations) on a new database or when the plugins changed."""
    has_tables = postgres.psql(layout, "SELECT to_regclass('public.package') IS NOT NULL;",
                               db=postgres.CKAN_DB) == "t"
    stamp = _db_stamp(layout)
    if has_tables and stamp.exists() and stamp.read_text() == _db_stamp_text():
        return False
    ckan_cli(layout, "db", "init", what="ckan db init")
    stamp.write_text(_db_stamp_text())
    return True


def _assets_stamp(layout: Layout) -> Path:
    return layout.run / "ckan-assets.stamp"


def build_assets(layout: Layout) -> bool:
    """`ckan asset build` before the server starts, once per CKAN, plugins and extension. Left to
    the first page views, each gunicorn worker builds the bundles itself, and a worker that reads
    a bundle another one is still writing answers 500 ("Cannot find version of <Bundle ...>"): on a
    fresh portal, concurrent first visitors got errors. True when built."""
    text = _db_stamp_text() + f"extension {extension_digest()}\n"
    stamp, built = _assets_stamp(layout), layout.storage / "webassets"
    if stamp.exists() and stamp.read_text() == text and built.is_dir() and any(built.iterdir()):
        return False
    ckan_cli(layout, "asset", "build", what="ckan asset build")
    stamp.write_text(text)
    return True


def set_datastore_permissions(layout: Layout) -> bool:
    """Apply `ckan datastore set-permissions` as the superuser, once per datastore database."""
    done = postgres.psql(layout, "SELECT count(*) FROM pg_proc WHERE proname = 'populate_full_text_trigger';",
                         db=postgres.DATASTORE_DB)
    if done not in ("", "0"):
        return False
    sql = ckan_cli(layout, "datastore", "set-permissions", what="ckan datastore set-permissions", capture=True)
    if "GRANT" not in sql.upper():
        raise PortalError("ckan datastore set-permissions printed no SQL")
    postgres.psql(layout, sql, db=postgres.DATASTORE_DB)
    return True


# --- publisher account ------------------------------------------------------------------------

def _token_id(token: str) -> str | None:
    """The `jti` claim of a CKAN API token (a JWT), without verifying it: we only look it up."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["jti"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def publisher_ready(layout: Layout, secrets: dict[str, str]) -> bool:
    """The stored token still belongs to an active sysadmin `kcdata_publisher`."""
    token = secrets.get(sec.CKAN_API_TOKEN, "")
    jti = _token_id(token) if token else None
    if jti is None:
        return False
    found = postgres.psql(layout, f"""
SELECT count(*) FROM api_token t JOIN "user" u ON u.id = t.user_id
WHERE t.id = {literal(jti)} AND u.name = {literal(PUBLISHER)} AND u.sysadmin AND u.state = 'active';
""", db=postgres.CKAN_DB)
    return found == "1"


def ensure_publisher(layout: Layout) -> bool:
    """Sysadmin `kcdata_publisher` with a password and an API token in secrets.env. True when made now."""
    secrets = sec.ensure(layout.secrets_file, sec.CKAN_PUBLISHER_PASSWORD)
    if publisher_ready(layout, secrets):
        return False
    result = run([_bin(layout, "python"), "-I", CKAN_BOOTSTRAP, layout.ckan_ini], what="create CKAN publisher",
                 capture=True, cwd=layout.home,
                 env={"CKAN_INI": str(layout.ckan_ini), "BOOTSTRAP_PUBLISHER": PUBLISHER,
                      "BOOTSTRAP_PUBLISHER_PASSWORD": secrets[sec.CKAN_PUBLISHER_PASSWORD],
                      "BOOTSTRAP_TOKEN_NAME": TOKEN_NAME})
    token = None
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            token = json.loads(line).get("token")
            break
    if not token:
        raise PortalError("creating the CKAN publisher printed no API token")
    sec.update(layout.secrets_file, **{sec.CKAN_API_TOKEN: token, sec.CKAN_URL: ckan_url()})
    return True


# --- server -----------------------------------------------------------------------------------

def status_show() -> dict | None:
    status, body = http_json(f"{ckan_url()}/api/3/action/status_show", timeout=5)
    if status == 200 and isinstance(body, dict) and body.get("success"):
        return body["result"]
    return None


def _inputs_digest(layout: Layout) -> str:
    """What the running server has loaded: its ini, our scheming schema, our extension, the WSGI entry."""
    h = hashlib.sha256()
    for path in (layout.ckan_ini, DATASET_SCHEMA, CKAN_WSGI):
        h.update(path.read_bytes() if path.exists() else b"")
    h.update(extension_digest().encode())
    return h.hexdigest()


def _inputs_stamp(layout: Layout) -> Path:
    return layout.run / "ckan-inputs.sha256"


def stale(layout: Layout) -> bool:
    """The running server was started with another ini, schema, extension or WSGI entry than the current ones."""
    stamp = _inputs_stamp(layout)
    return not stamp.exists() or stamp.read_text().strip() != _inputs_digest(layout)


def write_wsgi(layout: Layout) -> bool:
    """Copy CKAN's WSGI entry (stack/_ckan_wsgi.py) into the state folder for gunicorn. True when changed."""
    text = CKAN_WSGI.read_text()
    target = layout.ckan_wsgi
    if target.exists() and target.read_text() == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return True


def program(layout: Layout) -> Program:
    """CKAN's web server: gunicorn, WORKERS processes x THREADS threads, on 127.0.0.1:5000.

    Each worker loads the app itself after the fork (no --preload): CKAN opens database
    connections while it starts, and a forked connection pool must not be shared."""
    layout.storage.mkdir(parents=True, exist_ok=True)
    wsgi = layout.ckan_wsgi
    return Program(
        name="ckan",
        command=(str(_bin(layout, "gunicorn")), "--name", "ckan", "--bind", f"{HOST}:{CKAN_PORT}",
                 "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
                 "--timeout", str(TIMEOUT_S), "--graceful-timeout", "30",
                 "--max-requests", "5000", "--max-requests-jitter", "500",  # bounds a leak's growth
                 # idle keep-alive connections stay open 75 s (gunicorn's 2 s default closes them just as a
                 # client polling every ~2 s reuses one: "connection reset by peer"), longer than a proxy's 60 s
                 "--keep-alive", str(KEEPALIVE_S),
                 "--access-logfile", "-",
                 "--no-control-socket",  # else one socket in ~/.gunicorn for every instance; supervisord controls it
                 "--pythonpath", str(wsgi.parent), f"{wsgi.stem}:application"),
        directory=layout.home, environment={"CKAN_INI": str(layout.ckan_ini)}, startsecs=5, stopwaitsecs=40,
        port=CKAN_PORT,
    )


def jobs_program(layout: Layout) -> Program:
    """CKAN's background jobs worker (`ckan jobs worker`: RQ on CKAN's Redis, its default queue).
    TERM lets a running job finish (RQ's warm shutdown) within stopwaitsecs."""
    return Program(
        name=JOBS,
        command=(str(_bin(layout, "ckan")), "-c", str(layout.ckan_ini), "jobs", "worker"),
        directory=layout.home, environment={"CKAN_INI": str(layout.ckan_ini)}, startsecs=5, stopwaitsecs=60,
    )


def jobs_url() -> str:
    return f"redis://{HOST}:{REDIS_PORT}/{_REDIS_DB}"


def mark_started(layout: Layout) -> None:
    """Remember which ini and schema the running server loaded (see `stale`)."""
    _inputs_stamp(layout).write_text(_inputs_digest(layout) + "\n")


def wait_ready(layout: Layout) -> None:
    wait_until(lambda: status_show() is not None, what="CKAN", timeout=180, log=layout.log("ckan"))


def _workers(pid: int | None) -> int:
    """gunicorn's worker processes: the children of its master (the pid supervisord watches)."""
    if not pid:
        return 0
    try:
        return len(psutil.Process(pid).children())
    except psutil.Error:
        return 0


def health(layout: Layout) -> tuple[bool, str | None, str]:
    info_ = status_show()
    if info_ is None:
        return False, None, ""
    workers = _workers(info(layout).get("ckan", {}).get("pid"))
    served = f"gunicorn {workers} workers x {THREADS} threads; "
    return True, info_.get("ckan_version"), served + "plugins: " + " ".join(info_.get("extensions", []))


def jobs_health(layout: Layout) -> tuple[bool, str | None, str]:
    """The worker supervisord runs has registered with RQ (its key in Redis, refreshed by its
    heartbeat, expires when it dies) and listens on CKAN's default queue."""
    import redis as redis_py  # redis-py, the real client (not stack/redis.py)

    pid = info(layout).get(JOBS, {}).get("pid")
    try:
        client = redis_py.Redis(host=HOST, port=REDIS_PORT, db=_REDIS_DB, socket_timeout=2, decode_responses=True)
        for key in client.smembers("rq:workers"):
            worker = client.hgetall(key)
            if worker and str(worker.get("pid")) == str(pid):
                return True, f"rq {worker.get('version')}", f"rq worker on {worker.get('queues', '')}"
        if pid and _recent_heartbeat(client):  # Redis lost the registry (restarted without it); the worker goes on
            return True, None, "rq worker heartbeat (registry lost with a Redis restart)"
    except redis_py.RedisError as exc:
        return False, None, f"redis: {exc}"
    return False, None, "no RQ worker registered by this process"


def _recent_heartbeat(client: Redis, within: float = 120) -> bool:
    """Whether some RQ worker key was refreshed by its heartbeat lately (RQ rewrites it even after
    Redis lost the worker's registration)."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    for key in client.scan_iter(match="rq:worker:*", count=100):
        beat = client.hget(key, "last_heartbeat") if client.type(key) == "hash" else None
        if beat:
            when = datetime.fromisoformat(beat.replace("Z", "+00:00"))
            if (now - (when if when.tzinfo else when.replace(tzinfo=timezone.utc))).total_seconds() < within:
                return True
    return False
