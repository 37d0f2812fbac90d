"""The catalog store on PostgreSQL (the deployment database), not only SQLite.

Uses the PostgreSQL server of the local portal stack, in a database of its own.
"""
from __future__ import annotations

import secrets

import pytest

from catalog.entries import get_resource, load_catalog
from catalog.store import CatalogStore, Edge

DB = "kcdata_catalog_test"


@pytest.fixture
def postgres_url(portal) -> str:
    from stack import get_layout
    from stack.postgres import psql

    layout = get_layout()
    password = secrets.token_urlsafe(16)
    psql(layout, f"DROP DATABASE IF EXISTS {DB};")
    psql(layout, f"DROP ROLE IF EXISTS {DB}; CREATE ROLE {DB} LOGIN PASSWORD '{password}';")
    psql(layout, f"CREATE DATABASE {DB} OWNER {DB} ENCODING 'UTF8' TEMPLATE template0;")
    return f"postgresql+psycopg://{DB}:{password}@127.0.0.1:5432/{DB}"


def test_migrations_and_versions_on_postgresql(postgres_url):
    store = CatalogStore(postgres_url)
    store.sync_resources(load_catalog())
    clinics = get_resource("KC-WSJK-001")
    landed = {
        "source_file": "/in/c.json", "fingerprint": "a" * 64, "encoding": "utf-8", "raw_path": "/r",
        "landed_at": "2026-11-01T08:00:00+00:00",
    }
    outcome = {
        "rows": 3, "accepted": 2, "quarantined": 1, "passed": True, "gx_success": False, "by_rule": {"type": 1},
        "validated_path": "/v", "quarantine_path": "/q", "validated_at": "2026-11-01T08:00:05Z",
    }
    edge = [Edge("land", "file:///in/c.json", "lake://raw/clinics/batch=aaaa")]
    assert store.record_version(clinics, landed, outcome, [{"code": "beds", "type": "BIGINT"}], edge).version == 1
    assert store.record_version(clinics, landed, outcome, [], edge).version == 1
    store.record_approval(clinics, "approve", "王科长")
    store.record_publication(clinics.code, ckan_id="x", ckan_name="kc-wsjk-001", url="http://p/dataset/kc-wsjk-001",
                             state="published", version=1, fingerprint="a" * 64)

    again = CatalogStore(postgres_url)  # migrations are idempotent
    row, versions, edges = again.resource("KC-WSJK-001")
    assert row.name == "医疗机构基本信息" and len(again.resources()) == len(load_catalog())
    assert [v.version for v in versions] == [1] and versions[0].problems_by_rule == {"type": 1}
    assert [e.step for e in edges] == ["land"]
    assert again.current_approval("KC-WSJK-001").by == "王科长"
    assert again.publication("KC-WSJK-001").state == "published"
