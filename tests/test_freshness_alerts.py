"""Freshness deadlines and notification e-mails, end to end against a real SMTP server.

The deadlines themselves are pure (first tests). Then a real SMTP server (aiosmtpd) on 127.0.0.1,
configured the way Airflow is (`AIRFLOW__SMTP__SMTP_HOST`, `..._PORT`): a refused delivery and a
held-back version, ingested through flow.pipeline, e-mail the department's contact and the
bureau with the reasons in Chinese and English; a resource whose deadline passed is overdue,
`kcdata catalog list` says so, its alert arrives once, a second check sends nothing, a refused
file does not clear it, and a new delivery does.
"""
from __future__ import annotations

import email
import email.policy
import socket
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from catalog.entries import get_resource, load_bureau, load_catalog
from catalog.freshness import DEADLINES, Status, freshness
from catalog.model import UpdateCycle
from catalog.store import open_store

ENTERPRISES = "KC-SCJG-001"  # daily, CSV GB18030, market supervision
AIR = "KC-STHJ-001"  # real-time, CSV UTF-8 BOM, ecology and environment
UTC = timezone.utc


# --- the deadlines (pure) ------------------------------------------------------------------------


def test_every_update_cycle_has_a_deadline():
    assert set(DEADLINES) == set(UpdateCycle)
    assert DEADLINES[UpdateCycle.irregular].period is None
    periods = [DEADLINES[c].period for c in UpdateCycle if c is not UpdateCycle.irregular]
    assert periods == sorted(periods), "longer cycles, later deadlines"


def test_a_daily_resource_is_due_a_day_and_its_grace_after_its_last_delivery():
    r = get_resource(ENTERPRISES)
    last = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    due = last + timedelta(hours=30)
    assert freshness(r, last, due) == freshness(r, last, last + timedelta(hours=1))
    on_time = freshness(r, last, due)
    assert on_time.status is Status.on_time and on_time.due_at == due and on_time.overdue_by is None
    late = freshness(r, last.replace(tzinfo=None), due + timedelta(days=2))  # naive = UTC, as the store keeps it
    assert late.status is Status.overdue and late.due_at == due and late.overdue_by == timedelta(days=2)


def test_a_resource_never_delivered_is_due_from_its_publication():
    r = get_resource(ENTERPRISES).model_copy(update={"published_at": date(2026, 11, 1)})
    due = datetime(2026, 10, 31, 16, tzinfo=UTC) + timedelta(hours=30)  # 00:00 Beijing time, plus a day and 6 h
    before = freshness(r, None, due - timedelta(minutes=1))
    assert before.status is Status.never and before.due_at == due
    after = freshness(r, None, due + timedelta(hours=3))
    assert after.status is Status.overdue and after.overdue_by == timedelta(hours=3)


def test_an_irregular_resource_is_never_overdue():
    r = get_resource(ENTERPRISES).model_copy(update={"update_cycle": UpdateCycle.irregular})
    far = datetime(2030, 1, 1, tzinfo=UTC)
    assert freshness(r, None, far).status is Status.never
    assert freshness(r, datetime(2026, 1, 1), far).status is Status.on_time and freshness(r, None, far).due_at is None


