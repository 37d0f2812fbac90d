"""The catalog web as part of the running system: `kcdata up` serves it on 127.0.0.1:8000 over the
system's own catalog, and a reviewer's decision taken in the browser is the decision the next
publish run applies — a rejection keeps the dataset off CKAN, an approval puts it there."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import ckanapi
import httpx

WEB = "http://127.0.0.1:8000"
CLINICS = "KC-WSJK-001"  # health: 无条件开放; no other test of the running system publishes it
REVIEWER, PASSWORD = "health_reviewer_sys", "reviewer password for tests"


def _wait(what: str, check, timeout: float = 300.0):
    from test_running_system import _wait as wait

    return wait(what, check, timeout=timeout, every=2.0)


def _kcdata(system, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    kcdata = str(Path(sys.executable).parent / "kcdata")
    return subprocess.run([kcdata, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **system.env})


def _in_env(system, fn, *args):
    with mock.patch.dict(os.environ, system.env):
        return fn(*args)


def _deliver_clinics(system, tmp: Path):
    """A sample delivery of the clinics resource, marked complete; returns its version once the
    chain has built its open view (so only the approval decides publication)."""
    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.lake import Zone
    from connectors.inbox import submit_delivery
    from samples.generate import generate_resource

    resource = _in_env(system, get_resource, CLINICS)
    file = generate_resource(resource, tmp, rows=300, bad_share=0.0, seed=9).path
    submit_delivery(resource, file, system.paths())
    store = open_store(system.paths().catalog_url)

    def open_view_built():
        version = store.latest_version(CLINICS)
        if version is None:
            return None
        return version if system.paths().batch_file(Zone.open, resource.table, version.fingerprint, version.rules).exists() else None

    return resource, _wait("the clinics open view", open_view_built)


def _publish_runs_settled(system, since: float) -> bool:
    from datetime import datetime, timezone

    runs = system.api.runs("publish__portal", since=datetime.fromtimestamp(since, timezone.utc))
    return bool(runs) and all(r.state in ("success", "failed") for r in runs)


def _sign_in(page) -> None:
    page.goto(f"{WEB}/login")
    page.fill("input[name=username]", REVIEWER)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def test_the_system_serves_the_catalog_web_over_its_own_catalog(system):
    health = httpx.get(f"{WEB}/healthz", timeout=10).json()
    assert health["status"] == "ok"
    assert health["resources"] == len(list(system.catalog_dir.glob("*/*.yaml")))
    found = httpx.get(f"{WEB}/search", params={"q": "接口"}, timeout=10)
    assert found.status_code == 200 and "KC-STHJ-901" in found.text  # the session's own catalog entry


def test_rejecting_in_the_browser_keeps_it_off_ckan_and_approving_publishes_it(system, portal, browser, tmp_path):
    from portal.mapping import dataset_name

    added = _kcdata(system, "users", "add", REVIEWER, "--role", "department_reviewer", "--department", "health",
                    "--name", "卫健审核员", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stdout + added.stderr
    resource, version = _deliver_clinics(system, tmp_path)
    ckan = ckanapi.RemoteCKAN(portal[0], apikey=portal[1])

    def on_ckan() -> bool:
        try:
            dataset = ckan.action.package_show(id=dataset_name(resource))
        except ckanapi.NotFound:
            return False
        return dataset.get("state") == "active" and dataset.get("fingerprint", "").endswith(version.fingerprint)

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    try:
        _sign_in(page)
        page.goto(f"{WEB}/resource/{CLINICS}")
        started = time.time()
        page.fill("form[data-action=reject] input[name=note]", "测试：字段说明不全 descriptions incomplete")
        page.click("form[data-action=reject] button")
        page.wait_for_load_state()
        assert "字段说明不全" in page.inner_text("[data-testid=workflow]")
        _wait("the publish run after the rejection", lambda: _publish_runs_settled(system, started))
        assert not on_ckan()

        started = time.time()
        page.goto(f"{WEB}/resource/{CLINICS}")
        page.click("form[data-action=approve] button")
        page.wait_for_load_state()
        assert "批准" in page.inner_text("[data-testid=workflow-state]")
        _wait("the dataset on CKAN after the approval in the browser", on_ckan)

        # the publish run then scores the dataset from the portal's own DCAT record and links
        from catalog.metadata_scores import score_history
        from catalog.store import open_store

        scores = _wait("a metadata-quality score of the published dataset",
                       lambda: score_history(open_store(system.paths().catalog_url), CLINICS))
        assert scores[-1].source_url.endswith(f"/dataset/{dataset_name(resource)}.ttl")
        assert scores[-1].rating in ("excellent", "good"), (scores[-1].points, scores[-1].indicators)
        page.goto(f"{WEB}/resource/{CLINICS}")
        assert f"{scores[-1].points}" in page.inner_text("[data-testid=mqa]")
    finally:
        context.close()

    from catalog.audit import events

    store = open_store(system.paths().catalog_url)
    assert [a.action for a in store.approvals(CLINICS)][-2:] == ["reject", "approve"]
    logged = [(e.action, e.actor) for e in events(store, resource_code=CLINICS)]
    assert ("approval.reject", REVIEWER) in logged and ("approval.approve", REVIEWER) in logged, logged
