"""The running system as one unit: `up()` brings every service to running, `down()` stops them,
`status()` reports them, `connection()` tells the publisher where CKAN is and how to log in.

supervisord runs the services (stack/supervisor.py); what is ours is the order and the first-run
set-up. Order matters: CKAN needs PostgreSQL, Redis and Solr answering before its first command,
Solr needs CKAN's package installed (its schema.xml comes from there), and Airflow needs its
metadata database and the CKAN token (its `kcdata_ckan` connection). The two slow downloads of
a fresh machine (pip for CKAN, Maven for Solr) run side by side, Airflow's migration beside
CKAN's set-up, and services that need nothing from one another start at once (`down` stops them
the same way, in groups).
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from common.keys import ensure_keys_file
from common.settings import read_settings
from stack import airflow, ckan, packages, postgres, redis, seaweedfs, solr, supervisor, web
from stack import secrets as sec
from stack.layout import HOST, PG_PORT, REDIS_PORT, SOLR_CORE, Layout, airflow_url, ckan_url, get_layout, solr_url
from stack.proc import PortalError, ensure_port_free, wait_until
from stack.status import ComponentStatus, StackStatus
from stack.supervisor import Program

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@contextmanager
def _exclusive(layout: Layout, report: Report) -> Iterator[None]:
    """One `up`/`down` at a time per state folder (a test session and the demo may race)."""
    layout.home.mkdir(parents=True, exist_ok=True)
    with open(layout.home / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report("waiting for another `kcdata up/down` on this state folder")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def up(layout: Layout | None = None, report: Report = _quiet, settings: dict[str, str] | None = None) -> StackStatus:
    """Make every service run (installing and initialising whatever is missing). Idempotent.

    `settings` (lake, inbox, catalog URL, SMTP...) are what the Airflow services run with; when
    they differ from the running services' settings, those services are restarted."""
    layout = layout or get_layout()
    with _exclusive(layout, report):
        return _up(layout, report, settings)


def _note(report: Report, changed: bool, message: str) -> None:
    """Say what a step changed; steps that found everything in place stay silent."""
    if changed:
        report(message)


def programs(layout: Layout) -> list[Program]:
    """Every service of the system, in start order."""
    return [postgres.program(layout), redis.program(layout), seaweedfs.program(layout), solr.program(layout),
            ckan.program(layout), ckan.jobs_program(layout),
            *airflow.programs(layout), web.program(layout, airflow.settings_digest(layout))]


def _start(layout: Layout, program: Program, report: Report) -> bool:
    """Start one program under supervisord, refusing a port that someone else holds."""
    state = supervisor.info(layout).get(program.name, {}).get("statename")
    if state not in ("RUNNING", "STARTING") and program.port is not None:
        ensure_port_free(program.port, program.name)
    started = supervisor.start(layout, program.name)
    _note(report, started, f"{program.name}: started")
    return started


def _start_together(layout: Layout, group: list[Program], report: Report) -> list[str]:
    """Start programs that need nothing from one another at once (CKAN and its jobs worker; the
    Airflow services and the catalog web): `up` then waits for the slowest, not for the sum of
    them. The names started now."""
    current = supervisor.info(layout)
    for program in group:
        if current.get(program.name, {}).get("statename") not in ("RUNNING", "STARTING") and program.port is not None:
            ensure_port_free(program.port, program.name)
    started = supervisor.start_together(layout, [p.name for p in group])
    for name in started:
        report(f"{name}: started")
    return started


def _save_settings(layout: Layout, settings: dict[str, str] | None) -> None:
    if settings is None:
        return
    if sec.load(layout.system_env) != settings:
        sec.save(layout.system_env, settings)


def _install(layout: Layout) -> list[str]:
    """The state folders, and the Debian packages the services need; returns the packages installed."""
    for folder in (layout.home, layout.logs, layout.run):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.home, 0o755)  # the postgres user must reach pg/ and run/pg inside
    return packages.ensure(layout)


def _up(layout: Layout, report: Report, settings: dict[str, str] | None) -> StackStatus:
    t0 = time.monotonic()
    installed = _install(layout)
    if installed:
        report(f"installed Debian packages: {' '.join(installed)}")
    secrets = sec.ensure(layout.secrets_file, sec.PG_CKAN_PASSWORD, sec.PG_DATASTORE_PASSWORD, sec.PG_CATALOG_PASSWORD,
                         sec.CKAN_PUBLISHER_PASSWORD)
    secrets = airflow.ensure_secrets(layout)
    web.ensure_secrets(layout)
    seaweedfs.ensure_credentials(layout)
    ensure_keys_file(layout.keys_file)
    _save_settings(layout, settings)

    # the two long downloads in parallel with the databases; Airflow's migration (it needs only
    # PostgreSQL) in parallel with CKAN's set-up
    with ThreadPoolExecutor(max_workers=3) as pool:
        return _up_with(layout, report, secrets, pool, t0)


