"""Redis for CKAN (sessions, caches, background jobs): Debian's redis-server on 127.0.0.1:6379.

Started daemonised with a pidfile and its dump in our state folder, instead of the system
service, so it needs no systemd and stops when the stack stops.
"""
from __future__ import annotations

import shutil
import socket

from stack.layout import HOST, REDIS_PORT, Layout
from stack.proc import PortalError, ensure_port_free, read_pid, run, stop_pid, wait_until
from stack.status import ComponentStatus

_EXPECT = "redis-server"  # what our process's command line contains


def _command(cmd: bytes, timeout: float = 1.0) -> bytes | None:
    """Send one inline command and return the raw reply (enough for PING and INFO)."""
    try:
        with socket.create_connection((HOST, REDIS_PORT), timeout=timeout) as conn:
            conn.sendall(cmd + b"\r\n")
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"+") or data.startswith(b"-"):
                    if data.endswith(b"\r\n"):
                        break
                elif data.startswith(b"$"):
                    header, _, rest = data.partition(b"\r\n")
                    if len(rest) >= int(header[1:]) + 2:
                        break
            return data
    except (OSError, ValueError):
        return None


def ping() -> bool:
    return _command(b"PING") == b"+PONG\r\n"


def version() -> str | None:
    reply = _command(b"INFO server")
    if not reply:
        return None
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return None


def start(layout: Layout) -> bool:
    """Start redis-server unless ours already runs. Returns True when started now."""
    pidfile = layout.pidfile("redis")
    if read_pid(pidfile, _EXPECT) is not None:
        wait_until(ping, what="Redis", timeout=10, log=layout.log("redis"))
        return False
    ensure_port_free(REDIS_PORT, "Redis")
    binary = shutil.which("redis-server")
    if binary is None:
        raise PortalError("redis-server is not installed (apt-get install -y redis-server)")
    layout.redis_dir.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    log = layout.log("redis")
    log.parent.mkdir(parents=True, exist_ok=True)
    run([binary, "--bind", HOST, "--port", str(REDIS_PORT), "--protected-mode", "yes",
         "--daemonize", "yes", "--dir", layout.redis_dir, "--pidfile", pidfile,
         "--logfile", log, "--save", "300 1"],
        what="redis-server", log=log)
    wait_until(ping, what="Redis", timeout=20, log=log)
    return True


def stop(layout: Layout) -> bool:
    # SIGTERM makes redis save its dump and exit
    return stop_pid(layout.pidfile("redis"), _EXPECT, group=False)


def status(layout: Layout) -> ComponentStatus:
    pid = read_pid(layout.pidfile("redis"), _EXPECT)
    running = pid is not None and ping()
    return ComponentStatus(
        name="redis",
        running=running,
        url=f"redis://{HOST}:{REDIS_PORT}",
        version=version() if running else None,
        pid=pid,
        log=layout.log("redis"),
    )
