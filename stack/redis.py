"""Redis for CKAN (sessions, caches, background jobs) and Celery's broker: Debian's redis-server on 127.0.0.1:6379.

Run by supervisord in the foreground with its dump in our state folder, instead of the system
service, so it needs no systemd and stops when the system stops.
"""
from __future__ import annotations

import shutil
import socket

from stack.layout import HOST, REDIS_PORT, Layout
from stack.proc import PortalError
from stack.supervisor import Program


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


def program(layout: Layout) -> Program:
    """redis-server in the foreground, its dump in our state folder."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise PortalError("redis-server is not installed (apt-get install -y redis-server)")
    layout.redis_dir.mkdir(parents=True, exist_ok=True)
    return Program(
        name="redis",
        command=(binary, "--bind", HOST, "--port", str(REDIS_PORT), "--protected-mode", "yes",
                 "--daemonize", "no", "--dir", str(layout.redis_dir), "--save", "300 1",
                 # append-only: a Redis restarted (or killed) keeps Celery's queued work and RQ's
                 # worker registry, losing at most the last second
                 "--appendonly", "yes", "--appendfsync", "everysec"),
        directory=layout.redis_dir, startsecs=1, port=REDIS_PORT,
    )


def health(layout: Layout) -> tuple[bool, str | None, str]:
    up = ping()
    return up, version() if up else None, ""