def _up_with(layout: Layout, report: Report, secrets: dict[str, str], pool: ThreadPoolExecutor, t0: float) -> StackStatus:
    """`up` after the secrets and settings, with a pool for the steps that overlap."""
    venv_job = pool.submit(ckan.ensure_venv, layout)
    solr_job = pool.submit(solr.build, layout)
    _note(report, postgres.init_cluster(layout), "postgres: new cluster initialised")
    postgres.prepare(layout)
    supervisor.write_config(layout, programs(layout))
    _note(report, supervisor.ensure_running(layout), "supervisord: started")
    by_name = {p.name: p for p in programs(layout)}
    _start(layout, by_name["postgres"], report)
    wait_until(postgres.ready, what="PostgreSQL", timeout=90, log=layout.log("postgres"))
    postgres.ensure_databases(layout, secrets)
    airflow_job = pool.submit(airflow.prepare, layout)
    _start(layout, by_name["redis"], report)
    wait_until(redis.ping, what="Redis", timeout=20, log=layout.log("redis"))
    _start(layout, by_name[seaweedfs.NAME], report)
    wait_until(lambda: seaweedfs.bucket_ready(layout), what="SeaweedFS (S3)", timeout=60, log=layout.log(seaweedfs.NAME))
    _note(report, venv_job.result(), "ckan: virtualenv installed")
    _note(report, solr_job.result(), "solr: built with Maven")

    if solr.prepare_home(layout, ckan.solr_schema(layout)):
        report("solr: core 'ckan' configured")
        if solr.ping():
            solr.reload_core()
            report("solr: core reloaded")
    _start(layout, by_name["solr"], report)
    solr.wait_ready(layout)

    _note(report, ckan.write_config(layout, secrets), "ckan: ckan.ini written")
    _note(report, ckan.init_db(layout), "ckan: database initialised")
    _note(report, ckan.set_datastore_permissions(layout), "ckan: datastore permissions set")
    _note(report, ckan.ensure_publisher(layout), "ckan: publisher account and API token created")
    _note(report, ckan.write_wsgi(layout), "ckan: WSGI entry written")
    _note(report, ckan.build_assets(layout), "ckan: web assets built")
    if ckan.stale(layout):
        for name in ("ckan", ckan.JOBS):
            if supervisor.stop(layout, name):
                report(f"{name}: stopped to load the changed ckan.ini, dataset schema or WSGI entry")
    if "ckan" in _start_together(layout, [by_name["ckan"], by_name[ckan.JOBS]], report):
        ckan.mark_started(layout)
    ckan.wait_ready(layout)

    # secrets and settings are final now: a changed digest restarts the Airflow services
    supervisor.write_config(layout, programs(layout))
    supervisor.ensure_running(layout)
    _note(report, airflow_job.result(), "airflow: metadata database migrated, dbt pool created")
    _start_together(layout, [*airflow.programs(layout), web.program(layout, airflow.settings_digest(layout))], report)
    seen: list[StackStatus] = []

    def all_running() -> bool:
        seen.append(status(layout))
        return seen[-1].running

    try:  # the status that answered healthy is the one returned: a second look at a busy machine may time out
        wait_until(all_running, what="Airflow services and the catalog web", timeout=180, log=layout.log("airflow-scheduler"))
    except PortalError as exc:
        down_names = ", ".join(c.name for c in seen[-1].components if not c.running) if seen else "?"
        raise PortalError(f"up finished but not running: {down_names}\n{exc}") from exc
    report(f"up in {time.monotonic() - t0:.1f} s")
    return seen[-1]


def ensure_s3(layout: Layout | None = None, report: Report = _quiet) -> dict[str, str]:
    """Only the S3 store (SeaweedFS) running, under the system's supervisord, for work that needs a
    bucket but not the whole system (an S3 lake in tests, `kcdata` commands on an S3 lake). Returns
    the AWS variables a client needs; `down()` stops it with the rest."""
    layout = layout or get_layout()
    with _exclusive(layout, report):
        # supervisord's configuration names every service: on a fresh machine, their packages first
        _note(report, bool(_install(layout)), "Debian packages: installed")
        seaweedfs.ensure_credentials(layout)
        supervisor.write_config(layout, programs(layout))
        _note(report, supervisor.ensure_running(layout), "supervisord: started")
        _start(layout, seaweedfs.program(layout), report)
        wait_until(lambda: seaweedfs.bucket_ready(layout), what="SeaweedFS (S3)", timeout=60, log=layout.log(seaweedfs.NAME))
    return seaweedfs.client_environment(layout)


