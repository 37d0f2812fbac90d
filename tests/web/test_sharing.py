"""Sharing among departments in the browser: a request for another department's 有条件共享
resource, approved by the provider's reviewer, gives access until `valid_until` and then ends
(已过期); 不予共享 resources cannot be requested, whatever the browser sends."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from tests.web.conftest import PATENTS

TALENT = "KC-RLZY-001"  # human resources, 有条件共享
PERIOD = 10  # seconds the grant lasts


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def test_an_approved_request_gives_access_until_it_expires(sign_in_as, accounts_site, accounts_env):
    from web.auth import can_read_data

    asker = sign_in_as("transport_user")
    account = _account(accounts_env, "transport_user")
    asker.goto(f"{accounts_site.url}/resource/{TALENT}")
    assert "需申请共享" in asker.locator("[data-testid=data-access]").inner_text()
    assert not can_read_data(account, TALENT)
    asker.click("[data-testid=request-sharing]")
    asker.wait_for_load_state()
    start = _utc_now()
    until = start + timedelta(seconds=PERIOD)
    asker.fill("textarea[name=purpose]", "人才补贴兑现核对")
    asker.fill("input[name=valid_from]", (start - timedelta(minutes=1)).isoformat())
    asker.fill("input[name=valid_until]", until.isoformat())
    asker.click("[data-testid=sharing-form] button[type=submit]")
    asker.wait_for_load_state()
    mine = asker.locator("[data-testid=my-requests] tbody tr").first
    assert mine.get_attribute("data-status") == "pending" and "待审批" in mine.inner_text()

    reviewer = sign_in_as("hr_reviewer")
    reviewer.goto(f"{accounts_site.url}/sharing")
    request_row = reviewer.locator("[data-testid=requests-to-us] tbody tr").first
    assert "transport" in request_row.inner_text() and "人才补贴兑现核对" in request_row.inner_text()
    request_row.locator("button[data-testid^=approve-]").click()
    reviewer.wait_for_load_state()
    assert reviewer.locator("[data-testid=requests-to-us] tbody tr").first.get_attribute("data-status") == "approved"

    assert _utc_now() < until, "the approval must land inside the period for this test to mean anything"
    asker.goto(f"{accounts_site.url}/resource/{TALENT}")
    assert "您可以使用" in asker.locator("[data-testid=data-access]").inner_text()
    assert can_read_data(account, TALENT)

    time.sleep(max(0.0, (until - _utc_now()).total_seconds()) + 1)
    asker.goto(f"{accounts_site.url}/sharing")
    mine = asker.locator("[data-testid=my-requests] tbody tr").first
    assert mine.get_attribute("data-status") == "expired" and "已过期" in mine.inner_text()
    asker.goto(f"{accounts_site.url}/resource/{TALENT}")
    assert "需申请共享" in asker.locator("[data-testid=data-access]").inner_text()
    assert not can_read_data(account, TALENT)

    from catalog.audit import events

    steps = [(e.actor, e.action) for e in reversed(events(accounts_env.store(), resource_code=TALENT))]
    assert steps[-2:] == [("transport_user", "sharing.request"), ("hr_reviewer", "sharing.approve")]


def test_a_resource_not_shared_cannot_be_requested(sign_in_as, accounts_site, accounts_env):
    page = sign_in_as("transport_user")
    page.goto(f"{accounts_site.url}/resource/{PATENTS}")
    assert "不予共享" in page.locator("[data-testid=data-access]").inner_text()
    assert page.locator("[data-testid=request-sharing]").count() == 0
    page.goto(f"{accounts_site.url}/sharing/request/{PATENTS}")
    assert "不能申请" in page.locator("[data-testid=sharing-refusal]").inner_text()
    assert page.locator("[data-testid=sharing-form]").count() == 0
    # posting the form anyway (with a valid token) is refused on the server, and nothing is stored
    token = page.evaluate("() => document.querySelector('input[name=csrf_token]').value")
    now = _utc_now()
    answer = page.request.post(f"{accounts_site.url}/sharing/request/{PATENTS}", form={
        "csrf_token": token, "purpose": "想看", "valid_from": now.isoformat(), "valid_until": (now + timedelta(days=1)).isoformat()})
    assert answer.status == 403 and "不予共享" in answer.text()
    from sqlalchemy import select

    from catalog.tables import SharingRequestRow

    with accounts_env.store().session() as s:
        assert s.scalars(select(SharingRequestRow).where(SharingRequestRow.resource_code == PATENTS)).all() == []


def _account(env, username: str):
    from catalog.accounts import get_account

    return get_account(env.store(), username)
