"""Protection as the public and an auditor meet it, on the running system.

A department delivers enterprise registrations with canary personal values planted in them; the
delivery flows by itself through Airflow onto the local CKAN. Then everything the portal shows
anonymously (metadata, every file, every DataStore table) and every open view in the lake is
scanned: no canary value may be there, only its masked form. Afterwards every log and event the
run left (supervisord's service logs, Airflow's task logs, dbt's log, OpenLineage events, asset
events' extras) is searched for every key and password of the system: none may be there.
"""
from __future__ import annotations

import base64
import csv
import json
import os
from pathlib import Path
from unittest import mock

import ckanapi
import pytest
import requests

ENTERPRISES = "KC-SCJG-001"
# What a careless publisher would leak: a representative's name and a mobile number, planted in
# the first rows of a real delivery. Names this unusual occur in no generated sample.
CANARY_NAMES = ("金丝雀甲", "金丝雀乙", "金丝雀丙")
CANARY_PHONES = ("13900011111", "13900022222", "13900033333")
MASKED_PHONES = tuple(f"{p[:3]}****{p[-4:]}" for p in CANARY_PHONES)


def _in_env(system, fn, *args, **kwargs):
    with mock.patch.dict(os.environ, system.env):
        return fn(*args, **kwargs)


def _plant_canaries(resource, file: Path) -> None:
    """Overwrite the representative and phone of the first rows of a GB18030 CSV delivery."""
    name_col = resource.item("legal_representative").name
    phone_col = resource.item("contact_phone").name
    with file.open(encoding=resource.source.encoding, newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for row, name, phone in zip(rows[1:4], CANARY_NAMES, CANARY_PHONES, strict=True):
        row[header.index(name_col)] = name
        row[header.index(phone_col)] = phone
    with file.open("w", encoding=resource.source.encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)


@pytest.fixture(scope="module")
def canary_run(system, portal, tmp_path_factory):
    """Enterprise registrations with canaries, delivered, approved and published by the system."""
    from test_running_system import _wait  # tests/test_running_system.py: poll until true

    from catalog.entries import get_resource
    from catalog.store import open_store
    from common.checksums import sha256_file
    from connectors.inbox import submit_delivery
    from portal.mapping import dataset_name
    from samples.generate import generate_resource

    resource = _in_env(system, get_resource, ENTERPRISES)
    tmp = tmp_path_factory.mktemp("canary")
    file = generate_resource(resource, tmp, rows=400, bad_share=0.0, seed=1010).path
    _plant_canaries(resource, file)
    fingerprint = sha256_file(file)  # a version's fingerprint is the SHA-256 of its source file
    store = open_store(system.paths().catalog_url)
    store.record_approval(resource, "approve", "审核员 Reviewer Li", note="test: canary delivery")
    _in_env(system, submit_delivery, resource, file, system.paths())

    url, _ = portal
    anonymous = ckanapi.RemoteCKAN(url)

    def published_with_canaries():
        try:
            ds = anonymous.action.package_show(id=dataset_name(resource))
        except (ckanapi.NotFound, ckanapi.NotAuthorized):  # not there yet, or retracted by an earlier run
            return None
        return ds if ds.get("fingerprint", "").endswith(fingerprint) else None

    dataset = _wait("the canary delivery on CKAN", published_with_canaries, timeout=420, every=3.0)
    return url, dataset


def _portal_text(url: str) -> dict[str, str]:
    """Everything an anonymous visitor can read from the portal: where -> text."""
    anonymous = ckanapi.RemoteCKAN(url)
    seen: dict[str, str] = {}
    found = anonymous.action.package_search(rows=1000, include_private=False)
    for ds in found["results"]:
        seen[f"metadata of {ds['name']}"] = json.dumps(ds, ensure_ascii=False)
        for res in ds.get("resources", []):
            if res.get("url"):
                reply = requests.get(res["url"], timeout=60)
                if reply.status_code == 200:
                    seen[f"{ds['name']}/{res['name']}"] = reply.content.decode("utf-8", errors="replace")
            if res.get("datastore_active"):
                offset, records = 0, []
                while True:
                    page = anonymous.action.datastore_search(resource_id=res["id"], limit=5000, offset=offset)
                    records += page["records"]
                    offset += 5000
                    if offset >= page.get("total", 0):
                        break
                seen[f"DataStore of {ds['name']}/{res['name']}"] = json.dumps(records, ensure_ascii=False)
    return seen


def test_planted_personal_values_reach_neither_the_open_lake_nor_the_portal(system, canary_run):
    import pyarrow.parquet as pq

    url, dataset = canary_run
    shown = _portal_text(url)
    assert any(dataset["name"] in where for where in shown)
    leaks = [(where, value) for where, text in shown.items() for value in (*CANARY_NAMES, *CANARY_PHONES) if value in text]
    assert not leaks, f"canary values on the portal: {leaks}"
    # the treatment, not a dropped column: the masked numbers are what the public sees
    datastore = next(text for where, text in shown.items() if where.startswith(f"DataStore of {dataset['name']}"))
    assert all(masked in datastore for masked in MASKED_PHONES)

    open_views = sorted((system.root / "lake" / "open").rglob("*.parquet"))
    assert open_views
    for view in open_views:
        text = json.dumps(pq.read_table(view).to_pylist(), ensure_ascii=False, default=str)
        assert not [v for v in (*CANARY_NAMES, *CANARY_PHONES) if v in text], view


def _secret_forms(value: str) -> set[str]:
    """A secret as it could appear in a log: itself, and a key's bytes re-encoded."""
    forms = {value}
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) >= 16:
        forms |= {raw.hex(), base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")}
    return {f for f in forms if len(f) >= 12}


def _system_secrets() -> dict[str, set[str]]:
    from common.keys import read_keys_file
    from stack import secrets as sec
    from stack.layout import get_layout

    layout = get_layout()
    values = {**sec.load(layout.secrets_file), **read_keys_file(layout.keys_file)}
    values.pop("CKAN_URL", None)  # an address, not a secret
    return {name: _secret_forms(v) for name, v in values.items() if v}


def _logs_and_events(system) -> dict[str, str]:
    from stack.layout import get_layout

    layout = get_layout()
    roots = [layout.logs, layout.airflow_home / "logs", system.root / "lake" / ".dbt" / "logs", system.root / "lake" / "lineage"]
    texts = {}
    for root in roots:
        for path in root.rglob("*") if root.exists() else ():
            if path.is_file():
                texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    events = system.api._get("/assets/events", limit=1000)
    texts["Airflow asset events"] = json.dumps(events, ensure_ascii=False)
    return texts


def test_no_key_or_password_in_any_log_or_event_of_the_run(system, canary_run):
    secrets = _system_secrets()
    assert {"KCDATA_MASTER_KEY", "KCDATA_PSEUDONYM_KEY", "KCDATA_SIGNING_KEY", "CKAN_API_TOKEN"} <= set(secrets)
    texts = _logs_and_events(system)
    assert any("lineage" in where for where in texts) and any("/airflow/logs/" in where for where in texts)
    found = [(name, where) for where, text in texts.items() for name, forms in secrets.items() if any(f in text for f in forms)]
    assert not found, f"secrets in logs or events (name, where): {found}"


def test_no_key_or_password_in_the_repository(system):
    import subprocess

    from common.settings import PROJECT_ROOT

    secrets = _system_secrets()
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout.split(b"\0")
    found = []
    for name in filter(None, tracked):
        path = PROJECT_ROOT / name.decode()
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            found += [(key, str(name)) for key, forms in secrets.items() if any(f in text for f in forms)]
    assert not found, found