def down(layout: Layout | None = None, report: Report = _quiet) -> StackStatus:
    """Stop every service (newest first) and supervisord; keep all data."""
    layout = layout or get_layout()
    if not layout.home.exists():
        return status(layout)
    with _exclusive(layout, report):
        if supervisor.running(layout):
            for group in _stop_order(layout):
                for name in supervisor.stop_together(layout, group):
                    report(f"{name}: stopped")
            _note(report, supervisor.shutdown(layout), "supervisord: stopped")
    return status(layout)


def _stop_order(layout: Layout) -> list[list[str]]:
    """The services in the groups `down` stops them, each group at once: what uses the stores
    first (the Airflow services, its workers, the catalog web), then Airflow's api-server (stopped
    beside them, the others waited out their 40 s to be killed), then CKAN, then the stores,
    PostgreSQL last."""
    names = [p.name for p in programs(layout)]
    later = {airflow.API_SERVER, "ckan", ckan.JOBS, "solr", seaweedfs.NAME, "redis", "postgres"}
    return [[n for n in names if n not in later], [airflow.API_SERVER], ["ckan", ckan.JOBS], ["solr", seaweedfs.NAME, "redis"],
            ["postgres"]]


def status(layout: Layout | None = None) -> StackStatus:
    """Each service: supervisord's state and pid, and whether it answers (health), its URL and log."""
    layout = layout or get_layout()
    try:
        wanted = programs(layout)
    except PortalError:  # a service not installed yet (a fresh machine): nothing of the system runs
        return StackStatus(home=layout.home)
    procs = supervisor.info(layout)
    checks = {"postgres": lambda: postgres.health(layout), "redis": lambda: redis.health(layout),
              "solr": lambda: solr.health(layout), "ckan": lambda: ckan.health(layout),
              ckan.JOBS: lambda: ckan.jobs_health(layout), web.NAME: web.health,
              seaweedfs.NAME: lambda: seaweedfs.health(layout)}
    components_health = airflow.health(layout) if procs.get("airflow-api-server", {}).get("statename") == "RUNNING" else {}
    urls = {"postgres": f"postgresql://{HOST}:{PG_PORT}", "redis": f"redis://{HOST}:{REDIS_PORT}",
            "solr": f"{solr_url()}/{SOLR_CORE}", "ckan": ckan_url(), ckan.JOBS: ckan.jobs_url(),
            "airflow-api-server": airflow_url(), seaweedfs.NAME: seaweedfs.endpoint(),
            web.NAME: web.web_url()}
    out = []
    for program in wanted:
        proc = procs.get(program.name, {})
        state = proc.get("statename", "STOPPED" if procs else "supervisord down")
        healthy, version, detail = False, None, ""
        if state == "RUNNING":
            if program.name in checks:
                healthy, version, detail = checks[program.name]()
            else:
                healthy, version, detail = airflow.service_health(program.name, components_health)
        out.append(ComponentStatus(
            name=program.name, running=healthy, url=urls.get(program.name, ""), version=version,
            pid=proc.get("pid") or None, log=layout.log(program.name), detail=detail, state=state, port=program.port,
        ))
    return StackStatus(home=layout.home, components=tuple(out))


def connection(layout: Layout | None = None, *, local: bool = False) -> tuple[str, str]:
    """(ckan_url, api_token) for the publisher: `KCDATA_CKAN_URL`/`KCDATA_CKAN_TOKEN` when set
    (a real portal), else the local stack's secrets.env. `local=True` ignores the environment
    (tests that create and purge datasets must never reach a real portal)."""
    given = read_settings()
    url = None if local else given.ckan_url
    token = None if local or given.ckan_token is None else given.ckan_token.get_secret_value()
    if url and token:
        return url.rstrip("/"), token
    layout = layout or get_layout()
    values = sec.load(layout.secrets_file)
    url = url or values.get(sec.CKAN_URL)
    token = token or values.get(sec.CKAN_API_TOKEN)
    if not url or not token:
        raise PortalError(
            f"no CKAN connection: set KCDATA_CKAN_URL and KCDATA_CKAN_TOKEN, or run `kcdata up` "
            f"(it writes {layout.secrets_file})"
        )
    return url.rstrip("/"), token
