"""Airflow 3.3 as four services on the system's PostgreSQL: api-server (UI + REST), scheduler,
dag-processor and triggerer, LocalExecutor with a small pool of workers by default, or the
CeleryExecutor with separate worker programs and Flower (stack/celery.py, `KCDATA_EXECUTOR=celery`).

What is ours here is only the set-up: the environment every Airflow process gets (built from the
secrets file and `system.env`, never written into supervisord's config), the admin password file
the simple auth manager reads (mode 0600), the metadata DB migration and the `dbt` pool (one dbt
run at a time: DuckDB locks its file). Starting, stopping and restarting is supervisord's.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from stack import celery
from stack import secrets as sec
from stack.layout import AIRFLOW_PORT, HOST, PG_PORT, PROJECT_ROOT, Layout, airflow_url, ckan_url
from stack.postgres import AIRFLOW_DB, AIRFLOW_ROLE
from stack.proc import PortalError, http_json, run
from stack.supervisor import Program

ADMIN = "admin"
PARSE_INTERVAL = "KCDATA_PARSE_INTERVAL"  # a setting of the shell that runs `kcdata up`
DEFAULT_PARSE_INTERVAL = 5  # seconds
DBT_POOL = "dbt"
PUBLISH_POOL = "publish"
# One-slot pools `kcdata up` creates: one dbt run at a time (DuckDB locks its file); one publisher
# at a time (the chain's batch and a publish after an approval update the same CKAN datasets)
POOLS = {DBT_POOL: "one dbt run at a time (DuckDB locks its file)", PUBLISH_POOL: "one publisher of the portal at a time"}
API_SERVER = "airflow-api-server"
SERVICES = (API_SERVER, "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
_ARGS = {
    "airflow-api-server": ("api-server", "--host", HOST, "--port", str(AIRFLOW_PORT), "--workers", "1"),
    "airflow-scheduler": ("scheduler", "--skip-serve-logs"),
    "airflow-dag-processor": ("dag-processor",),
    "airflow-triggerer": ("triggerer", "--skip-serve-logs"),
}
_PORTS = {"airflow-api-server": AIRFLOW_PORT, celery.FLOWER: celery.FLOWER_PORT}
_TELEMETRY_OFF = {
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
}


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def ensure_secrets(layout: Layout) -> dict[str, str]:
    """Airflow's generated secrets (admin password, JWT and API keys, Fernet key), made once."""
    values = sec.ensure(layout.secrets_file, sec.PG_AIRFLOW_PASSWORD, sec.AIRFLOW_ADMIN_PASSWORD,
                        sec.AIRFLOW_API_SECRET_KEY)
    extra = {}
    if len(values.get(sec.AIRFLOW_JWT_SECRET, "")) < 64:
        extra[sec.AIRFLOW_JWT_SECRET] = sec.new_password() + sec.new_password() + sec.new_password()
    if not values.get(sec.AIRFLOW_FERNET_KEY):
        extra[sec.AIRFLOW_FERNET_KEY] = new_fernet_key()
    if extra:
        values = sec.update(layout.secrets_file, **extra)
    _write_private(layout.airflow_passwords, json.dumps({ADMIN: values[sec.AIRFLOW_ADMIN_PASSWORD]}))
    return values


