"""The running system's services for real: PostgreSQL, Redis, Solr 9, CKAN 2.12 and Airflow 3.3
under supervisord, on loopback only, with their secrets outside the repository."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import ckanapi
import pytest
import requests

from stack import connection, status, up
from stack.layout import AIRFLOW_PORT, CKAN_PORT, PG_PORT, PROJECT_ROOT, REDIS_PORT, S3_PORT, SOLR_PORT, WEB_PORT, get_layout

CATALOG_FIELDS = {
    "title_en": "Stack test register",
    "provider": "知识城测试局",
    "provider_code": "11440100TEST0001",
    "category": "基础/主题/部门",
    "summary": "用于验证门户栈的测试数据。",
    "resource_format": "电子表格",
    "update_cycle": "每日",
    "open_type": "无条件开放",
    "open_condition": "",
    "share_type": "无条件共享",
    "grade": "一般",
    "published_date": "2026-11-01",
    "modified_date": "2026-11-22",
    "catalog_version": "3",
    "quality_summary": "1000 rows, 0 rejected",
    "related_resources": "KC-TEST-000",
    "fingerprint": "sha256:" + "ab" * 32,
}


@pytest.fixture
def ckan(portal: tuple[str, str]) -> ckanapi.RemoteCKAN:
    url, token = portal
    return ckanapi.RemoteCKAN(url, apikey=token)


@pytest.fixture
def dataset(ckan: ckanapi.RemoteCKAN) -> Iterator[dict]:
    """A throw-away organisation and dataset with every catalog field; purged afterwards."""
    suffix = uuid.uuid4().hex[:8]
    org = ckan.action.organization_create(name=f"stack-test-{suffix}", title="测试部门 Test department")
    code = f"KC-TEST-{suffix.upper()}"
    try:
        ds = ckan.action.package_create(
            name=f"stack-test-{suffix}", title="门户栈测试 Stack test", owner_org=org["id"],
            notes="Integration test of the local portal.", license_id="cc-by",
            tag_string="kcdata,test", resource_code=code, **CATALOG_FIELDS,
            resources=[{"url": "http://127.0.0.1/none.csv", "name": "data.csv", "format": "CSV",
                        "description": "test rows"}],
        )
        yield ds
    finally:
        for name in [p["name"] for p in ckan.action.package_search(
                fq=f'owner_org:"{org["id"]}"', include_private=True, rows=100)["results"]]:
            ckan.action.dataset_purge(id=name)
        ckan.action.organization_purge(id=org["id"])


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp{,6} (hex as the kernel writes it)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


def test_every_component_runs_on_loopback(portal: tuple[str, str]) -> None:
    state = status()
    assert [c.name for c in state.components] == [
        "postgres", "redis", "seaweedfs", "solr", "ckan", "ckan-jobs",
        "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "catalog-web",
    ]
    assert state.running, state
    assert all(c.state == "RUNNING" and c.pid for c in state.components)  # supervisord's view
    assert {c.name: c.version for c in state.components}["airflow-scheduler"] == "3.3.2"
    assert state["postgres"].version.startswith("15.")
    assert state["solr"].version.startswith("9.")
    assert state["ckan"].version == "2.12.0"
    for plugin in ("datastore", "scheming_datasets", "dcat"):
        assert plugin in state["ckan"].detail
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    assert "resources in the catalog" in state["catalog-web"].detail  # /healthz read the catalog
    assert state["seaweedfs"].version == "4.48"
    for port in (PG_PORT, REDIS_PORT, S3_PORT, SOLR_PORT, CKAN_PORT, AIRFLOW_PORT, WEB_PORT):
        addresses = _listening_addresses(port)
        assert addresses and addresses <= loopback, (port, addresses)


def test_up_again_is_quick_and_changes_nothing(portal: tuple[str, str]) -> None:
    said: list[str] = []
    started = time.monotonic()
    up(report=said.append)
    assert time.monotonic() - started < 15
    assert [m for m in said if not m.startswith("up in")] == []


def test_secrets_are_private_outside_the_repo_and_token_is_the_publishers(portal: tuple[str, str]) -> None:
    layout = get_layout()
    assert PROJECT_ROOT not in layout.secrets_file.parents  # nothing secret can be committed
    for private in (layout.secrets_file, layout.ckan_ini, layout.airflow_passwords, layout.system_env):
        assert private.stat().st_mode & 0o777 == 0o600, private
    # supervisord's configuration (readable, in the state folder) holds no secret
    conf = layout.supervisor_conf.read_text()
    from stack import secrets as sec

    for key, value in sec.load(layout.secrets_file).items():
        assert value not in conf, key
    url, token = portal
    me = requests.get(f"{url}/api/3/action/user_show", params={"id": "kcdata_publisher"},
                      headers={"Authorization": token}, timeout=10).json()["result"]
    assert me["sysadmin"] is True


def test_package_search_answers(ckan: ckanapi.RemoteCKAN, dataset: dict) -> None:
    """Search over everything finds the dataset just made: once by its name, and in the total."""
    named = ckan.action.package_search(q="*:*", fq=f'name:"{dataset["name"]}"', rows=0)
    assert named["count"] == 1
    assert ckan.action.package_search(q="*:*", rows=0)["count"] >= named["count"]


def test_catalog_fields_are_stored_and_indexed_by_solr(ckan: ckanapi.RemoteCKAN, dataset: dict) -> None:
    shown = ckan.action.package_show(id=dataset["name"])
    for key, value in CATALOG_FIELDS.items():
        assert shown[key] == value, key
    code = shown["resource_code"]
    # exact match on the string copy, token match on extras_<field>, and the default text search
    for q in (f'resource_code:"{code}"', f'extras_resource_code:"{code}"', f'grade:"一般" AND resource_code:"{code}"',
              f'"Stack test register" AND name:{dataset["name"]}'):
        found = ckan.action.package_search(q=q)
        assert [d["name"] for d in found["results"]] == [dataset["name"]], q
    assert ckan.action.package_search(fq=f'resource_code:"{code}"')["count"] == 1


def test_purged_dataset_leaves_the_index(ckan: ckanapi.RemoteCKAN) -> None:
    suffix = uuid.uuid4().hex[:8]
    org = ckan.action.organization_create(name=f"stack-purge-{suffix}")
    try:
        ckan.action.package_create(name=f"stack-purge-{suffix}", owner_org=org["id"],
                                   resource_code=f"KC-PURGE-{suffix}")
        assert ckan.action.package_search(fq=f'resource_code:"KC-PURGE-{suffix}"')["count"] == 1
        ckan.action.dataset_purge(id=f"stack-purge-{suffix}")
        assert ckan.action.package_search(fq=f'resource_code:"KC-PURGE-{suffix}"',
                                          include_private=True)["count"] == 0
    finally:
        ckan.action.organization_purge(id=org["id"])


def test_datastore_create_with_declared_fields(ckan: ckanapi.RemoteCKAN, dataset: dict) -> None:
    resource_id = dataset["resources"][0]["id"]
    fields = [
        {"id": "code", "type": "text", "info": {"label": "代码"}},
        {"id": "amount", "type": "numeric"},
        {"id": "day", "type": "date"},
    ]
    ckan.action.datastore_create(resource_id=resource_id, force=True, primary_key=["code"], fields=fields,
                                 records=[{"code": "A1", "amount": "12.50", "day": "2026-11-01"},
                                          {"code": "B2", "amount": "3", "day": "2026-11-02"}])
    result = ckan.action.datastore_search(resource_id=resource_id, sort="code")
    assert result["total"] == 2
    types = {f["id"]: f["type"] for f in result["fields"]}
    assert types == {"_id": "int", "code": "text", "amount": "numeric", "day": "date"}
    assert [r["code"] for r in result["records"]] == ["A1", "B2"]


def test_dcat_serialises_the_dataset_and_the_catalog(portal: tuple[str, str], dataset: dict) -> None:
    url, _ = portal
    jsonld = requests.get(f"{url}/dataset/{dataset['name']}.jsonld", timeout=30)
    assert jsonld.status_code == 200
    assert "application/ld+json" in jsonld.headers["Content-Type"]
    assert "门户栈测试" in jsonld.text
    catalog = requests.get(f"{url}/catalog.ttl", timeout=30)
    assert catalog.status_code == 200
    assert "dcat:Catalog" in catalog.text


def test_connection_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCDATA_CKAN_URL", "https://data.example.org/")
    monkeypatch.setenv("KCDATA_CKAN_TOKEN", "t0ken")
    assert connection() == ("https://data.example.org", "t0ken")


def test_a_crashed_service_is_restarted_by_supervisord(portal: tuple[str, str]) -> None:
    import os
    import signal

    from stack import redis

    before = status()["redis"]
    os.kill(before.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = status()["redis"]
        if now.running and now.pid and now.pid != before.pid:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"redis not restarted: {status()['redis']}")
    assert redis.ping()
    # What lost its connection to Redis (CKAN's jobs worker exits and is restarted) comes back too:
    # the whole system answers healthy again, as `kcdata status` shows it.
    deadline = time.monotonic() + 120
    while not (now := status()).running and time.monotonic() < deadline:
        time.sleep(1)
    assert now.running, [(c.name, c.state) for c in now.components if not c.running]


def test_status_and_logs_commands(portal: tuple[str, str]) -> None:
    import subprocess
    import sys

    kcdata = str(Path(sys.executable).parent / "kcdata")
    shown = subprocess.run([kcdata, "status"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout
    for name in ("postgres", "ckan", "airflow-scheduler", "airflow-triggerer"):
        assert name in shown.stdout
    logs = subprocess.run([kcdata, "logs", "airflow-scheduler", "-n", "5"], capture_output=True, text=True, timeout=60)
    assert logs.returncode == 0 and logs.stdout.strip()
    unknown = subprocess.run([kcdata, "logs", "nginx"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "airflow-scheduler" in unknown.stdout  # names the services there are
