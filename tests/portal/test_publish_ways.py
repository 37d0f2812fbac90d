"""Publishing several datasets at once (KCDATA_PUBLISH_WAYS): every resource is tried even when one
fails, the failures are raised together naming each resource, and the results keep the catalog's
order. The CKAN side of parallel publishing is exercised by the system tests, which publish the
sample catalog through `publish_all`."""
from __future__ import annotations

import threading
import time

import pytest

import portal.publisher as publisher
from catalog.entries import load_catalog
from common.errors import KcdataError
from portal.client import CkanTarget, Portal
from portal.publisher import PublishResult


@pytest.fixture
def attempts(monkeypatch, lake):
    """publish_resource replaced by one that records what it was asked, fails for two resources,
    and takes a moment (so the threads overlap)."""
    seen: list[tuple[str, str]] = []
    failing = {r.code for r in load_catalog()[1:3]}

    def publish_resource(resource, portal, paths, store):
        seen.append((resource.code, threading.current_thread().name))
        time.sleep(0.05)
        if resource.code in failing:
            raise KcdataError(f"CKAN refused {resource.code}")
        return PublishResult(resource.code, "published", None)

    monkeypatch.setattr(publisher, "publish_resource", publish_resource)
    return seen, failing


def test_one_failure_does_not_stop_the_others_and_every_failure_is_named(attempts):
    seen, failing = attempts
    codes = [r.code for r in load_catalog()]
    with pytest.raises(KcdataError) as raised:
        publisher.publish_all(Portal(CkanTarget("http://127.0.0.1:9", "t")), ways=3)
    assert sorted(code for code, _ in seen) == sorted(codes)  # every resource was tried
    assert all(code in str(raised.value) for code in failing)
    assert len({thread for _, thread in seen}) > 1  # at once


def test_results_keep_the_order_asked_for(attempts):
    seen, failing = attempts
    codes = [r.code for r in load_catalog() if r.code not in failing]
    results = publisher.publish_all(Portal(CkanTarget("http://127.0.0.1:9", "t")), codes=list(reversed(codes)), ways=4)
    assert [r.code for r in results] == list(reversed(codes))
