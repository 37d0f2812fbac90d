"""Debian packages the stack needs, installed by us on a fresh machine (`apt-get`, as root).

PostgreSQL and Redis come from Debian; Maven and a JDK build Solr; gcc and libpq-dev build
psycopg2 for CKAN's virtualenv. Some packages' install scripts start a system service (Debian's
`main` PostgreSQL cluster, `redis-server`) on the very ports we use: we stop what our install just
started, so that the stack's own processes can bind.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from stack.layout import Layout
from stack.proc import PortalError, is_root, pid_alive, run

# package -> how to tell it is there
_NEEDED: dict[str, str] = {
    "postgresql": "initdb",
    "redis-server": "redis-server",
    "libpq-dev": "pg_config",
    "gcc": "gcc",
    "maven": "mvn",
    "openjdk-17-jdk-headless": "javac",
}


def pg_bin_dir() -> Path | None:
    """Newest installed PostgreSQL server binaries (Debian keeps them out of PATH)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not dirs:
        return None
    return Path(dirs[-1]).parent


def _present(probe: str) -> bool:
    if probe == "initdb":
        return pg_bin_dir() is not None
    return shutil.which(probe) is not None


def missing() -> list[str]:
    return [pkg for pkg, probe in _NEEDED.items() if not _present(probe)]


def ensure(layout: Layout) -> list[str]:
    """Install whatever is missing; return the packages installed (empty when all were there)."""
    todo = missing()
    if not todo:
        return []
    if not is_root():
        raise PortalError(
            "missing Debian packages: " + " ".join(todo)
            + f"; install them as root: apt-get update && apt-get install -y {' '.join(todo)}"
        )
    log = layout.log("apt")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], what="apt-get update", log=log, env=env)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *todo],
        what=f"apt-get install {' '.join(todo)}", log=log, env=env)
    _stop_services_started_by_install(todo)
    still = missing()
    if still:
        raise PortalError(f"apt-get install did not provide: {' '.join(still)} (log: {log})")
    return todo


def _stop_services_started_by_install(installed: list[str]) -> None:
    """Debian's postinst may have started system services on 5432/6379: stop those."""
    if "postgresql" in installed and shutil.which("pg_lsclusters"):
        out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[3].startswith("online"):
                subprocess.run(["pg_ctlcluster", parts[0], parts[1], "stop"], capture_output=True)
    if "redis-server" in installed:
        pidfile = Path("/run/redis/redis-server.pid")
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not pid_alive(pid):
                    break
                time.sleep(0.1)
