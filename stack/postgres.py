"""PostgreSQL for CKAN: a dedicated cluster under `<home>/pg`, listening on 127.0.0.1:5432 only.

A cluster of our own (rather than Debian's `main`) needs no systemd, survives nothing else on
the machine touching it, and goes away with the state folder. When we run as root the server
runs as the `postgres` user (PostgreSQL refuses root); the superuser connects over a Unix socket
in our state folder with peer authentication, and CKAN over TCP with scram-sha-256 passwords.
"""
from __future__ import annotations

import getpass
import shutil
from collections.abc import Sequence
from pathlib import Path

from common.sqltext import literal
from stack import secrets as sec
from stack.layout import HOST, PG_PORT, Layout
from stack.packages import pg_bin_dir
from stack.proc import PortalError, is_root, run
from stack.supervisor import Program

AIRFLOW_DB = "airflow"
CATALOG_DB = CATALOG_ROLE = "kcdata_catalog"  # the catalog store of a system whose lake is on S3
AIRFLOW_ROLE = "airflow"
CKAN_DB = "ckan_default"
CKAN_ROLE = "ckan_default"
DATASTORE_DB = "datastore_default"
DATASTORE_ROLE = "datastore_default"

_OS_USER = "postgres"


def _bin(name: str) -> Path:
    bindir = pg_bin_dir()
    if bindir is None:
        raise PortalError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return bindir / name


def _superuser() -> str:
    return _OS_USER if is_root() else getpass.getuser()


def _as_pg(cmd: Sequence[str | Path]) -> list[str]:
    """Run as the `postgres` OS user when we are root (PostgreSQL will not run as root)."""
    args = [str(c) for c in cmd]
    return ["runuser", "-u", _OS_USER, "--", *args] if is_root() else args


def _own(path: Path) -> None:
    if is_root():
        shutil.chown(path, _OS_USER, _OS_USER)


def _settings(layout: Layout) -> str:
    return (
        "# Written by stack/postgres.py at every start.\n"
        f"listen_addresses = '{HOST}'\n"
        f"port = {PG_PORT}\n"
        f"unix_socket_directories = '{layout.pg_socket_dir}'\n"
        "max_connections = 100\n"
        "shared_buffers = 128MB\n"
        # never echo a failing statement into the log: it may carry a password
        "log_min_error_statement = panic\n"
        "log_timezone = 'UTC'\n"
        "timezone = 'UTC'\n"
    )


def _check_reachable(folder: Path) -> None:
    """The `postgres` user must be able to walk down to our state folder."""
    for part in [folder, *folder.parents]:
        if part.exists() and not part.stat().st_mode & 0o001:
            raise PortalError(
                f"the postgres user cannot enter {part} (mode {oct(part.stat().st_mode & 0o777)}); "
                f"put the system's state elsewhere with KCDATA_SYSTEM_HOME (e.g. /var/tmp/kcdata-system)"
            )


def initialised(layout: Layout) -> bool:
    return (layout.pg_data / "PG_VERSION").exists()


def init_cluster(layout: Layout) -> bool:
    """initdb once. Returns True when a new cluster was made."""
    if initialised(layout):
        return False
    data = layout.pg_data
    if is_root():
        _check_reachable(data.parent)
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    _own(data)
    log = layout.log("postgres-init")
    log.parent.mkdir(parents=True, exist_ok=True)
    run(_as_pg([_bin("initdb"), "-D", data, "--username", _superuser(), "--encoding", "UTF8",
                "--locale", "C.UTF-8", "--auth-local", "peer", "--auth-host", "scram-sha-256"]),
        what="initdb", log=log, cwd=Path("/"))
    conf = data / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write("\n# kcdata portal: loopback only, settings in kcdata.conf\ninclude_if_exists = 'kcdata.conf'\n")
    return True


