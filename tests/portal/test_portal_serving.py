"""The portal is served as deployments serve it: gunicorn with several worker processes on
127.0.0.1:5000, and CKAN's background jobs worker running beside it and doing CKAN's jobs.
Asserted from what an operator sees: `kcdata status`, the process list, `kcdata logs`."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

from stack import ckan, get_layout, status

KCDATA = str(Path(sys.executable).parent / "kcdata")


def test_status_shows_ckan_served_by_gunicorn_workers_and_the_jobs_worker(portal: tuple[str, str]) -> None:
    shown = subprocess.run([KCDATA, "status"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
    assert "healthy" in rows["ckan"] and "healthy" in rows["ckan-jobs"], shown.stdout

    server = status()["ckan"]
    master = psutil.Process(server.pid)  # the pid `kcdata status` shows
    assert "gunicorn" in " ".join(master.cmdline())
    workers = master.children()
    assert len(workers) == ckan.WORKERS >= 2
    assert all("gunicorn" in " ".join(w.cmdline()) for w in workers)
    assert f"gunicorn {ckan.WORKERS} workers" in server.detail
    listening = {c.laddr for c in master.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", 5000)}

    jobs = status()[ckan.JOBS]
    assert jobs.running and "ckan:default:default" in jobs.detail  # registered with RQ on CKAN's queue
    assert psutil.Process(jobs.pid).cmdline()[-2:] == ["jobs", "worker"]


def test_concurrent_anonymous_requests_are_all_answered(portal: tuple[str, str]) -> None:
    url, _ = portal
    assert set(_visit_at_once(url)) == {200}


def _visit_at_once(url: str) -> list[int]:
    """96 anonymous requests from 24 clients at once, half of them dataset pages: the status codes."""
    def get(i: int) -> int:
        path = "/api/3/action/package_search?rows=5" if i % 2 else "/dataset/"
        return requests.get(f"{url}{path}", timeout=60).status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        return list(pool.map(get, range(96)))


def test_the_first_visitors_of_a_fresh_portal_all_get_pages(portal: tuple[str, str]) -> None:
    """Left to the first page views, each gunicorn worker built CKAN's web assets itself, and one
    reading a bundle another was still writing answered 500 (3 fresh portals in 7 here; once in
    CI). `kcdata up` builds them before the server starts. The server stopped and its built assets
    removed, `up`, then 24 visitors at once (once: each fresh portal costs a CKAN restart)."""
    from stack import supervisor, up

    url, _ = portal
    layout = get_layout()
    supervisor.stop(layout, "ckan")
    shutil.rmtree(layout.storage / "webassets", ignore_errors=True)
    up(report=lambda _: None)
    codes = _visit_at_once(url)
    assert set(codes) == {200}, {c: codes.count(c) for c in set(codes)}


def test_a_background_job_is_done_by_the_jobs_worker(portal: tuple[str, str]) -> None:
    layout = get_layout()
    enqueued = ckan.ckan_cli(layout, "jobs", "test", what="ckan jobs test", capture=True)
    job_id = enqueued.split("Added test job ")[1].split()[0]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        logs = subprocess.run([KCDATA, "logs", ckan.JOBS, "-n", "400"], capture_output=True, text=True, timeout=60)
        if f"has finished job {job_id}" in logs.stdout:
            return
        time.sleep(1)
    raise AssertionError(f"job {job_id} not done by {ckan.JOBS}:\n{logs.stdout[-2000:]}")


def test_the_load_script_runs_a_short_bounded_load(published, tmp_path: Path) -> None:
    """Smoke run of bench/bench_portal_load.py (few clients, few seconds, no publish): every kind
    of public request is sent and answered; the figures are the bench's business, not this test's."""
    import json

    figures = tmp_path / "load.json"
    done = subprocess.run([sys.executable, "bench/bench_portal_load.py", "--clients", "4", "--duration", "4",
                           "--publish", "none", "--json", str(figures)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(figures.read_text(encoding="utf-8"))
    assert {"search", "dataset_page", "datastore_search", "download"} <= set(result["kinds"])
    assert all(k["requests"] > 0 and k["errors"] == 0 for k in result["kinds"].values())
    assert result["server"]["ckan_jobs"] is True and result["publish"] is None
