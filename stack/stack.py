"""The local portal as one unit: `up()` brings every service to running, `down()` stops them,
`status()` reports them, `connection()` tells the publisher where CKAN is and how to log in.

Order matters: CKAN needs PostgreSQL, Redis and Solr answering before its first command, and Solr
needs CKAN's package installed (its schema.xml comes from there). The two slow downloads of a
fresh machine (pip for CKAN, Maven for Solr) run side by side.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from stack import ckan, packages, postgres, redis, solr
from stack import secrets as sec
from stack.layout import CKAN_PORT, PG_PORT, REDIS_PORT, SOLR_PORT, Layout, get_layout
from stack.proc import PortalError, port_owner
from stack.status import StackStatus

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
            report("waiting for another `kcdata portal` command on this state folder")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def up(layout: Layout | None = None, report: Report = _quiet) -> StackStatus:
    """Make every service run (installing and initialising whatever is missing). Idempotent."""
    layout = layout or get_layout()
    with _exclusive(layout, report):
        return _up(layout, report)


def _other_portal_home(port: int, layout: Layout) -> Path | None:
    """The state folder of another kcdata portal holding `port`, if that is what holds it."""
    owner = port_owner(port)
    if owner is None:
        return None
    pid, cmd = owner
    args = cmd.split()
    home: Path | None = None
    if "-D" in args and args.index("-D") + 1 < len(args):  # postgres -D <home>/pg
        home = Path(args[args.index("-D") + 1]).parent
    elif "-c" in args and args.index("-c") + 1 < len(args):  # ckan -c <home>/ckan.ini
        home = Path(args[args.index("-c") + 1]).parent
    elif "kcdata.portal.SolrMain" in args and args.index("kcdata.portal.SolrMain") + 1 < len(args):
        home = Path(args[args.index("kcdata.portal.SolrMain") + 1]).parent
    elif "redis-server" in cmd:  # redis runs in <home>/redis (--dir)
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            return None
        home = cwd.parent if cwd.name == "redis" else None
    if home is None or home == layout.home or not (home / "secrets.env").exists():
        return None
    return home


def _take_over(layout: Layout, report: Report) -> None:
    """With KCDATA_PORTAL_TAKEOVER=1, stop another kcdata portal (other state folder) on our ports:
    a CI clone must not fail because the developer's portal still runs on the same machine."""
    if os.environ.get("KCDATA_PORTAL_TAKEOVER") != "1":
        return
    others = {h for port in (PG_PORT, REDIS_PORT, SOLR_PORT, CKAN_PORT)
              if (h := _other_portal_home(port, layout)) is not None}
    for home in sorted(others):
        report(f"stopping the kcdata portal of {home} (it holds our ports)")
        down(Layout(home), report)


def _note(report: Report, changed: bool, message: str) -> None:
    """Say what a step changed; steps that found everything in place stay silent."""
    if changed:
        report(message)


def _up(layout: Layout, report: Report) -> StackStatus:
    t0 = time.monotonic()
    for folder in (layout.home, layout.logs, layout.run):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.home, 0o755)  # the postgres user must reach pg/ and run/pg inside
    _take_over(layout, report)

    installed = packages.ensure(layout)
    if installed:
        report(f"installed Debian packages: {' '.join(installed)}")
    secrets = sec.ensure(layout.secrets_file, sec.PG_CKAN_PASSWORD, sec.PG_DATASTORE_PASSWORD,
                         sec.CKAN_PUBLISHER_PASSWORD)

    # the two long downloads in parallel with the databases
    with ThreadPoolExecutor(max_workers=2) as pool:
        venv_job = pool.submit(ckan.ensure_venv, layout)
        solr_job = pool.submit(solr.build, layout)
        _note(report, postgres.init_cluster(layout), "postgres: new cluster initialised")
        _note(report, postgres.start(layout), "postgres: started")
        postgres.ensure_databases(layout, secrets)
        _note(report, redis.start(layout), "redis: started")
        _note(report, venv_job.result(), "ckan: virtualenv installed")
        _note(report, solr_job.result(), "solr: built with Maven")

    if solr.prepare_home(layout, ckan.solr_schema(layout)):
        report("solr: core 'ckan' configured")
        if solr.status(layout).running:
            solr.reload_core()
            report("solr: core reloaded")
    _note(report, solr.start(layout), "solr: started")

    _note(report, ckan.write_config(layout, secrets), "ckan: ckan.ini written")
    _note(report, ckan.init_db(layout), "ckan: database initialised")
    _note(report, ckan.set_datastore_permissions(layout), "ckan: datastore permissions set")
    _note(report, ckan.ensure_publisher(layout), "ckan: publisher account and API token created")
    if ckan.stale(layout) and ckan.stop(layout):
        report("ckan: stopped to load the changed ckan.ini or dataset schema")
    _note(report, ckan.start(layout), "ckan: started")

    state = status(layout)
    if not state.running:
        down_names = ", ".join(c.name for c in state.components if not c.running)
        raise PortalError(f"portal up finished but not running: {down_names}")
    report(f"portal up in {time.monotonic() - t0:.1f} s")
    return state


def down(layout: Layout | None = None, report: Report = _quiet) -> StackStatus:
    """Stop what we started (by pidfile), newest first; keep all data."""
    layout = layout or get_layout()
    if not layout.home.exists():
        return status(layout)
    with _exclusive(layout, report):
        for name, stop in (("ckan", ckan.stop), ("solr", solr.stop), ("redis", redis.stop),
                           ("postgres", postgres.stop)):
            _note(report, stop(layout), f"{name}: stopped")
    return status(layout)


def status(layout: Layout | None = None) -> StackStatus:
    """Each service: running or not, its URL, version, pid and log."""
    layout = layout or get_layout()
    return StackStatus(home=layout.home, components=(
        postgres.status(layout), redis.status(layout), solr.status(layout), ckan.status(layout),
    ))


def connection(layout: Layout | None = None, *, local: bool = False) -> tuple[str, str]:
    """(ckan_url, api_token) for the publisher: `KCDATA_CKAN_URL`/`KCDATA_CKAN_TOKEN` when set
    (a real portal), else the local stack's secrets.env. `local=True` ignores the environment
    (tests that create and purge datasets must never reach a real portal)."""
    url = None if local else os.environ.get("KCDATA_CKAN_URL")
    token = None if local else os.environ.get("KCDATA_CKAN_TOKEN")
    if url and token:
        return url.rstrip("/"), token
    layout = layout or get_layout()
    values = sec.load(layout.secrets_file)
    url = url or values.get(sec.CKAN_URL)
    token = token or values.get(sec.CKAN_API_TOKEN)
    if not url or not token:
        raise PortalError(
            f"no CKAN connection: set KCDATA_CKAN_URL and KCDATA_CKAN_TOKEN, or run `kcdata portal up` "
            f"(it writes {layout.secrets_file})"
        )
    return url.rstrip("/"), token
