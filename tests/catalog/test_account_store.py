"""Accounts of the catalog web, on a real SQLite store: scrypt passwords, sessions that expire,
the sign-in rate limit, and the approval workflow's effect on the publication gate."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from catalog.accounts import (
    RateLimit,
    Role,
    SessionLimits,
    create_account,
    disable_account,
    get_account,
    list_accounts,
    open_session,
    session_account,
    set_password,
    sign_in,
    verify_password,
)
from catalog.audit import Actor, events
from catalog.entries import get_resource
from catalog.store import Edge, open_store
from common.errors import KcdataError
from portal.gate import Mode
from portal.publisher import gate_decision

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 23, 9, 0, 0)


@pytest.fixture
def store(lake, monkeypatch):
    monkeypatch.setenv("KCDATA_SYSTEM_HOME", str(lake.lake / "no-system"))  # never reach a running Airflow
    return open_store()


def test_scrypt_hashes_verify_and_differ_per_user(store):
    a = create_account(store, "wang", PASSWORD, "department_reviewer", "health", "王科长")
    b = create_account(store, "li", PASSWORD, "department_user", "health")
    hashes = {row.username: row.password for row in _rows(store)}
    assert hashes["wang"] != hashes["li"]  # fresh salt per password
    assert PASSWORD not in hashes["wang"] and hashes["wang"].startswith("scrypt$32768$8$1$")
    assert verify_password(PASSWORD, hashes["wang"]) and verify_password(PASSWORD, hashes["li"])
    assert not verify_password("correct horse batterY", hashes["wang"])
    assert not verify_password(PASSWORD, "scrypt$broken")
    assert (a.role, a.department, b.role) == (Role.department_reviewer, "health", Role.department_user)
    assert [x.username for x in list_accounts(store)] == ["li", "wang"]


def _rows(store):
    from sqlalchemy import select

    from catalog.tables import AccountRow

    with store.session() as s:
        return list(s.scalars(select(AccountRow)))


@pytest.mark.parametrize(
    ("username", "password", "role", "department", "says"),
    [
        ("x", "short", "department_user", "health", "at least 12"),
        ("x", PASSWORD, "department_user", "nowhere", "unknown department"),
        ("x", PASSWORD, "department_user", None, "needs --department"),
        ("x", PASSWORD, "bureau_admin", "health", "no department"),
        ("x", PASSWORD, "superuser", None, "unknown role"),
        ("a b", PASSWORD, "bureau_admin", None, "without spaces"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(store, username, password, role, department, says):
    with pytest.raises(KcdataError, match=says):
        create_account(store, username, password, role, department)


def test_a_taken_username_is_refused(store):
    create_account(store, "admin", PASSWORD, "bureau_admin")
    with pytest.raises(KcdataError, match="taken"):
        create_account(store, "admin", PASSWORD + "!", "bureau_admin")


def test_sign_in_checks_the_password_and_disabled_accounts(store):
    create_account(store, "wang", PASSWORD, "department_reviewer", "health")
    assert sign_in(store, "wang", PASSWORD, "10.0.0.1", now=T0).account.username == "wang"
    wrong = sign_in(store, "wang", "not the password", "10.0.0.1", now=T0)
    assert wrong.account is None and "Wrong username or password" in wrong.message
    assert sign_in(store, "nobody", PASSWORD, "10.0.0.1", now=T0).account is None
    disable_account(store, "wang")
    assert sign_in(store, "wang", PASSWORD, "10.0.0.1", now=T0).account is None
    assert get_account(store, "wang").disabled
    assert [e.action for e in events(store)][:4] == ["login.failure", "account.disable", "login.failure", "login.failure"]


def test_the_sixth_try_after_five_failures_is_refused_even_with_the_right_password(store):
    create_account(store, "wang", PASSWORD, "department_reviewer", "health")
    for minute in range(5):
        assert sign_in(store, "wang", "guess", "10.0.0.1", now=T0 + timedelta(minutes=minute)).account is None
    blocked = sign_in(store, "wang", PASSWORD, "10.0.0.2", now=T0 + timedelta(minutes=5))
    assert blocked.account is None and blocked.wait_minutes == 10
    assert "请 10 分钟后再试" in blocked.message and "Try again in 10 minutes" in blocked.message
    assert events(store, action="login.refused")[0].subject == "wang"
    # another account is not affected; after the window the right password works again
    create_account(store, "li", PASSWORD, "department_user", "health")
    assert sign_in(store, "li", PASSWORD, "10.0.0.3", now=T0 + timedelta(minutes=5)).account is not None
    assert sign_in(store, "wang", PASSWORD, "10.0.0.2", now=T0 + timedelta(minutes=15, seconds=1)).account is not None


def test_one_client_address_guessing_many_names_is_refused(store):
    limit = RateLimit(max_failures_per_user=5, max_failures_per_client=3)
    create_account(store, "wang", PASSWORD, "department_reviewer", "health")
    for name in ("a", "b", "c"):
        sign_in(store, name, "guess", "10.9.9.9", now=T0, limit=limit)
    assert sign_in(store, "wang", PASSWORD, "10.9.9.9", now=T0, limit=limit).wait_minutes == 15
    assert sign_in(store, "wang", PASSWORD, "10.0.0.1", now=T0, limit=limit).account is not None


def test_sessions_expire_when_idle_and_at_their_absolute_limit(store):
    account = create_account(store, "wang", PASSWORD, "department_reviewer", "health")
    limits = SessionLimits(idle=timedelta(hours=1), absolute=timedelta(hours=8))
    token = open_session(store, account, now=T0)
    assert session_account(store, token, now=T0 + timedelta(minutes=59), limits=limits).username == "wang"
    # kept busy, it lives until the absolute limit
    for hour in range(1, 8):
        assert session_account(store, token, now=T0 + timedelta(hours=hour, minutes=30), limits=limits) is not None
    assert session_account(store, token, now=T0 + timedelta(hours=8, minutes=1), limits=limits) is None
    # idle for more than an hour: gone, and gone for good
    idle = open_session(store, account, now=T0)
    assert session_account(store, idle, now=T0 + timedelta(minutes=61), limits=limits) is None
    assert session_account(store, idle, now=T0 + timedelta(minutes=1), limits=limits) is None
    assert session_account(store, "made-up-token", now=T0, limits=limits) is None


def test_a_new_password_or_disabling_ends_the_sessions(store):
    account = create_account(store, "wang", PASSWORD, "department_reviewer", "health")
    token = open_session(store, account)
    set_password(store, "wang", PASSWORD + " new")
    assert session_account(store, token) is None
    assert sign_in(store, "wang", PASSWORD + " new", "10.0.0.1").account is not None
    token = open_session(store, account)
    disable_account(store, "wang")
    assert session_account(store, token) is None


# -- the approval workflow and the gate ---------------------------------------------------------------

def _version(store, resource) -> None:
    landed = {"source_file": "/in/c.json", "fingerprint": "b" * 64, "encoding": "utf-8", "raw_path": "/lake/raw/x",
              "landed_at": "2026-11-01T08:00:00+00:00"}
    outcome = {"rows": 10, "accepted": 10, "quarantined": 0, "passed": True, "gx_success": True, "by_rule": {},
               "validated_path": "/v", "quarantine_path": "/q", "validated_at": "2026-11-01T08:00:05Z"}
    store.record_version(resource, landed, outcome, [], [Edge("land", "file:///b", "lake://b")])


def test_a_rejection_keeps_the_resource_off_the_portal_and_a_submission_is_no_decision(store):
    from flow.approvals import act

    clinics = get_resource("KC-WSJK-001")
    _version(store, clinics)
    actor = Actor("cli:王科长")
    act(clinics, "submit", "张三", actor=Actor("cli:张三"), store=store)
    assert store.current_approval(clinics.code) is None  # a request, not a decision
    assert gate_decision(store, clinics)[0].reasons == ["not approved by a department reviewer"]
    assert [r.code for r, _ in store.awaiting_review("health")] == ["KC-WSJK-001"]
    assert store.awaiting_review("transport") == []

    with pytest.raises(KcdataError, match="reason"):
        act(clinics, "reject", "王科长", "", actor=actor, store=store)
    act(clinics, "reject", "王科长", "地址字段缺失", actor=actor, store=store)
    decision, _ = gate_decision(store, clinics)
    assert decision.mode is Mode.none and decision.reasons == ["rejected by a department reviewer"]
    assert store.awaiting_review() == []

    act(clinics, "submit", "张三", "已补全地址", actor=Actor("cli:张三"), store=store)
    assert store.current_approval(clinics.code).action == "reject"  # the newest decision still counts
    outcome = act(clinics, "approve", "王科长", actor=actor, store=store)
    assert outcome.run_id is None and "kcdata publish KC-WSJK-001" in outcome.publish_note
    assert gate_decision(store, clinics)[0].mode is Mode.data
    act(clinics, "withdraw", "王科长", "数据有误", actor=actor, store=store)
    assert gate_decision(store, clinics)[0].reasons == ["approval withdrawn"]

    logged = [(e.actor, e.action, e.department) for e in reversed(events(store, resource_code=clinics.code))]
    assert logged == [
        ("cli:张三", "approval.submit", "health"), ("cli:王科长", "approval.reject", "health"),
        ("cli:张三", "approval.submit", "health"), ("cli:王科长", "approval.approve", "health"),
        ("cli:王科长", "approval.withdraw", "health"),
    ]


def test_roles_decide_who_may_take_which_step(store):
    from flow.approvals import NotAllowed, act, may

    clinics = get_resource("KC-WSJK-001")
    user = create_account(store, "zhang", PASSWORD, "department_user", "health")
    reviewer = create_account(store, "wang", PASSWORD, "department_reviewer", "health")
    other = create_account(store, "chen", PASSWORD, "department_reviewer", "transport")
    admin = create_account(store, "admin", PASSWORD, "bureau_admin")
    assert [a for a in ("submit", "approve", "reject", "withdraw") if may(user, a, clinics)] == ["submit"]
    assert [a for a in ("submit", "approve", "reject", "withdraw") if may(reviewer, a, clinics)] == [
        "submit", "approve", "reject", "withdraw"]
    assert not any(may(other, a, clinics) for a in ("submit", "approve", "reject", "withdraw"))
    assert [a for a in ("submit", "approve", "reject", "withdraw") if may(admin, a, clinics)] == [
        "approve", "reject", "withdraw"]
    with pytest.raises(NotAllowed):
        act(clinics, "approve", "zhang", actor=user.actor(), account=user, store=store)
    assert store.approvals(clinics.code) == []


# -- the CLI ---------------------------------------------------------------------------------------------

def test_the_users_and_approval_commands(store):
    from typer.testing import CliRunner

    from kcdata.cli import app

    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "wang", "--role", "department_reviewer", "--department", "health",
                                "--name", "王科长", "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "account wang created: department_reviewer of health" in added.output
    short = runner.invoke(app, ["users", "add", "li", "--role", "department_user", "--department", "health",
                                "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 12" in short.output
    listed = runner.invoke(app, ["users", "list"])
    assert "王科长" in listed.output and "scrypt" not in listed.output and PASSWORD not in listed.output
    assert runner.invoke(app, ["users", "passwd", "wang", "--password-stdin"], input=PASSWORD + " 2\n").exit_code == 0
    assert sign_in(store, "wang", PASSWORD + " 2", "cli").account is not None
    zhang = runner.invoke(app, ["users", "add", "zhang", "--role", "department_user", "--department", "health",
                                "--name", "张三", "--password-stdin"], input=PASSWORD + "\n")
    assert zhang.exit_code == 0, zhang.output

    # CLI steps name an account, checked against its role as the web checks it
    assert runner.invoke(app, ["catalog", "submit", "KC-WSJK-001", "--by", "zhang"]).exit_code == 0
    stranger = runner.invoke(app, ["catalog", "approve", "KC-WSJK-001", "--by", "王科长"])
    assert stranger.exit_code == 1 and "'王科长' is not an account of the catalog web" in stranger.output
    user_decides = runner.invoke(app, ["catalog", "approve", "KC-WSJK-001", "--by", "zhang"])
    assert user_decides.exit_code == 1 and "you may not approve" in user_decides.output
    rejected = runner.invoke(app, ["catalog", "reject", "KC-WSJK-001", "--by", "wang", "--reason", "字段缺失"])
    assert rejected.exit_code == 0 and "rejected by 王科长 (wang)" in rejected.output
    assert runner.invoke(app, ["catalog", "reject", "KC-WSJK-001", "--by", "wang"]).exit_code != 0  # --reason is required
    assert [(e.actor, e.action) for e in events(store, resource_code="KC-WSJK-001")] == [
        ("wang", "approval.reject"), ("zhang", "approval.submit")]

    assert runner.invoke(app, ["users", "disable", "wang"]).exit_code == 0
    assert "disabled" in runner.invoke(app, ["users", "list"]).output
    gone = runner.invoke(app, ["catalog", "withdraw", "KC-WSJK-001", "--by", "wang"])
    assert gone.exit_code == 1 and "'wang' is disabled" in gone.output
