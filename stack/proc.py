"""Plumbing shared by the components: run a set-up command, wait, probe a port or an HTTP API.

Long-running services are supervisord's (stack/supervisor.py); these helpers run the one-off
commands around them (initdb, psql, ckan db init, airflow db migrate) and check who holds a port.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from common.errors import KcdataError


class PortalError(KcdataError):
    """The portal stack could not be brought to the asked state; the message says where to look."""


def is_root() -> bool:
    return os.geteuid() == 0


def pid_alive(pid: int) -> bool:
    """True for a live process (a zombie left by a dead child counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]
        if state == "Z":
            _reap(pid)
            return False
    except (OSError, IndexError):
        pass
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    capture: bool = False,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; output goes to `log` (or is captured); failure raises.

    Runs in a new session so that Ctrl-C on the caller does not kill daemons the command starts.
    """
    full_env = {**os.environ, **(env or {})}
    if log is not None and not capture:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {what}\n")
            fh.flush()
            result = subprocess.run(
                [str(c) for c in cmd], env=full_env, cwd=cwd, input=input, text=True,
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
    else:
        result = subprocess.run(
            [str(c) for c in cmd], env=full_env, cwd=cwd, input=input, text=True,
            capture_output=True, start_new_session=True, timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    if check and result.returncode != 0:
        detail = tail(log) if log is not None and not capture else (result.stderr or result.stdout or "")[-3000:]
        where = f" (log: {log})" if log is not None else ""
        raise PortalError(f"{what} failed with exit code {result.returncode}{where}:\n{detail}")
    return result


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_json(
    url: str,
    *,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON or None); (0, None) when nothing answers. Never raises on HTTP errors."""
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Accept": "application/json", **(headers or {})})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.5,
) -> None:
    """Poll `ready` until it holds; fail early if `alive` says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if alive is not None and not alive():
            if ready():
                return
            raise PortalError(f"{what}: the process exited while starting" + _log_hint(log))
        time.sleep(interval)
    raise PortalError(f"{what}: not ready after {timeout:.0f} s" + _log_hint(log))


def _log_hint(log: Path | None) -> str:
    return f" (log: {log})\n{tail(log)}" if log is not None else ""


def port_owner(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on TCP `port`, when /proc lets us see it."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(proc.name), cmdline(int(proc.name)).strip()
        except OSError:
            continue
    return None


def ensure_port_free(port: int, component: str) -> None:
    """Refuse to start when something we do not own already listens on our port, and say who."""
    if not port_open("127.0.0.1", port):
        return
    owner = port_owner(port)
    who = f"pid {owner[0]} ({owner[1][:200]})" if owner else "a process we cannot see"
    hint = ""
    if owner and any(mark in owner[1] for mark in ("kcdata.portal.SolrMain", "ckan-venv", "/pg", "stack.launch")):
        hint = (" — it looks like the kcdata system of another checkout; stop it with "
                "`KCDATA_SYSTEM_HOME=<its state folder> kcdata down` (or `kcdata down` in that checkout)")
    raise PortalError(
        f"{component}: port {port} on 127.0.0.1 is taken by {who}, which this system did not start{hint}; "
        f"free the port and run `kcdata up` again"
    )