# --- a real SMTP server --------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler keeping every envelope the server accepted."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self, code: str | None = None) -> list[tuple[list[str], email.message.EmailMessage]]:
        """(recipients, parsed message) of everything received, about `code` if given."""
        out = []
        for e in self.envelopes:
            m = email.message_from_bytes(e.original_content or e.content, policy=email.policy.default)
            if code is None or m["X-Kcdata-Resource"] == code:
                out.append((list(e.rcpt_tos), m))
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):
    """A real SMTP server on 127.0.0.1, configured through Airflow's [smtp] environment variables."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", str(port))
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_STARTTLS", "False")  # Airflow's default is True; this server has no TLS
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_MAIL_FROM", "kcdata@huangpu.gov.cn.example")
    monkeypatch.delenv("KCDATA_WEB_URL", raising=False)
    yield mailbox
    controller.stop()


def _contact(code: str) -> str:
    return get_resource(code).provider.contact.email


def _halves(message) -> tuple[str, str]:
    zh, _, en = message.get_content().partition("-" * 64)
    return zh, en


def test_refused_and_held_back_deliveries_mail_the_department_and_the_bureau(lake, smtp, monkeypatch):
    from flow.alerts import notify_failed, notify_refused
    from flow.pipeline import land_and_validate, land_inbox
    from orchestration.smtp import smtp_settings
    from samples.generate import generate_resource

    bureau = load_bureau().email

    # a file with a header and no rows, dropped in the inbox: refused as a whole
    enterprises = get_resource(ENTERPRISES)
    inbox = lake.inbox / enterprises.table
    inbox.mkdir(parents=True)
    header = ",".join(item.name for item in enterprises.source_items)
    (inbox / "企业登记_11月.csv").write_bytes(f"{header}\n".encode("gb18030"))
    report = land_inbox(enterprises)
    assert [r.code for r in report.refused] == ["no-data-rows"]
    sent = notify_refused(enterprises, [r.to_dict() for r in report.refused], smtp_settings=smtp_settings)  # as the DAG passes them (XCom)
    assert [m["kind"] for m in sent] == ["refused"]
    [(rcpt, message)] = smtp.messages(ENTERPRISES)
    assert rcpt == [_contact(ENTERPRISES), bureau]
    assert message["To"] == _contact(ENTERPRISES) and message["Cc"] == bureau and message["Reply-To"] == bureau
    assert message["From"] == "kcdata@huangpu.gov.cn.example"
    assert "数据提交被拒收" in message["Subject"] and "Delivery refused" in message["Subject"]
    zh, en = _halves(message)
    record = open_store().refused_deliveries(ENTERPRISES)[-1]
    assert "企业登记_11月.csv" in zh and "no-data-rows" in zh and record.message_zh in zh
    assert record.message_en in en and "the file has a header but no data rows" in en
    assert Path(record.feedback_path).is_file()
    assert "file://" not in zh + en and str(lake.inbox.parent) not in zh + en, "no server path: the file's name and time"
    assert "企业登记_11月.csv（" in zh and "提交）" in zh and "企业登记_11月.csv (delivered " in en

    # a version with 40% of its rows quarantined: held back
    air = get_resource(AIR)
    good = land_and_validate(air, generate_resource(air, lake.inbox / "v1", rows=300, bad_share=0.0, seed=1).path)
    assert good.outcome.passed and notify_failed(air, [good], smtp_settings=smtp_settings) == [], "a version that passed is no news"
    bad = land_and_validate(air, generate_resource(air, lake.inbox / "v2", rows=300, bad_share=0.40, seed=2).path)
    assert not bad.outcome.passed
    sent = notify_failed(air, [bad.to_dict()], smtp_settings=smtp_settings)  # as the DAG passes them (XCom)
    assert [m["kind"] for m in sent] == ["held-back"]
    [(rcpt, message)] = smtp.messages(AIR)
    assert rcpt == [_contact(AIR), bureau]
    assert "数据版本暂不使用" in message["Subject"] and "Version held back" in message["Subject"]
    zh, en = _halves(message)
    o = bad.outcome
    share = f"{o.quarantined / o.rows:.1%}"
    assert f"第 {bad.version} 版" in zh and f"共 {o.rows:,} 行，通过 {o.accepted:,} 行，退回 {o.quarantined:,} 行" in zh
    assert f"退回行占比 {share} 超过上限 5.0%" in zh
    assert f"{o.rows:,} rows: {o.accepted:,} accepted, {o.quarantined:,} quarantined" in en and o.verdict in en
    assert all(rule in zh and rule in en for rule in o.by_rule)
    assert "file://" not in en and str(lake.inbox.parent) not in en

    # with a web app configured, the e-mails link the department's problem page
    monkeypatch.setenv("KCDATA_WEB_URL", "https://data.huangpu.gov.cn.example")
    [m] = notify_failed(air, [bad], smtp_settings=smtp_settings)
    assert f"https://data.huangpu.gov.cn.example/department/{air.provider.slug}/problems" in m["body"]


def test_a_retried_notify_task_sends_each_notice_once(lake, smtp):
    """The chain's notify task may run again (its worker died after sending): the refusal of a run
    and the held-back version are e-mailed once; a later run's refusal is news again; an e-mail that
    did not go out (no SMTP server) is sent by the retry."""
    from flow.alerts import notify_failed, notify_refused
    from flow.pipeline import land_and_validate, land_inbox
    from orchestration.smtp import smtp_settings
    from samples.generate import generate_resource

    enterprises = get_resource(ENTERPRISES)
    inbox = lake.inbox / enterprises.table
    inbox.mkdir(parents=True)
    (inbox / "empty.csv").write_bytes(",".join(i.name for i in enterprises.source_items).encode("gb18030") + b"\n")
    refused = [r.to_dict() for r in land_inbox(enterprises).refused]
    for _try in range(2):
        notify_refused(enterprises, refused, smtp_settings=smtp_settings, once="manual__run-1")
    assert len(smtp.messages(ENTERPRISES)) == 1
    notify_refused(enterprises, refused, smtp_settings=smtp_settings, once="manual__run-2")
    assert len(smtp.messages(ENTERPRISES)) == 2

    air = get_resource(AIR)
    bad = land_and_validate(air, generate_resource(air, lake.inbox / "v2", rows=300, bad_share=0.40, seed=2).path)
    assert notify_failed(air, [bad.to_dict()], smtp_settings=lambda: None, once=True) == []  # no server: not sent, not claimed
    for _try in range(2):
        notify_failed(air, [bad.to_dict()], smtp_settings=smtp_settings, once=True)
    assert len(smtp.messages(AIR)) == 1


def _catalog_row(code: str) -> str:
    """The lines of `kcdata catalog list` that belong to `code`'s row (a cell may wrap)."""
    from kcdata.cli import app

    result = CliRunner().invoke(app, ["catalog", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if code in line)
    row = [lines[start]]
    for line in lines[start + 1:]:
        if line.startswith("│ KC-") or line.startswith("└"):
            break
        row.append(line)
    return " ".join(row)


def test_an_overdue_resource_is_shown_and_alerted_once_until_a_new_delivery(lake, smtp):
    from flow.alerts import check_freshness
    from flow.pipeline import land_and_validate, land_inbox
    from kcdata.freshness_cli import freshness as freshness_command
    from orchestration.smtp import smtp_settings
    from samples.generate import generate_resource

    enterprises = get_resource(ENTERPRISES)
    first = land_and_validate(enterprises, generate_resource(enterprises, lake.inbox / "d1", rows=50, bad_share=0.0, seed=3).path)
    store = open_store()
    landed = store.last_deliveries()[ENTERPRISES].replace(tzinfo=UTC)
    assert landed == datetime.fromisoformat(first.landed.landed_at)

    # an hour later: on time (the resources never delivered are overdue since their publication)
    sent = check_freshness(landed + timedelta(hours=1), smtp_settings=smtp_settings)
    assert ENTERPRISES not in {m["resource"] for m in sent}
    assert {m["resource"] for m in sent} == {r.code for r in load_catalog() if r.code != ENTERPRISES}
    assert store.freshness_records()[ENTERPRISES].status == "on_time"
    assert "按时 on time" in _catalog_row(ENTERPRISES)

    # a day and 7 hours later: overdue by an hour; one alert, to the department and the bureau
    now = landed + timedelta(days=1, hours=7)
    sent = check_freshness(now, smtp_settings=smtp_settings)
    assert [(m["kind"], m["resource"]) for m in sent] == [("overdue", ENTERPRISES)], "the others were alerted already"
    [(rcpt, message)] = smtp.messages(ENTERPRISES)
    assert rcpt == [_contact(ENTERPRISES), load_bureau().email]
    assert "数据逾期未更新" in message["Subject"] and "Resource overdue" in message["Subject"]
    zh, en = _halves(message)
    due = (landed + timedelta(hours=30)).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert "“每日”（每 1 天，宽限 6 小时）" in zh and f"应于 {due} (UTC+8) 前" in zh and "现已逾期 1 小时" in zh
    assert "daily (every 1 d, 6 h of grace)" in en and f"due by {due} (UTC+8)" in en and "1 h late" in en
    record = store.freshness_records()[ENTERPRISES]
    assert record.status == "overdue" and record.alerted_at is not None
    assert record.overdue_since == (landed + timedelta(hours=30)).replace(tzinfo=None)

    # `kcdata catalog list` and `kcdata freshness` show it
    row = _catalog_row(ENTERPRISES)
    assert "逾期" in row and "overdue 1 h" in row, row
    cli = typer.Typer()
    cli.command()(freshness_command)
    shown = CliRunner().invoke(cli, ["--now", now.isoformat()])
    assert shown.exit_code == 0, shown.output
    assert "KC-SCJG-001" in shown.output and "overdue 1 h" in shown.output
    assert CliRunner().invoke(cli, ["--now", "yesterday"]).exit_code == 2  # a usage error, no traceback

    # a refused file is not a delivery in time: still overdue, and the second check sends nothing
    inbox = lake.inbox / enterprises.table
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "empty.csv").write_bytes(b"")
    assert [r.code for r in land_inbox(enterprises).refused] == ["empty-file"]
    assert check_freshness(now + timedelta(hours=2), smtp_settings=smtp_settings) == []
    assert len(smtp.messages(ENTERPRISES)) == 1
    assert store.freshness_records()[ENTERPRISES].status == "overdue"

    # a new delivery clears it
    land_and_validate(enterprises, generate_resource(enterprises, lake.inbox / "d2", rows=50, bad_share=0.0, seed=4).path)
    assert check_freshness(smtp_settings=smtp_settings) == [], "nothing new is overdue; the old alerts are not sent again"
    record = store.freshness_records()[ENTERPRISES]
    assert (record.status, record.overdue_since, record.alerted_at) == ("on_time", None, None)
    assert "按时 on time" in _catalog_row(ENTERPRISES)

    # ...and the next missed deadline is a new overdue period: one new alert
    again = store.last_deliveries()[ENTERPRISES].replace(tzinfo=UTC) + timedelta(days=2)
    assert [m["resource"] for m in check_freshness(again, smtp_settings=smtp_settings)] == [ENTERPRISES]
    assert [m["resource"] for m in check_freshness(again + timedelta(hours=1), smtp_settings=smtp_settings)] == []
    assert len(smtp.messages(ENTERPRISES)) == 2


