"""Fixtures of the pulled-source tests: a small test resource, and real database servers.

The servers are throw-away: a PostgreSQL cluster (initdb into a temporary folder, run as the
`postgres` OS user) and a MariaDB server (mariadb-install-db into a temporary datadir), each on a
free port on 127.0.0.1 with its socket in /tmp, started once per session on first use and
stopped at the end. Missing Debian packages are installed with apt (scripts/setup.sh installs
them up front). The project's own stack (stack/) is not used.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalog.model import Provider, Resource
from connectors.pull import Credentials

PROVIDER = Provider(name="测试局", name_en="Test bureau", code="11440100TE0000001K", slug="test_bureau")

ITEMS = [
    {"name": "读数编号", "code": "reading_id", "type": "I", "sensitivity": "public", "required": True, "unique": True},
    {"name": "监测点", "code": "station", "type": "C", "sensitivity": "public", "required": True},
    {"name": "读数", "code": "reading", "type": "N", "sensitivity": "public"},
    {"name": "测量时间", "code": "measured_at", "type": "T", "sensitivity": "public", "required": True},
    {"name": "是否正常", "code": "ok", "type": "L", "sensitivity": "public"},
    {"name": "日期", "code": "day", "type": "D", "sensitivity": "public"},
]


def readings_resource(source: dict[str, Any], table: str = "readings") -> Resource:
    """A catalog entry for readings pulled by `source` (validated like any YAML entry)."""
    return Resource.model_validate({
        "code": "KC-TEST-001", "table": table, "name": "测试读数", "name_en": "Test readings",
        "category": "基础信息资源/测试", "provider": PROVIDER, "summary": "拉取测试", "format": "服务接口",
        "items": ITEMS, "key": ["reading_id"], "share": {"type": "无条件共享"}, "open": {"type": "无条件开放"},
        "update_cycle": "每日", "published_at": "2026-01-01", "grade": "一般", "source": source,
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _apt_install(*packages: str) -> None:
    """Install what scripts/setup.sh would have (a test run on a machine set up before it listed them)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, capture_output=True, env=env)


def _wait_for_port(port: int, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start; log: {log.read_text(errors='replace')[-2000:] if log.exists() else '-'}")


@dataclass(frozen=True)
class DbServer:
    """A running test database: where it is and an account that owns `database`."""

    dialect: str  # postgresql | mysql
    port: int
    login: str
    password: str
    database: str

    def credentials(self) -> Credentials:
        conn_type = "postgres" if self.dialect == "postgresql" else "mysql"
        return Credentials(login=self.login, password=self.password, host="127.0.0.1", port=self.port,
                           schema=self.database, conn_type=conn_type)

    def url(self) -> str:
        driver = "postgresql+psycopg" if self.dialect == "postgresql" else "mysql+pymysql"
        return f"{driver}://{self.login}:{self.password}@127.0.0.1:{self.port}/{self.database}"


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        _apt_install("postgresql")
        # Debian's install starts a `main` cluster on 5432 (the portal's port): stop it, as setup.sh does
        clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.splitlines()
        for version, name, *rest in (line.split() for line in clusters if len(line.split()) >= 4):
            if rest[1].startswith("online"):
                subprocess.run(["pg_ctlcluster", version, name, "stop"], capture_output=True)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent


def _as_postgres(*cmd: str) -> list[str]:
    """Run as the postgres OS user when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DbServer]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (password auth over TCP)."""
    bindir = _pg_bin()
    home = Path(tempfile.mkdtemp(prefix="kc-pg-", dir="/tmp"))
    data, log, pwfile = home / "data", home / "server.log", home / "pw"
    password, port = "pg-" + os.urandom(8).hex(), free_port()
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(pwfile, "postgres")
    os.chmod(pwfile, 0o600)
    subprocess.run(_as_postgres(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                                "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"),
                   check=True, capture_output=True, cwd=home)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"),
                   check=True, capture_output=True, cwd=home)
    try:
        _wait_for_port(port, 30, log)
        subprocess.run(_as_postgres(str(bindir / "createdb"), "-h", str(home), "-p", str(port), "-U", "postgres", "kcdata"),
                       check=True, capture_output=True, cwd=home)
        yield DbServer("postgresql", port, "postgres", password, "kcdata")
    finally:
        subprocess.run(_as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"), capture_output=True, cwd=home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DbServer]:
    """A throw-away MariaDB server on 127.0.0.1, as root in a temporary datadir."""
    import pymysql

    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        _apt_install("mariadb-server-core", "mariadb-client-core")  # the binaries, no system service
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    home = Path(tempfile.mkdtemp(prefix="kc-maria-", dir="/tmp"))
    data, log, sock = home / "data", home / "server.log", home / "mysqld.sock"
    password, port = "my-" + os.urandom(8).hex(), free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True)
    server = subprocess.Popen(
        [mariadbd, "--no-defaults", f"--datadir={data}", "--user=root", "--bind-address=127.0.0.1", f"--port={port}",
         "--skip-networking=0", f"--socket={sock}", f"--pid-file={home / 'mariadbd.pid'}", f"--log-error={log}",
         "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, 60, log)
        root = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        with root.cursor() as cur:
            cur.execute("CREATE DATABASE kcdata CHARACTER SET utf8mb4")
            cur.execute("CREATE USER 'kc'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute("GRANT ALL ON kcdata.* TO 'kc'@'127.0.0.1'")
        root.close()
        yield DbServer("mysql", port, "kc", password, "kcdata")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["postgresql", "mysql"])
def db(request: pytest.FixtureRequest) -> DbServer:
    """Each database test runs on PostgreSQL and on MariaDB (each server started on first use)."""
    return request.getfixturevalue("postgres_server" if request.param == "postgresql" else "mariadb_server")


@pytest.fixture
def make_resource():
    """`readings_resource` as a fixture (test modules here are not a package, so they cannot import it)."""
    return readings_resource
