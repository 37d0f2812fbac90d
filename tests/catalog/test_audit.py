"""The audit log is append-only and filters by department, resource and action, newest first."""
from __future__ import annotations

import catalog.audit as audit
from catalog.audit import Actor, events, record
from catalog.store import open_store


def test_events_are_kept_newest_first_and_filtered(lake):
    store = open_store()
    record(store, Actor("wang", "department_reviewer", "health", "10.0.0.1"), "approval.approve",
           resource_code="KC-WSJK-001", subject="医疗机构基本信息", detail={"note": "ok"})
    record(store, Actor("chen", "department_reviewer", "transport"), "approval.reject", resource_code="KC-JTYS-001")
    record(store, Actor("wang", "department_reviewer", "health"), "logout")
    assert [e.action for e in events(store)] == ["logout", "approval.reject", "approval.approve"]
    assert [e.actor for e in events(store, department="transport")] == ["chen"]
    first = events(store, resource_code="KC-WSJK-001")[0]
    assert (first.client, first.detail, first.department) == ("10.0.0.1", {"note": "ok"}, "health")
    assert [e.action for e in events(store, action="logout")] == ["logout"]
    assert audit.actions(store) == ["approval.approve", "approval.reject", "logout"]


def test_the_module_offers_no_way_to_change_or_remove_an_event():
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert not {n for n in public if any(w in n.lower() for w in ("update", "delete", "remove", "edit", "purge"))}
