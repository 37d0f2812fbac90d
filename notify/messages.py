"""The notification e-mails, built from what the catalog recorded: subject and plain-text body,
Chinese first, the English below it (the city is a China–Singapore project).

Pure: no store, no clock, no network. A message carries the reasons (the problem messages as the
catalog recorded them, counts, deadlines) and a link to the feedback, never a cell value of the
delivery (which may be personal data) and never a setting or a secret.

Who gets what: the department's contact (`contact` in departments.yaml) is the recipient and the
bureau (bureau.yaml) is copied and is the Reply-To; a department without a contact is reached
through the bureau alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from catalog.freshness import DEADLINES, Freshness, beijing_text, duration_text
from catalog.model import Bureau, Resource
from common.problems import PROBLEMS, problem

RULE = "-" * 64
SENDER = "此邮件由 kcdata 数据治理流水线自动发送。", "Sent automatically by the kcdata data pipeline."


@dataclass
class Message:
    """One e-mail, ready for `notify.mail.send`; `to_dict` is what the wiring returns and logs."""

    kind: str  # refused | held-back | overdue
    resource: str  # the resource code
    to: list[str]
    subject: str
    body: str
    cc: list[str] = field(default_factory=list)
    reply_to: str | None = None

    @property
    def recipients(self) -> list[str]:
        """Every address the message goes to (To and Cc), each once."""
        return list(dict.fromkeys([*self.to, *self.cc]))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RefusalNotice:
    """A delivery refused as a whole, as the catalog recorded it (catalog.tables.RefusedDelivery)."""

    file_name: str
    code: str  # problem code, common/problems.py
    message_zh: str
    message_en: str
    feedback_path: str
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class HeldBackNotice:
    """A version held back by validation: the verdict and the counts of its ValidationOutcome."""

    version: int | None
    file_name: str
    rows: int
    accepted: int
    quarantined: int
    max_bad_share: float
    verdict: str  # as the catalog and the CLI say it (English)
    feedback_path: str
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def bad_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 1.0


def feedback_link(resource: Resource, feedback_path: str | None, web_url: str | None) -> str | None:
    """Where the department reads the details: the resource's page on the web app when one is
    configured (`KCDATA_WEB_URL`), else the feedback file itself as a file URL."""
    if web_url:
        return f"{web_url.rstrip('/')}/resources/{resource.code}"
    if feedback_path:  # '=' (batch=…) is allowed in a URL path: keep it readable
        return "file://" + quote(str(Path(feedback_path).resolve()), safe="/=+,@:")
    return None


def _addresses(resource: Resource, bureau: Bureau) -> dict:
    contact = resource.provider.contact
    if contact is None:
        return {"to": [bureau.email], "cc": [], "reply_to": bureau.email}
    return {"to": [contact.email], "cc": [bureau.email] if bureau.email != contact.email else [], "reply_to": bureau.email}


def _greeting(resource: Resource) -> tuple[str, str]:
    p = resource.provider
    office = f" {p.contact.name}" if p.contact else ""
    return f"{p.name}{office}：", f"Dear colleagues at the {p.name_en}{f' ({p.contact.name})' if p.contact else ''},"


def _copied(resource: Resource, bureau: Bureau) -> tuple[str, str]:
    if resource.provider.contact is None:
        return (f"（{resource.provider.name} 尚未登记联系人，本邮件发给 {bureau.name}，请转交。）",
                f"({resource.provider.name_en} has no contact on file: this goes to the {bureau.name_en} to pass on.)")
    return f"本邮件同时抄送 {bureau.name}。", f"Copied to the {bureau.name_en}."


def _subject(zh: str, en: str, resource: Resource) -> str:
    return f"【{zh}】{resource.code} {resource.name} · {en}: {resource.name_en}"


def _compose(resource: Resource, bureau: Bureau, zh: list[str], en: list[str]) -> str:
    greet_zh, greet_en = _greeting(resource)
    copied_zh, copied_en = _copied(resource, bureau)
    return "\n".join([greet_zh, "", *zh, "", copied_zh, SENDER[0], "", RULE, "", greet_en, "", *en, "", copied_en, SENDER[1], ""])


def refused_message(resource: Resource, refusals: list[RefusalNotice], bureau: Bureau, web_url: str | None = None) -> Message:
    """Files refused as a whole: each with its problem code and message in both languages."""
    n = len(refusals)
    zh = [f"您单位提交的数据资源 {resource.code}「{resource.name}」有 {n} 个文件被整体拒收，未入库，也不计为按时提交：", ""]
    en = [f"{n} file(s) delivered for {resource.code} ({resource.name_en}) were refused as a whole: nothing of them "
          "was stored, and they do not count as a delivery in time.", ""]
    for i, r in enumerate(refusals, 1):
        where_zh = (f"，第 {r.row} 行" if r.row else "") + (f"，列 {r.column}" if r.column else "")
        where_en = "".join(f", {label} {v}" for label, v in (("row", r.row), ("column", r.column)) if v)
        link = feedback_link(resource, r.feedback_path, web_url)
        zh += [f"{i}. {r.file_name}{where_zh}", f"   问题代码：{r.code}", f"   问题说明：{r.message_zh}"]
        en += [f"{i}. {r.file_name}{where_en}", f"   problem code: {r.code}", f"   description: {r.message_en}"]
        if link:
            zh.append(f"   反馈：{link}")
            en.append(f"   feedback: {link}")
    zh += ["", "请按上述说明修正后重新提交。"]
    en += ["", "Please correct the file(s) as described and deliver again."]
    return Message(
        kind="refused", resource=resource.code, subject=_subject("数据提交被拒收", "Delivery refused", resource),
        body=_compose(resource, bureau, zh, en), **_addresses(resource, bureau),
    )


def _rule_lines(by_rule: dict[str, int]) -> tuple[list[str], list[str]]:
    """Problems by rule with their counts; templates are shown with `…` for their parameters."""
    zh, en = [], []
    for code, count in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
        p = PROBLEMS.get(code)
        blank = {name: "…" for name in p.params} if p else {}
        zh.append(f"   - {code}（{p.render('zh', **blank) if p else code}）：{count:,} 处")
        en.append(f"   - {code} ({p.render('en', **blank) if p else code}): {count:,}")
    return zh, en


def held_back_message(resource: Resource, versions: list[HeldBackNotice], bureau: Bureau, web_url: str | None = None) -> Message:
    """Versions held back: too large a share of rows quarantined (or no rows at all)."""
    zh = [f"您单位提交的数据资源 {resource.code}「{resource.name}」有 {len(versions)} 个版本未通过校验，暂不使用：", ""]
    en = [f"{len(versions)} version(s) of {resource.code} ({resource.name_en}) failed validation and are held back:", ""]
    held = problem("version-held-back")
    for i, v in enumerate(versions, 1):
        share, limit = f"{v.bad_share:.1%}", f"{v.max_bad_share:.1%}"
        number = f"第 {v.version} 版，" if v.version else ""
        verdict_zh = held.render("zh", share=share, limit=limit) if v.rows else "暂不使用：文件没有数据行"
        zh += [f"{i}. {number}文件 {v.file_name}",
               f"   共 {v.rows:,} 行，通过 {v.accepted:,} 行，退回 {v.quarantined:,} 行（退回占比 {share}，上限 {limit}）",
               f"   结论：{verdict_zh}"]
        en += [f"{i}. {f'version {v.version}, ' if v.version else ''}file {v.file_name}",
               f"   {v.rows:,} rows: {v.accepted:,} accepted, {v.quarantined:,} quarantined ({share}; the limit is {limit})",
               f"   verdict: {v.verdict}"]
        rules_zh, rules_en = _rule_lines(v.by_rule)
        if rules_zh:
            zh += ["   问题分布：", *rules_zh]
            en += ["   problems by rule:", *rules_en]
        link = feedback_link(resource, v.feedback_path, web_url)
        if link:
            zh.append(f"   逐行反馈：{link}")
            en.append(f"   row-by-row feedback: {link}")
    zh += ["", "已退回的行及原因见反馈文件；请修正后重新提交整份文件。"]
    en += ["", "The feedback lists every quarantined row with its reason; please correct them and deliver the whole file again."]
    return Message(
        kind="held-back", resource=resource.code, subject=_subject("数据版本暂不使用", "Version held back", resource),
        body=_compose(resource, bureau, zh, en), **_addresses(resource, bureau),
    )


def _cycle_text(resource: Resource) -> tuple[str, str]:
    d = DEADLINES[resource.update_cycle]
    if d.period is None:
        return f"“{resource.update_cycle.value}”（无固定期限）", f"{d.en} (no deadline)"
    return (f"“{resource.update_cycle.value}”（每 {duration_text(d.period, 'zh')}，宽限 {duration_text(d.grace, 'zh')}）",
            f"{d.en} (every {duration_text(d.period)}, {duration_text(d.grace)} of grace)")


def overdue_message(
    resource: Resource, state: Freshness, last_delivered_at: datetime | None, bureau: Bureau, web_url: str | None = None,
) -> Message:
    """A resource not delivered within its update cycle: the cycle, the due time and how late."""
    cycle_zh, cycle_en = _cycle_text(resource)
    late = state.overdue_by or timedelta(0)
    due_zh = beijing_text(state.due_at) if state.due_at else "—"
    if last_delivered_at is None:
        since_zh = f"自目录发布（{resource.published_at.isoformat()}）以来尚未提交过数据"
        since_en = f"nothing has been delivered since it was published in the catalog ({resource.published_at.isoformat()})"
    else:
        since_zh = f"最近一次提交于 {beijing_text(last_delivered_at)}"
        since_en = f"the last delivery landed at {beijing_text(last_delivered_at)}"
    zh = [f"数据资源 {resource.code}「{resource.name}」的更新周期为{cycle_zh}，{since_zh}。",
          f"应于 {due_zh} 前提交新数据，现已逾期 {duration_text(late, 'zh')}。",
          "", "被拒收的文件不计为按时提交。请尽快提交本周期的数据。"]
    en = [f"{resource.code} ({resource.name_en}) is updated {cycle_en}; {since_en}.",
          f"New data was due by {due_zh}; it is now {duration_text(late)} late.",
          "", "Refused files do not count as a delivery in time. Please deliver this period's data soon."]
    link = feedback_link(resource, None, web_url)
    if link:
        zh.append(f"详情：{link}")
        en.append(f"details: {link}")
    return Message(
        kind="overdue", resource=resource.code, subject=_subject("数据逾期未更新", "Resource overdue", resource),
        body=_compose(resource, bureau, zh, en), **_addresses(resource, bureau),
    )
