"""The notification e-mails, built without a store, a clock or a server: who gets them, Chinese
first with the English below, the reasons as recorded, the link to the feedback, and nothing of
the delivered cells, the settings or the server's paths."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from catalog.entries import get_resource, load_bureau, load_departments
from catalog.freshness import Freshness, Status
from catalog.model import Bureau
from notify.mail import SmtpSettings, to_email
from notify.messages import (
    HeldBackNotice,
    RefusalNotice,
    feedback_link,
    held_back_message,
    overdue_message,
    refused_message,
)

ENTERPRISES = get_resource("KC-SCJG-001")
BUREAU = Bureau(name="黄埔区政务服务和数据管理局", name_en="Huangpu District Government Services and Data Administration",
                email="sjglj@huangpu.gov.cn.example")
REFUSAL = RefusalNotice(
    file_name="header_only.csv", code="no-data-rows", message_zh="文件只有表头，没有数据行",
    message_en="the file has a header but no data rows", feedback_path="/lake/quarantine/enterprise_registrations/refused=ab/feedback.csv",
)
HELD = HeldBackNotice(
    version=2, file_name="enterprises_2026-11.csv", rows=600, accepted=360, quarantined=240, max_bad_share=0.05,
    verdict="held back: 40.0% of rows quarantined exceeds the limit of 5.0%; the curated marts and the open view keep the last "
            "passing version",
    feedback_path="/lake/quarantine/enterprise_registrations/batch=cd.1234abcd/feedback.csv",
    by_rule={"uscc-check": 200, "out-of-range": 40},
)


def _halves(body: str) -> tuple[str, str]:
    zh, _, en = body.partition("-" * 64)
    assert zh and en, "a Chinese part, a rule, an English part"
    return zh, en


def test_every_department_has_a_contact_and_the_bureau_has_an_address():
    for slug, department in load_departments().items():
        assert department.contact is not None, slug
        assert department.contact.email.endswith(".example"), "reserved domain: never a real mailbox"
    bureau = load_bureau()
    assert bureau.email.endswith(".example") and bureau.name and bureau.name_en


def test_a_refusal_goes_to_the_department_copied_to_the_bureau_in_both_languages():
    m = refused_message(ENTERPRISES, [REFUSAL], BUREAU)
    assert m.kind == "refused" and m.resource == "KC-SCJG-001"
    assert m.to == ["scjg@huangpu.gov.cn.example"] and m.cc == [BUREAU.email] and m.reply_to == BUREAU.email
    assert m.recipients == ["scjg@huangpu.gov.cn.example", BUREAU.email]
    assert m.subject.index("数据提交被拒收") < m.subject.index("Delivery refused")
    assert "KC-SCJG-001" in m.subject and "企业登记注册信息" in m.subject
    zh, en = _halves(m.body)
    assert "黄埔区市场监督管理局" in zh and "header_only.csv" in zh and "no-data-rows" in zh and "文件只有表头，没有数据行" in zh
    assert "the file has a header but no data rows" in en and "header_only.csv" in en
    assert "本部门问题数据" in zh and "your department's problem page" in en, "where the feedback is, without a web address"
    assert "不计为按时提交" in zh and "do not count as a delivery in time" in en


def test_a_refusal_with_a_place_names_row_and_column():
    placed = RefusalNotice("x.csv", "ragged-row", "该行有 3 个字段，表头有 9 个", "the row has 3 fields; the header has 9",
                           "/f.csv", row=7, column="企业名称")
    zh, en = _halves(refused_message(ENTERPRISES, [placed, REFUSAL], BUREAU).body)
    assert "x.csv，第 7 行，列 企业名称" in zh and "x.csv, row 7, column 企业名称" in en
    assert "2 个文件" in zh and "2 file(s)" in en


def test_the_web_url_links_the_department_problem_page():
    assert feedback_link(ENTERPRISES, "https://catalog.example/") == "https://catalog.example/department/market_supervision/problems"
    m = refused_message(ENTERPRISES, [REFUSAL], BUREAU, web_url="https://catalog.example")
    assert "https://catalog.example/department/market_supervision/problems" in m.body and "file://" not in m.body


def test_no_server_path_only_the_file_name_and_delivery_time():
    """The inbox path is gone once the file is archived, and the lake is not the department's to
    browse: an e-mail names the file and when it was delivered, never a folder of the server."""
    delivered = datetime(2026, 11, 20, 2, 5, tzinfo=timezone.utc)
    refusal = RefusalNotice(
        file_name="/tmp/kcdata-x/inbox/enterprise_registrations/企业登记_11月.csv", code="wrong-format",
        message_zh="文件内容不是 CSV 格式：cannot open /tmp/kcdata-x/inbox/enterprise_registrations/企业登记_11月.csv",
        message_en="the file is not a valid CSV file: cannot open /tmp/kcdata-x/inbox/enterprise_registrations/企业登记_11月.csv",
        feedback_path="/tmp/kcdata-x/lake/quarantine/enterprise_registrations/refused=ab/feedback.csv", delivered_at=delivered,
    )
    held = HeldBackNotice(**{**HELD.__dict__, "delivered_at": delivered})
    for m in (refused_message(ENTERPRISES, [refusal], BUREAU), held_back_message(ENTERPRISES, [held], BUREAU)):
        zh, en = _halves(m.body)
        assert "/tmp/" not in m.body and "/lake/" not in m.body and "file://" not in m.body
        assert "（2026-11-20 10:05 (UTC+8) 提交）" in zh and "(delivered 2026-11-20 10:05 (UTC+8))" in en
    zh, en = _halves(refused_message(ENTERPRISES, [refusal], BUREAU).body)
    assert "企业登记_11月.csv（2026-11-20 10:05 (UTC+8) 提交）" in zh and "cannot open 企业登记_11月.csv" in en


def test_a_held_back_version_carries_verdict_and_counts():
    m = held_back_message(ENTERPRISES, [HELD], BUREAU)
    assert m.kind == "held-back" and m.subject.index("数据版本暂不使用") < m.subject.index("Version held back")
    zh, en = _halves(m.body)
    assert "第 2 版" in zh and "共 600 行，通过 360 行，退回 240 行（退回占比 40.0%，上限 5.0%）" in zh
    assert "暂不使用：退回行占比 40.0% 超过上限 5.0%" in zh
    assert "600 rows: 360 accepted, 240 quarantined (40.0%; the limit is 5.0%)" in en and HELD.verdict in en
    assert "uscc-check" in zh and "200" in zh and "统一社会信用代码校验码错误" in zh
    assert "unified social credit code fails its check character): 200" in en
    assert "数值超出允许范围 […, …]" in zh, "templates show … for their parameters, never a cell value"
    assert "feedback" in en and "/lake/" not in m.body


def test_an_overdue_resource_says_cycle_due_time_and_how_late():
    last = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
    state = Freshness(Status.overdue, last + timedelta(hours=30), timedelta(days=2, hours=3))
    m = overdue_message(ENTERPRISES, state, last, BUREAU)
    assert m.kind == "overdue" and m.subject.index("数据逾期未更新") < m.subject.index("Resource overdue")
    zh, en = _halves(m.body)
    assert "“每日”（每 1 天，宽限 6 小时）" in zh and "daily (every 1 d, 6 h of grace)" in en
    assert "最近一次提交于 2026-11-20 10:00 (UTC+8)" in zh and "2026-11-20 10:00 (UTC+8)" in en
    assert "应于 2026-11-21 16:00 (UTC+8) 前" in zh and "due by 2026-11-21 16:00 (UTC+8)" in en
    assert "逾期 2 天 3 小时" in zh and "2 d 3 h late" in en


def test_a_resource_never_delivered_is_overdue_since_publication():
    state = Freshness(Status.overdue, datetime(2026, 1, 15, 22, tzinfo=timezone.utc), timedelta(days=300))
    zh, en = _halves(overdue_message(ENTERPRISES, state, None, BUREAU).body)
    assert "自目录发布（2026-01-15）以来尚未提交过数据" in zh and "nothing has been delivered since" in en


def test_a_department_without_contact_is_reached_through_the_bureau():
    orphan = ENTERPRISES.model_copy(update={"provider": ENTERPRISES.provider.model_copy(update={"contact": None})})
    m = refused_message(orphan, [REFUSAL], BUREAU)
    assert m.to == [BUREAU.email] and m.cc == []
    assert "尚未登记联系人" in m.body and "has no contact on file" in m.body


def test_the_mime_message_is_utf8_with_both_languages_and_no_secret():
    m = held_back_message(ENTERPRISES, [HELD], BUREAU)
    settings = SmtpSettings(host="mail.example", mail_from="kcdata@huangpu.gov.cn.example", user="u", password="s3cret-pw")
    email = to_email(m, settings.mail_from)
    assert email["To"] == "scjg@huangpu.gov.cn.example" and email["Cc"] == BUREAU.email and email["Reply-To"] == BUREAU.email
    assert email["Subject"] == m.subject and email.get_content_charset() == "utf-8"
    assert email.get_content().rstrip("\n") == m.body.rstrip("\n")
    raw = email.as_bytes()
    assert b"s3cret-pw" not in raw and "s3cret-pw" not in repr(settings)

