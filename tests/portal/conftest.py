"""The portal tests' shared publish: six resources ingested for real, some approved, one failing
validation, one not open, published through the Airflow publish DAG to the real local CKAN.

Session-scoped, so test_publish.py (publishing rules) and test_standards.py (what the portal
says: languages, licences, DCAT-AP 3, previews) look at the same portal without a second run.
"""
from __future__ import annotations

import pytest
from published_set import ALL, CONDITIONAL, FAILED, NOT_OPEN, OPEN, PERSONAL  # tests/portal/published_set.py


@pytest.fixture(scope="session")
def published(portal, tmp_path_factory, airflow_db):
    """Ingest, approve and publish through Airflow; yields (target, lake paths)."""
    from ckanapi.errors import NotFound

    from catalog.entries import get_resource
    from catalog.store import open_store
    from flow.pipeline import land_and_validate, open_views, transform
    from portal.client import CkanTarget, Portal
    from portal.mapping import dataset_name
    from samples.generate import generate_resource

    url, token = portal
    target = CkanTarget(url, token)
    root = tmp_path_factory.mktemp("publish")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(root / "lake"))
        mp.setenv("KCDATA_INBOX", str(root / "inbox"))
        admin = Portal(target)
        for code in ALL:  # the local portal may hold these from an earlier run
            try:
                admin.call("dataset_purge", id=dataset_name(get_resource(code)))
            except NotFound:
                pass
        for code in ALL:
            resource = get_resource(code)
            bad = 0.30 if code == FAILED else 0.02
            sample = generate_resource(resource, root / "inbox", rows=1200, bad_share=bad, seed=5)
            land_and_validate(resource, sample.path)
        transform()  # dbt, then the open views the publisher uploads
        open_views()
        store = open_store()
        for code in (OPEN, PERSONAL, CONDITIONAL, NOT_OPEN, FAILED):
            store.record_approval(get_resource(code), "approve", "测试审核员")
        from orchestration.airflow_run import run_publish

        assert run_publish(target).state == "success"
        from common.settings import get_paths

        yield target, get_paths()