def test_without_an_smtp_host_alerts_are_logged_and_wait(lake, monkeypatch, caplog):
    """No [smtp] host: nothing is sent, nothing fails, and the alert is still due at the next check."""
    from flow.alerts import check_freshness, notify_refused
    from orchestration.smtp import smtp_settings

    monkeypatch.delenv("AIRFLOW__SMTP__SMTP_HOST", raising=False)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with caplog.at_level("WARNING", logger="kcdata.alerts"):
        assert check_freshness(now, smtp_settings=smtp_settings) == []
    assert "no SMTP host configured" in caplog.text
    records = open_store().freshness_records()
    assert records[ENTERPRISES].status == "overdue" and records[ENTERPRISES].alerted_at is None
    assert notify_refused(get_resource(ENTERPRISES), [], smtp_settings=smtp_settings) == []


def test_an_unreachable_smtp_server_fails_nothing_and_the_alert_waits(lake, monkeypatch, caplog):
    from flow.alerts import check_freshness
    from orchestration.smtp import smtp_settings

    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", str(_free_port()))  # nobody listens there
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PASSWORD", "never-logged-pw")
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_USER", "kcdata")
    with caplog.at_level("WARNING"):
        assert check_freshness(datetime(2026, 12, 1, tzinfo=UTC), smtp_settings=smtp_settings) == []
    assert "cannot send e-mail through the SMTP server 127.0.0.1" in caplog.text
    assert "never-logged-pw" not in caplog.text
    assert open_store().freshness_records()[ENTERPRISES].alerted_at is None
