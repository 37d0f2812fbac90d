"""Signing in and out of the catalog web in a real browser, CSRF protection and the sign-in
rate limit, against a real uvicorn server and SQLite store (the accounts_site fixture)."""
from __future__ import annotations

import httpx

from tests.web.conftest import ACCOUNTS_PASSWORD


def test_sign_in_and_out(sign_in_as, accounts_site):
    page = sign_in_as("health_reviewer")
    assert page.locator("[data-testid=account-name]").inner_text() == "health reviewer"
    assert "部门审核员" in page.locator(".account-slot").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "kcdata_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    page.goto(f"{accounts_site.url}/review")
    assert page.locator("h1").inner_text().startswith("待审核")
    page.click("form[action='/logout'] button")
    page.wait_for_load_state()
    assert page.locator("[data-testid=account-name]").count() == 0
    page.goto(f"{accounts_site.url}/review")  # signed out: a page for reviewers asks to sign in again
    assert "/login?next=/review" in page.url


def test_a_wrong_password_is_refused_with_a_message(sign_in_as):
    page = sign_in_as("health_user", "not the password at all")
    assert "用户名或密码错误" in page.locator("[data-testid=login-error]").inner_text()
    assert page.locator("[data-testid=account-name]").count() == 0


def test_a_post_without_a_csrf_token_is_refused(sign_in_as, accounts_site):
    page = sign_in_as("health_reviewer")
    # a form on another site (or a script) posting with the victim's cookies, but without the token
    answer = page.request.post(f"{accounts_site.url}/resource/KC-WSJK-001/workflow/approve", form={"note": "forged"})
    assert answer.status == 403 and "请求已拒绝" in answer.text()
    answer = page.request.post(f"{accounts_site.url}/logout", form={"csrf_token": "guessed"})
    assert answer.status == 403
    page.reload()
    assert page.locator("[data-testid=account-name]").count() == 1  # still signed in: the forged logout failed
    # the anonymous login form is protected too (signed double-submit cookie)
    assert httpx.post(f"{accounts_site.url}/login", data={"username": "admin", "password": ACCOUNTS_PASSWORD}).status_code == 403


def test_the_sixth_sign_in_after_five_failures_is_blocked_even_with_the_right_password(browser, accounts_site, accounts_env):
    from catalog.accounts import create_account

    create_account(accounts_env.store(), "locked_out", ACCOUNTS_PASSWORD, "department_user", "health")
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{accounts_site.url}/login")
        for _ in range(5):
            page.fill("input[name=username]", "locked_out")
            page.fill("input[name=password]", "a wrong guess!")
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_load_state()
            assert "用户名或密码错误" in page.locator("[data-testid=login-error]").inner_text()
        page.fill("input[name=username]", "locked_out")
        page.fill("input[name=password]", ACCOUNTS_PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_load_state()
        message = page.locator("[data-testid=login-error]").inner_text()
        assert "请 15 分钟后再试" in message and "Try again in 15 minutes" in message
        assert page.locator("[data-testid=account-name]").count() == 0
    finally:
        context.close()
    from catalog.audit import events

    actions = [e.action for e in events(accounts_env.store()) if e.subject == "locked_out"]
    assert actions[:2] == ["login.refused", "login.failure"] and actions.count("login.failure") == 5
