"""The resource page's leak-gate box, through the web app's own test client: a reviewer of the
providing department records an exception (column, rule, reason, expiry) and sees it listed;
another department's reviewer gets the form refused; an anonymous visitor sees no form."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from catalog.entries import get_resource

ENTERPRISES = get_resource("KC-SCJG-001")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(lake):
    from fastapi.testclient import TestClient

    from catalog.accounts import create_account, open_session
    from catalog.store import open_store
    from web.app import create_app
    from web.auth import SESSION_COOKIE

    store = open_store()
    store.sync_resources([ENTERPRISES])

    def client_of(username: str, role: str, department: str) -> TestClient:
        account = create_account(store, username, PASSWORD, role, department)
        client = TestClient(create_app())
        client.cookies.set(SESSION_COOKIE, open_session(store, account, client="testclient"))
        return client

    return store, client_of


def _form(page: str) -> str:
    form = re.search(r'<form method="post" action="/resource/KC-SCJG-001/gate-exception".*?</form>', page, re.S)
    assert form, "the resource page has no leak-gate exception form"
    return re.search(r'name="csrf_token" value="([^"]+)"', form.group(0)).group(1)


def test_a_reviewer_records_an_exception_on_the_resource_page(site):
    from catalog import gate_records

    store, client_of = site
    reviewer = client_of("scjg_reviewer", "department_reviewer", ENTERPRISES.provider.slug)
    page = reviewer.get(f"/resource/{ENTERPRISES.code}").text
    assert 'value="legal_representative"' not in page  # personal items are never offered
    expires = (date.today() + timedelta(days=60)).isoformat()
    answer = reviewer.post(f"/resource/{ENTERPRISES.code}/gate-exception", data={
        "csrf_token": _form(page), "column": "enterprise_name", "rule": "mobile", "reason": "土地证号，非手机号",
        "expires": expires}, follow_redirects=True)
    assert answer.status_code == 200
    assert "Exception #1 recorded: mobile allowed on enterprise_name" in answer.text
    assert "土地证号，非手机号" in answer.text and f"valid until {expires}" in answer.text
    (row,) = gate_records.exceptions(store, ENTERPRISES.code)
    assert (row.column, row.rule, row.by) == ("enterprise_name", "mobile", "scjg_reviewer")

    past = reviewer.post(f"/resource/{ENTERPRISES.code}/gate-exception", data={
        "csrf_token": _form(answer.text), "column": "enterprise_name", "rule": "email", "reason": "x",
        "expires": "2020-01-01"}, follow_redirects=True)
    assert "is in the past" in past.text and len(gate_records.exceptions(store, ENTERPRISES.code)) == 1


def test_only_the_providing_departments_reviewer_gets_the_form(site):
    store, client_of = site
    other = client_of("health_reviewer", "department_reviewer", "health")
    page = other.get(f"/resource/{ENTERPRISES.code}").text
    assert "/gate-exception" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    answer = other.post(f"/resource/{ENTERPRISES.code}/gate-exception", data={
        "csrf_token": token.group(1) if token else "", "column": "enterprise_name", "rule": "mobile", "reason": "x",
        "expires": (date.today() + timedelta(days=5)).isoformat()})
    assert answer.status_code == 403


def test_the_department_sees_where_its_deliveries_stand_on_the_resource_page(site, tmp_path):
    from flow.pipeline import land_and_validate
    from samples.generate import generate_resource

    _, client_of = site
    sample = generate_resource(ENTERPRISES, tmp_path, rows=20, bad_share=0.0, seed=5).path
    land_and_validate(ENTERPRISES, sample)
    own = client_of("scjg_user", "department_user", ENTERPRISES.provider.slug).get(f"/resource/{ENTERPRISES.code}").text
    box = re.search(r'<section class="deliveries".*?</section>', own, re.S).group(0)
    assert sample.name in box and 'data-stage="validated"' in box and "transform (dbt) and the open view are next" in box
    assert str(tmp_path) not in own, "no server path anywhere on the page (the lineage names the file)"
    assert f"file:{sample.name}" in own
    other = client_of("health_user", "department_user", "health").get(f"/resource/{ENTERPRISES.code}").text
    assert 'class="deliveries"' not in other