def _write_private(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text and path.stat().st_mode & 0o777 == 0o600:
        return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def metadata_url(secrets: dict[str, str]) -> str:
    return f"postgresql+psycopg://{AIRFLOW_ROLE}:{secrets[sec.PG_AIRFLOW_PASSWORD]}@{HOST}:{PG_PORT}/{AIRFLOW_DB}"


def environment(layout: Layout, service: str | None = None) -> dict[str, str]:
    """Everything an Airflow process of this system needs, secrets included: hand it to a process,
    never write it down or print it. A Celery worker also gets its own name (its tasks' hostname)."""
    secrets = sec.load(layout.secrets_file)
    settings = sec.load(layout.system_env)
    home = layout.airflow_home
    db = metadata_url(secrets)
    env = {
        **settings,
        **_TELEMETRY_OFF,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": secrets.get(sec.AIRFLOW_FERNET_KEY, ""),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(layout.airflow_passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url()}/execution/",
        "AIRFLOW__API__BASE_URL": airflow_url(),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
        "AIRFLOW__API__SECRET_KEY": secrets.get(sec.AIRFLOW_API_SECRET_KEY, ""),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.get(sec.AIRFLOW_JWT_SECRET, ""),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": db,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": parse_interval(settings),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # an idle scheduler looks again after 0.25 s (Airflow's default: 1 s): a task's end reaches
        # the next task, and a delivery's event its run, that much sooner
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
        # Airflow imports airflow_local_settings from here: the scheduler and Celery workers preload
        # the heavy libraries their task processes inherit (orchestration/warm_imports.py)
        "PYTHONPATH": str(PROJECT_ROOT / "orchestration" / "airflow_settings"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    env.update(celery.environment(settings, db))
    if service and service.startswith(celery.WORKER_PREFIX):
        env[celery.WORKER_NAME] = celery.node_name(service)
    token = secrets.get(sec.CKAN_API_TOKEN)
    if token:
        env["AIRFLOW_CONN_KCDATA_CKAN"] = json.dumps({"conn_type": "http", "host": secrets.get(sec.CKAN_URL) or ckan_url(),
                                                      "password": token})
    return env


def parse_interval(settings: dict[str, str]) -> str:
    """Seconds between two parses of a DAG file: 5 by default, so that a catalog edit shows at once;
    `KCDATA_PARSE_INTERVAL` raises it for a big catalog, whose ingest file costs ~2.5 ms of CPU per
    resource at every parse (docs/engineers/scale-out.md)."""
    value = (settings.get(PARSE_INTERVAL) or str(DEFAULT_PARSE_INTERVAL)).strip()
    if not value.isdigit() or int(value) < 1:
        raise PortalError(f"{PARSE_INTERVAL}={value!r}: give the seconds between two parses of a DAG file, e.g. 60")
    return value


def settings_digest(layout: Layout) -> str:
    """Changes when anything the services were started with changes (secrets included, hashed), so
    that supervisord restarts them: it is part of their command line."""
    digest = hashlib.sha256()
    for path in (layout.secrets_file, layout.system_env):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:12]


def service_names(layout: Layout) -> list[str]:
    """The Airflow services this system runs: the four core ones, plus Celery workers and Flower
    when the settings ask for the CeleryExecutor."""
    return [*SERVICES, *celery.programs(sec.load(layout.system_env))]


def is_service(name: str) -> bool:
    return name in SERVICES or celery.is_service(name)


def programs(layout: Layout) -> list[Program]:
    parse_interval(sec.load(layout.system_env))  # a wrong value stops `up` here, not each service at its start
    digest = settings_digest(layout)
    python = str(Path(sys.executable))
    return [
        Program(name=name, command=(python, "-m", "stack.launch", name, digest), directory=layout.airflow_home,
                environment={"KCDATA_SYSTEM_HOME": str(layout.home)},
                startsecs=5, stopwaitsecs=40, port=_PORTS.get(name))
        for name in service_names(layout)
    ]


def command(name: str) -> list[str]:
    """The real command of one service (stack.launch execs it)."""
    args = celery.command_args(name) if celery.is_service(name) else _ARGS[name]
    return [str(Path(sys.executable).parent / "airflow"), *args]


def _cli(layout: Layout, *args: str, what: str) -> None:
    run(command("airflow-scheduler")[:1] + list(args), what=what, log=layout.log("airflow-setup"),
        env=environment(layout), cwd=layout.airflow_home)


def prepare(layout: Layout) -> bool:
    """Migrate the metadata DB and create the pools, once per Airflow version, database and pools.
    True when something was done."""
    from importlib.metadata import version

    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    (layout.airflow_home / "plugins").mkdir(exist_ok=True)
    stamp = layout.run / "airflow-db.stamp"
    want = hashlib.sha256(f"{version('apache-airflow')}|{metadata_url(sec.load(layout.secrets_file))}|{sorted(POOLS)}".encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want:
        return False
    _cli(layout, "db", "migrate", what="airflow db migrate")
    for pool, why in POOLS.items():
        _cli(layout, "pools", "set", pool, "1", why, what="airflow pools set")
    stamp.write_text(want + "\n")
    return True


def health(layout: Layout | None = None) -> dict[str, str]:
    """component -> status from the api-server's /api/v2/monitor/health, plus `celery:<worker>`
    for each Celery worker that answers a ping; empty when the api-server does not answer."""
    # generous: on a busy machine (two cores, tasks running) the api-server can take seconds to answer
    status, body = http_json(f"{airflow_url()}/api/v2/monitor/health", timeout=15)
    if status != 200 or not isinstance(body, dict):
        return {}
    out = {k: (v or {}).get("status") or "unknown" for k, v in body.items() if isinstance(v, dict) or v is None}
    if layout is not None:
        out.update({f"celery:{node}": "healthy" for node in celery.ping(sec.load(layout.system_env))})
    return out


def service_health(name: str, components: dict[str, str]) -> tuple[bool, str | None, str]:
    """One Airflow service as the api-server sees it."""
    if not components:
        return False, None, "api-server not answering"
    if celery.is_service(name):
        return celery.service_health(name, {k.split(":", 1)[1] for k in components if k.startswith("celery:")})
    key = {"airflow-api-server": "metadatabase", "airflow-scheduler": "scheduler",
           "airflow-dag-processor": "dag_processor", "airflow-triggerer": "triggerer"}[name]
    state = components.get(key, "unknown")
    from importlib.metadata import version

    return state == "healthy", version("apache-airflow"), state if key != "metadatabase" else "UI and REST API"
