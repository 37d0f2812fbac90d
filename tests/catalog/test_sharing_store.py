"""Sharing among departments on a real store: who may request what, the provider's decision, and
a grant that ends at `valid_until` (with an injected clock)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from catalog import sharing
from catalog.accounts import create_account
from catalog.audit import events
from catalog.entries import get_resource, load_catalog
from catalog.model import ShareType
from catalog.store import open_store

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 23, 9, 0, 0)


def _by_share(kind: ShareType):
    return next(r for r in load_catalog() if r.share.type is kind)


@pytest.fixture
def people(lake):
    store = open_store()
    conditional = _by_share(ShareType.conditional)
    provider = conditional.provider.slug
    other = next(r.provider.slug for r in load_catalog() if r.provider.slug != provider)
    return store, conditional, {
        "asker": create_account(store, "asker", PASSWORD, "department_user", other),
        "reviewer": create_account(store, "rev", PASSWORD, "department_reviewer", provider),
        "outsider": create_account(store, "out", PASSWORD, "department_reviewer", other),
        "admin": create_account(store, "admin", PASSWORD, "bureau_admin"),
    }


def test_an_approved_grant_gives_access_until_it_expires(people):
    store, resource, who = people
    row = sharing.request_access(store, who["asker"], resource, "联合执法", T0, T0 + timedelta(hours=2), now=T0)
    department = who["asker"].department
    assert sharing.status(row, T0) == "pending" and not sharing.has_grant(store, department, resource.code, T0)
    with pytest.raises(sharing.SharingForbidden):
        sharing.approve(store, who["outsider"], row.id, now=T0)
    with pytest.raises(sharing.SharingForbidden):
        sharing.approve(store, who["asker"], row.id, now=T0)  # nobody approves their own request
    approved = sharing.approve(store, who["reviewer"], row.id, now=T0 + timedelta(minutes=1))
    assert approved.status == "approved"
    assert sharing.has_grant(store, department, resource.code, T0 + timedelta(hours=1, minutes=59, seconds=59))
    assert not sharing.has_grant(store, department, resource.code, T0 + timedelta(hours=2))
    assert sharing.status(approved, T0 + timedelta(hours=2)) == "expired"
    assert sharing.STATUS_LABELS["expired"].startswith("已过期")
    assert not sharing.has_grant(store, "health" if department != "health" else "transport", resource.code, T0)
    actions = [e.action for e in reversed(events(store, resource_code=resource.code))]
    assert actions == ["sharing.request", "sharing.approve"]


def test_a_refusal_needs_a_reason_and_a_revoked_grant_ends_at_once(people):
    store, resource, who = people
    first = sharing.request_access(store, who["asker"], resource, "统计分析", T0, T0 + timedelta(days=30), now=T0)
    with pytest.raises(sharing.SharingRefused, match="reason"):
        sharing.refuse(store, who["reviewer"], first.id, "  ", now=T0)
    assert sharing.refuse(store, who["reviewer"], first.id, "用途不明确", now=T0).reason == "用途不明确"
    second = sharing.request_access(store, who["asker"], resource, "统计分析（补充说明）", T0, T0 + timedelta(days=30), now=T0)
    sharing.approve(store, who["admin"], second.id, now=T0)
    assert sharing.has_grant(store, who["asker"].department, resource.code, T0 + timedelta(days=1))
    sharing.revoke(store, who["reviewer"], second.id, "项目结束", now=T0 + timedelta(days=2))
    assert not sharing.has_grant(store, who["asker"].department, resource.code, T0 + timedelta(days=3))
    with pytest.raises(sharing.SharingRefused):
        sharing.approve(store, who["reviewer"], second.id, now=T0)  # a revoked request stays revoked


def test_what_cannot_be_requested(people):
    store, conditional, who = people
    # the sample catalog has no 不予共享 entry: the same resource, declared not shared
    not_shared = conditional.model_copy(update={"share": conditional.share.model_copy(update={"type": ShareType.none})})
    with pytest.raises(sharing.SharingRefused, match="不予共享"):
        sharing.request_access(store, who["asker"], not_shared, "想看", T0, T0 + timedelta(days=1), now=T0)
    own = get_resource(conditional.code)
    with pytest.raises(sharing.SharingRefused, match="own department"):
        sharing.request_access(store, who["reviewer"], own, "自己的", T0, T0 + timedelta(days=1), now=T0)
    with pytest.raises(sharing.SharingRefused, match="department's users"):
        sharing.request_access(store, who["admin"], own, "管理员", T0, T0 + timedelta(days=1), now=T0)
    with pytest.raises(sharing.SharingRefused, match="after"):
        sharing.request_access(store, who["asker"], own, "x", T0, T0, now=T0)
    with pytest.raises(sharing.SharingRefused, match="purpose"):
        sharing.request_access(store, who["asker"], own, " ", T0, T0 + timedelta(days=1), now=T0)
    unconditional = next((r for r in load_catalog() if r.share.type is ShareType.unconditional
                          and r.provider.slug != who["asker"].department), None)
    if unconditional is not None:
        with pytest.raises(sharing.SharingRefused, match="no request is needed"):
            sharing.request_access(store, who["asker"], unconditional, "x", T0, T0 + timedelta(days=1), now=T0)
