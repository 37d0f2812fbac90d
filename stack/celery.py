"""Airflow's CeleryExecutor as an option of the running system (the LocalExecutor stays the default).

`KCDATA_EXECUTOR=celery` (with `KCDATA_CELERY_WORKERS`, default 2, and `KCDATA_CELERY_CONCURRENCY`,
default 2) in the shell that runs `kcdata up` switches every Airflow service to the CeleryExecutor:
Redis is the broker (its database 2; CKAN uses 1), the Airflow metadata database on PostgreSQL is
the result backend, and each worker is its own supervisord program, as separate machines would be.
Flower watches them on 127.0.0.1:5555.

Workers share this machine, so each one reports its own hostname to Airflow (`hostname()`, the
`[core] hostname_callable`): a task instance then says which worker ran it. They run with
`--skip-serve-logs` (one log server port per machine; the logs are on the shared local disk,
where the api-server reads them), and hold no state of their own: lake, catalog, inbox and logs
are the system's.
"""
from __future__ import annotations

import socket
from collections.abc import Mapping

from common.settings import read_settings
from stack.layout import HOST, REDIS_PORT

EXECUTOR = "KCDATA_EXECUTOR"
WORKERS = "KCDATA_CELERY_WORKERS"
CONCURRENCY = "KCDATA_CELERY_CONCURRENCY"
WORKER_NAME = "KCDATA_WORKER_NAME"  # set by stack.launch in each worker's environment
REDIS_DB = 2  # CKAN's keys live in database 1
FLOWER = "airflow-celery-flower"
FLOWER_PORT = 5555
WORKER_PREFIX = "airflow-celery-worker-"
HEARTBEAT_TIMEOUT = "KCDATA_CELERY_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT = 60  # seconds (Airflow's own default is 300)


def enabled(settings: Mapping[str, str]) -> bool:
    """True when the system's settings ask for the CeleryExecutor."""
    value = settings.get(EXECUTOR, "local").strip().lower()
    if value not in ("local", "celery", "localexecutor", "celeryexecutor"):
        from stack.proc import PortalError

        raise PortalError(f"{EXECUTOR}={value!r}: use 'local' (the default) or 'celery'")
    return value.startswith("celery")


def _positive(settings: Mapping[str, str], key: str, default: int) -> int:
    raw = settings.get(key, str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        from stack.proc import PortalError

        raise PortalError(f"{key}={raw!r}: a whole number of at least 1")
    return int(raw)


def worker_count(settings: Mapping[str, str]) -> int:
    return _positive(settings, WORKERS, 2) if enabled(settings) else 0


def concurrency(settings: Mapping[str, str]) -> int:
    """Task slots per worker: small, this machine has 2 cores."""
    return _positive(settings, CONCURRENCY, 2)


def heartbeat_timeout(settings: Mapping[str, str]) -> int:
    """Seconds before the task of a worker that stopped heartbeating is failed and retried: short
    enough that a lost machine costs a minute, long enough (≥ 10 s; heartbeats come every 5 s) that a
    busy worker is never taken for a dead one."""
    seconds = _positive(settings, HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT)
    if seconds < 10:
        from stack.proc import PortalError

        raise PortalError(f"{HEARTBEAT_TIMEOUT}={seconds}: at least 10 seconds (a worker heartbeats every 5 s)")
    return seconds


def worker_names(settings: Mapping[str, str]) -> list[str]:
    """The supervisord programs of the workers: airflow-celery-worker-1, -2, ..."""
    return [f"{WORKER_PREFIX}{i}" for i in range(1, worker_count(settings) + 1)]


def programs(settings: Mapping[str, str]) -> list[str]:
    """Every Celery service of the system (workers, then Flower); none with the LocalExecutor."""
    return [*worker_names(settings), FLOWER] if enabled(settings) else []


def is_service(name: str) -> bool:
    return name == FLOWER or name.startswith(WORKER_PREFIX)


def broker_url() -> str:
    return f"redis://{HOST}:{REDIS_PORT}/{REDIS_DB}"


def environment(settings: Mapping[str, str], metadata_url: str) -> dict[str, str]:
    """The Airflow settings of the CeleryExecutor (empty with the LocalExecutor)."""
    if not enabled(settings):
        return {}
    slots, timeout = concurrency(settings), heartbeat_timeout(settings)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        # every worker slot can be busy at once (LocalExecutor's 4 otherwise)
        "AIRFLOW__CORE__PARALLELISM": str(max(4, worker_count(settings) * slots)),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "stack.celery.hostname",
        "AIRFLOW__CELERY__BROKER_URL": broker_url(),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(slots),
        "AIRFLOW__CELERY__FLOWER_HOST": HOST,
        "AIRFLOW__CELERY__FLOWER_PORT": str(FLOWER_PORT),
        # a worker that died mid-task stops heartbeating; after this long its task is failed and
        # retried on another worker (Airflow's default waits 300 s)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(timeout),
        # looked for every tenth of the timeout (Airflow's default: every 10 s, whatever the
        # timeout): a lost worker costs the timeout, not the timeout and a check that comes late
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": str(max(1.0, timeout / 10)),
    }


def command_args(name: str) -> tuple[str, ...]:
    """`airflow celery ...` arguments of one Celery service."""
    if name == FLOWER:
        return ("celery", "flower", "--hostname", HOST, "--port", str(FLOWER_PORT))
    return ("celery", "worker", "--celery-hostname", f"{node_name(name)}@%h", "--skip-serve-logs",
            "--without-gossip", "--without-mingle")


def node_name(program: str) -> str:
    """`worker-1` for the program airflow-celery-worker-1 (Celery's node name is `worker-1@<host>`)."""
    return "worker-" + program.removeprefix(WORKER_PREFIX)


def hostname() -> str:
    """What Airflow records as a task instance's hostname: the worker's name on this machine
    (`worker-1.<host>`), the machine's name in every other process."""
    worker = read_settings().worker_name
    return f"{worker}.{socket.getfqdn()}" if worker else socket.getfqdn()


def ping(settings: Mapping[str, str], timeout: float = 1.5) -> set[str]:
    """Node names (`worker-1`, ...) of the workers that answer a Celery ping through the broker."""
    if not enabled(settings):
        return set()
    from celery import Celery

    app = Celery(broker=broker_url())
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001 - a broker that does not answer means no worker answers
        return set()
    finally:
        app.close()
    return {node.split("@", 1)[0] for reply in replies for node in reply}


def flower_up() -> bool:
    from stack.proc import port_open

    return port_open(HOST, FLOWER_PORT)


def service_health(name: str, answering: set[str]) -> tuple[bool, str | None, str]:
    """One Celery service: a worker answers a ping, Flower its port."""
    from importlib.metadata import version

    if name == FLOWER:
        up = flower_up()
        return up, version("flower"), f"http://{HOST}:{FLOWER_PORT}" if up else "not answering"
    node = node_name(name)
    up = node in answering
    return up, version("celery"), f"{node}: {'answers ping' if up else 'no ping reply'}"