def ready() -> bool:
    bindir = pg_bin_dir()
    if bindir is None:
        return False
    result = run([bindir / "pg_isready", "-q", "-h", HOST, "-p", str(PG_PORT)],
                 what="pg_isready", capture=True, check=False)
    return result.returncode == 0


def prepare(layout: Layout) -> None:
    """Settings and socket folder, written before every start (supervisord runs `postgres -D`)."""
    (layout.pg_data / "kcdata.conf").write_text(_settings(layout))
    _own(layout.pg_data / "kcdata.conf")
    sock = layout.pg_socket_dir
    sock.mkdir(parents=True, exist_ok=True)
    _own(sock)


def program(layout: Layout) -> Program:
    """The server in the foreground; SIGINT is PostgreSQL's fast shutdown."""
    return Program(
        name="postgres", command=(str(_bin("postgres")), "-D", str(layout.pg_data)),
        directory=Path("/"), user=_OS_USER if is_root() else None, stopsignal="INT", stopwaitsecs=60,
        startsecs=2, port=PG_PORT,
    )


def psql(layout: Layout, sql: str, *, db: str = "postgres") -> str:
    """Run SQL as the superuser over our Unix socket; SQL goes on stdin, never on a command line."""
    result = run(
        _as_pg([_bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", layout.pg_socket_dir, "-p", str(PG_PORT), "-U", _superuser(), "-d", db, "-f", "-"]),
        what=f"psql ({db})", input=sql, capture=True, cwd=Path("/"),
    )
    return result.stdout.strip()


def ensure_databases(layout: Layout, secrets: dict[str, str]) -> None:
    """Roles and databases of CKAN, its DataStore and Airflow's metadata (idempotent)."""
    ckan_pw = secrets[sec.PG_CKAN_PASSWORD]
    ds_pw = secrets[sec.PG_DATASTORE_PASSWORD]
    af_pw = secrets[sec.PG_AIRFLOW_PASSWORD]
    psql(layout, f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal(CKAN_ROLE)}) THEN
    CREATE ROLE {CKAN_ROLE} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal(DATASTORE_ROLE)}) THEN
    CREATE ROLE {DATASTORE_ROLE} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal(AIRFLOW_ROLE)}) THEN
    CREATE ROLE {AIRFLOW_ROLE} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal(CATALOG_ROLE)}) THEN
    CREATE ROLE {CATALOG_ROLE} LOGIN;
  END IF;
END $$;
ALTER ROLE {CATALOG_ROLE} PASSWORD {literal(secrets[sec.PG_CATALOG_PASSWORD])};
ALTER ROLE {CKAN_ROLE} PASSWORD {literal(ckan_pw)};
ALTER ROLE {DATASTORE_ROLE} PASSWORD {literal(ds_pw)};
ALTER ROLE {AIRFLOW_ROLE} PASSWORD {literal(af_pw)};
""")
    existing = set(psql(layout, "SELECT datname FROM pg_database;").split())
    for db, owner in ((CKAN_DB, CKAN_ROLE), (DATASTORE_DB, CKAN_ROLE), (AIRFLOW_DB, AIRFLOW_ROLE), (CATALOG_DB, CATALOG_ROLE)):
        if db not in existing:
            psql(layout, f"CREATE DATABASE {db} OWNER {owner} ENCODING 'UTF8' TEMPLATE template0;")


def catalog_url(layout: Layout) -> str | None:
    """The kcdata catalog store in this PostgreSQL (None before the first `up`)."""
    password = sec.load(layout.secrets_file).get(sec.PG_CATALOG_PASSWORD)
    return f"postgresql+psycopg://{CATALOG_ROLE}:{password}@{HOST}:{PG_PORT}/{CATALOG_DB}" if password else None


def version(layout: Layout) -> str | None:
    try:
        return psql(layout, "SHOW server_version;") or None
    except PortalError:
        return None


def health(layout: Layout) -> tuple[bool, str | None, str]:
    """(answering, version, detail)."""
    up = ready()
    return up, version(layout) if up else None, f"data {layout.pg_data}"
