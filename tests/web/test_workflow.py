"""Approvals in the browser are the CLI's acts on the same record: a department user submits, the
department's reviewer approves or rejects (with a reason) on the resource page, the ApprovalRow
and audit events are stored, and the publication gate follows."""
from __future__ import annotations

from catalog.entries import get_resource
from portal.gate import Mode
from portal.publisher import gate_decision
from tests.web.conftest import CLINICS


def _gate(env):
    return gate_decision(env.store(), get_resource(CLINICS))[0]


def _step(page, action: str, note: str = "") -> None:
    form = page.locator(f"form[data-action={action}]")
    if note:
        form.locator("input[name=note]").fill(note)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_submit_reject_resubmit_approve_in_the_browser(sign_in_as, accounts_site, accounts_env, artifact):
    url = f"{accounts_site.url}/resource/{CLINICS}"
    user = sign_in_as("health_user")
    user.goto(url)
    assert [f.get_attribute("data-action") for f in user.locator("form.workflow-form").all()] == ["submit"]
    _step(user, "submit", "请审核")
    assert "已提交" in user.locator(".flash").first.inner_text()
    assert user.locator("[data-testid=pending]").count() == 1

    reviewer = sign_in_as("health_reviewer")
    reviewer.goto(f"{accounts_site.url}/review")
    assert CLINICS in reviewer.locator("[data-testid=review-queue]").inner_text()
    reviewer.click(f"text={CLINICS}")
    reviewer.wait_for_load_state()
    assert {f.get_attribute("data-action") for f in reviewer.locator("form.workflow-form").all()} == {"approve", "reject"}

    # a rejection needs a reason; the browser will not send the form without one
    assert reviewer.locator("form[data-action=reject] input[name=note]").get_attribute("required") is not None
    _step(reviewer, "reject", "地址字段缺失，请补全后重新提交")
    assert "地址字段缺失" in reviewer.locator("[data-testid=decision-note]").inner_text()
    assert "rejected by a department reviewer" in reviewer.locator("[data-testid=gate]").inner_text()
    decision = _gate(accounts_env)
    assert decision.mode is Mode.none and decision.reasons == ["rejected by a department reviewer"]
    reviewer.goto(f"{accounts_site.url}/review")
    assert reviewer.locator("[data-testid=review-empty]").count() == 1

    user.goto(url)
    _step(user, "submit", "已补全")
    reviewer.goto(url)
    _step(reviewer, "approve", "数据无误")
    flash = reviewer.locator(".flash").first.inner_text()
    assert "已批准" in flash and "系统未运行" in flash  # no running system here: the next publish run applies it
    assert _gate(accounts_env).mode is Mode.data
    assert "符合发布条件" in reviewer.locator("[data-testid=gate]").inner_text()
    reviewer.screenshot(path=str(artifact("accounts-approved.png")), full_page=True)

    store = accounts_env.store()
    assert [(a.action, a.by, a.note) for a in store.approvals(CLINICS)] == [
        ("submit", "health user (health_user)", "请审核"),
        ("reject", "health reviewer (health_reviewer)", "地址字段缺失，请补全后重新提交"),
        ("submit", "health user (health_user)", "已补全"),
        ("approve", "health reviewer (health_reviewer)", "数据无误"),
    ]
    from catalog.audit import events

    logged = [(e.actor, e.role, e.action, e.client) for e in reversed(events(store, resource_code=CLINICS))]
    assert logged == [
        ("health_user", "department_user", "approval.submit", "127.0.0.1"),
        ("health_reviewer", "department_reviewer", "approval.reject", "127.0.0.1"),
        ("health_user", "department_user", "approval.submit", "127.0.0.1"),
        ("health_reviewer", "department_reviewer", "approval.approve", "127.0.0.1"),
    ]
    # the audit log page shows it to the department's reviewer, filtered by resource
    reviewer.goto(f"{accounts_site.url}/audit?resource={CLINICS}&action=approval.reject")
    rows = reviewer.locator("[data-testid=audit-events] tbody tr")
    assert rows.count() == 1 and "health_reviewer" in rows.first.inner_text()


def test_roles_are_checked_on_the_server_not_only_by_hidden_buttons(sign_in_as, accounts_site, accounts_env):
    """A department user, or another department's reviewer, posting a decision with a valid
    token gets 403 and nothing is recorded."""
    before = len(accounts_env.store().approvals(CLINICS))
    for username in ("health_user", "transport_user"):
        page = sign_in_as(username)
        page.goto(f"{accounts_site.url}/resource/{CLINICS}")
        assert page.locator("form[data-action=approve]").count() == 0
        token = page.evaluate("() => document.querySelector('input[name=csrf_token]').value")
        answer = page.request.post(f"{accounts_site.url}/resource/{CLINICS}/workflow/approve",
                                   form={"csrf_token": token, "note": "sneaky"})
        assert answer.status == 403, username
    assert len(accounts_env.store().approvals(CLINICS)) == before
    page = sign_in_as("transport_user")
    page.goto(f"{accounts_site.url}/review")
    assert page.locator("h1").inner_text().startswith("无权访问")
