"""Process management is supervisord's job: we only describe our programs and ask it to act.

supervisord (the process manager CKAN's deployment docs use for its workers) runs every service
of the system as a child: it starts and stops them, restarts one that crashes, keeps their logs
(rotated) and answers status over a Unix socket in the state folder (mode 0700, no TCP port).
`write_config` renders our `Program`s into `<home>/supervisord.conf`; the programs are not started
by supervisord itself (`autostart=false`) because order matters and readiness is ours to judge:
`stack.stack.up` starts them in order, a group at a time, and waits for each to answer.

No secret is ever written into the configuration: programs that need one are started through
`python -m stack.launch NAME`, which reads them from the secrets file and execs the service.
"""
from __future__ import annotations

import shutil
import sys
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack.layout import Layout
from stack.proc import PortalError, run, tail

if TYPE_CHECKING:
    import http.client


@dataclass(frozen=True)
class Program:
    """One long-running service as supervisord runs it."""

    name: str
    command: tuple[str, ...]
    directory: Path | None = None
    user: str | None = None  # run as this OS user (supervisord runs as root)
    environment: dict[str, str] = field(default_factory=dict)  # never secrets
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    startsecs: int = 3  # must stay up this long to count as started
    port: int | None = None  # the loopback port it serves, for `status`


def _bin(name: str) -> str:
    """supervisord/supervisorctl from this venv (installed with the project's pins)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise PortalError(f"{name} not found: run scripts/setup.sh (it installs supervisor)")
    return found


def _quote(value: str) -> str:
    """A value for supervisord's `environment=` (double-quoted, % escaped for its expansion)."""
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def _arg(value: str) -> str:
    """A command-line word for supervisord (it splits with shlex and expands %(...)s)."""
    escaped = value.replace("%", "%%")
    return f'"{escaped}"' if any(c in escaped for c in " \t'\"") else escaped


def render(layout: Layout, programs: list[Program]) -> str:
    """The whole supervisord.conf for these programs."""
    lines = [
        "; Written by kcdata (stack/supervisor.py) at every `kcdata up`; edits are overwritten.",
        "[unix_http_server]",
        f"file={layout.supervisor_socket}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={layout.log('supervisord')}",
        "logfile_maxbytes=10MB",
        "logfile_backups=3",
        f"pidfile={layout.run / 'supervisord.pid'}",
        f"directory={layout.home}",
        "childlogdir=" + str(layout.logs),
        "minfds=4096",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{layout.supervisor_socket}",
        "",
    ]
    for p in programs:
        lines += [
            f"[program:{p.name}]",
            "command=" + " ".join(_arg(c) for c in p.command),
            "autostart=false",
            "autorestart=true",
            f"startsecs={p.startsecs}",
            "startretries=3",
            f"stopsignal={p.stopsignal}",
            f"stopwaitsecs={p.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={layout.log(p.name)}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=3",
        ]
        if p.directory:
            lines.append(f"directory={p.directory}")
        if p.user:
            lines.append(f"user={p.user}")
        if p.environment:
            lines.append("environment=" + ",".join(f"{k}={_quote(v)}" for k, v in sorted(p.environment.items())))
        lines.append("")
    return "\n".join(lines)


def write_config(layout: Layout, programs: list[Program]) -> bool:
    """Write supervisord.conf; True when it changed."""
    text = render(layout, programs)
    conf = layout.supervisor_conf
    if conf.exists() and conf.read_text() == text:
        return False
    conf.parent.mkdir(parents=True, exist_ok=True)
    tmp = conf.with_name(conf.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(conf)
    return True


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's Unix socket (the same calls supervisorctl makes)."""

    def __init__(self, socket_path: Path) -> None:
        super().__init__()
        self._socket_path = str(socket_path)

    def make_connection(self, host: object) -> http.client.HTTPConnection:  # xmlrpc's signature
        import http.client
        import socket

        path = self._socket_path

        class _Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(30)
                self.sock.connect(path)

        return _Conn("localhost")


def rpc(layout: Layout) -> Any:
    """A proxy on supervisord's XML-RPC interface (`supervisor.getAllProcessInfo()`, ...)."""
    return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(layout.supervisor_socket))


def running(layout: Layout) -> bool:
    """supervisord answers on our socket."""
    if not layout.supervisor_socket.exists():
        return False
    try:
        return rpc(layout).supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


def ensure_running(layout: Layout) -> bool:
    """Start supervisord (it daemonises) unless it runs; apply a changed config. True when started."""
    if running(layout):
        changed = ctl(layout, "reread")
        if "No config updates" not in changed:
            ctl(layout, "update")
        return False
    layout.supervisor_socket.unlink(missing_ok=True)
    run([_bin("supervisord"), "-c", layout.supervisor_conf], what="supervisord", log=layout.log("supervisord-start"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if running(layout):
            return True
        time.sleep(0.2)
    raise PortalError(f"supervisord did not start (log: {layout.log('supervisord')})\n{tail(layout.log('supervisord'))}")


def ctl(layout: Layout, *args: str) -> str:
    """supervisorctl with our config; its output."""
    result = run([_bin("supervisorctl"), "-c", layout.supervisor_conf, *args], what=f"supervisorctl {' '.join(args)}",
                 capture=True, check=False, timeout=300)
    return (result.stdout or "") + (result.stderr or "")


def info(layout: Layout) -> dict[str, dict]:
    """name -> supervisord's process info (statename, pid, start, ...); empty when it is down."""
    if not running(layout):
        return {}
    try:
        return {p["name"]: p for p in rpc(layout).supervisor.getAllProcessInfo()}
    except (OSError, xmlrpc.client.Error):
        return {}


def start(layout: Layout, name: str) -> bool:
    """Start one program unless it runs; True when started now. Fails with its log when it cannot."""
    state = info(layout).get(name, {}).get("statename")
    if state in ("RUNNING", "STARTING"):
        return False
    try:
        rpc(layout).supervisor.startProcess(name, True)
    except xmlrpc.client.Fault as exc:
        if "ALREADY_STARTED" in exc.faultString:
            return False
        raise PortalError(f"{name} did not start ({exc.faultString}); log: {layout.log(name)}\n{tail(layout.log(name))}") from exc
    return True


def stop(layout: Layout, name: str) -> bool:
    """Stop one program if it runs; True when stopped now."""
    if info(layout).get(name, {}).get("statename") not in ("RUNNING", "STARTING", "BACKOFF"):
        return False
    try:
        rpc(layout).supervisor.stopProcess(name, True)
    except xmlrpc.client.Fault as exc:
        if "NOT_RUNNING" in exc.faultString:
            return False
        raise PortalError(f"{name} did not stop: {exc.faultString}") from exc
    return True


_UP, _STARTING, _DOWN = {"RUNNING"}, {"STARTING", "BACKOFF"}, {"STOPPED", "EXITED", "FATAL"}


def _ask_each(layout: Layout, names: list[str], call: str, harmless: str) -> None:
    """supervisord's `call` (startProcess, stopProcess) for each program, without waiting for it
    to take effect; a refusal other than `harmless` fails with the program's log."""
    proxy = rpc(layout)
    for name in names:
        try:
            getattr(proxy.supervisor, call)(name, False)
        except xmlrpc.client.Fault as exc:
            if harmless not in exc.faultString:
                raise PortalError(f"{name}: supervisord refused {call} ({exc.faultString}); log: {layout.log(name)}\n"
                                  f"{tail(layout.log(name))}") from exc


def start_together(layout: Layout, names: list[str], timeout: float = 180) -> list[str]:
    """Start several programs at once (none waits for another's `startsecs`) and wait until each
    has stayed up; the names started now. Fails with the log of one that could not stay up."""
    current = info(layout)
    todo = [n for n in names if current.get(n, {}).get("statename") not in _UP | {"STARTING"}]
    _ask_each(layout, todo, "startProcess", harmless="ALREADY_STARTED")
    deadline = time.monotonic() + timeout
    while True:
        states = {n: info(layout).get(n, {}).get("statename") for n in names}
        failed = [n for n in names if states[n] in _DOWN]
        if failed:
            name = failed[0]
            raise PortalError(f"{name} did not stay up ({states[name]}); log: {layout.log(name)}\n{tail(layout.log(name))}")
        if all(states[n] in _UP for n in names):
            return todo
        if time.monotonic() > deadline:
            late = [n for n in names if states[n] not in _UP]
            raise PortalError(f"not running after {timeout:.0f} s: {', '.join(late)}; log: {layout.log(late[0])}")
        time.sleep(0.2)


def stop_together(layout: Layout, names: list[str], timeout: float = 120) -> list[str]:
    """Stop several programs at once (each gets its own `stopwaitsecs`) and wait until all are
    down; the names stopped now."""
    current = info(layout)
    todo = [n for n in names if current.get(n, {}).get("statename") in _UP | _STARTING]
    _ask_each(layout, todo, "stopProcess", harmless="NOT_RUNNING")
    deadline = time.monotonic() + timeout
    while any(info(layout).get(n, {}).get("statename") not in _DOWN | {None} for n in todo):
        if time.monotonic() > deadline:
            raise PortalError(f"still running after {timeout:.0f} s: {', '.join(todo)}")
        time.sleep(0.2)
    return todo


def shutdown(layout: Layout) -> bool:
    """Stop supervisord itself (after its programs). True when it was running."""
    if not running(layout):
        return False
    try:
        rpc(layout).supervisor.shutdown()
    except (OSError, xmlrpc.client.Error):
        pass
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and layout.supervisor_socket.exists() and running(layout):
        time.sleep(0.2)
    return True
