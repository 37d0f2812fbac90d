"""The notification e-mails, built from what the catalog recorded: subject and plain-text body,
Chinese first, the English below it (the city is a China–Singapore project).

Pure: no store, no clock, no network. A message carries the reasons (the problem messages as the
catalog recorded them, counts, deadlines) and where to read the feedback (the department's problem
page on the catalog web), never a cell value of the delivery (which may be personal data), never
a setting or a secret, and never a server path: a delivery is named by its file name and the time
it was delivered (the inbox copy is archived away; the lake is not the department's to browse).

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
from common.problems import PROBLEMS, hide_paths, problem

RULE = "-" * 64
SENDER = "此邮件由 kcdata 数据治理流水线自动发送。", "Sent automatically by the kcdata data pipeline."


@dataclass
class Message:
    """One e-mail, ready for `notify.mail.send`; `to_dict` is what the wiring returns and logs."""

    kind: str  # refused | held-back | blocked | overdue
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
    feedback_path: str  # for the bureau's logs; never in the e-mail
    row: int | None = None
    column: str | None = None
    delivered_at: datetime | None = None  # when the file reached the inbox (refused then)


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
    feedback_path: str  # for the bureau's logs; never in the e-mail
    by_rule: dict[str, int] = field(default_factory=dict)
    delivered_at: datetime | None = None  # when the delivery landed

    @property
    def bad_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 1.0


def feedback_link(resource: Resource, web_url: str | None) -> str | None:
    """Where the department reads its feedback and downloads the rejected rows: its problem page
    on the catalog web, when one is configured (`KCDATA_WEB_URL`). Never a file on the server."""
    if web_url:
        return f"{web_url.rstrip('/')}/department/{quote(resource.provider.slug)}/problems"
    return None


def resource_link(resource: Resource, web_url: str | None) -> str | None:
    """The resource's page on the catalog web, when one is configured."""
    return f"{web_url.rstrip('/')}/resource/{quote(resource.code)}" if web_url else None


# Where the feedback is when no web address is configured (no server path: the department cannot open it).
NO_LINK = ("反馈：请在数据目录网站的“本部门问题数据”页面查看，或回复本邮件向数据局索取",
           "feedback: on your department's problem page of the catalog web, or reply to this e-mail to ask the bureau for it")


def delivery_text(file_name: str, delivered_at: datetime | None) -> tuple[str, str]:
    """A delivery as the department knows it: the file's name and when it was delivered."""
    name = Path(file_name).name
    if delivered_at is None:
        return name, name
    when = beijing_text(delivered_at)
    return f"{name}（{when} 提交）", f"{name} (delivered {when})"


def _feedback_lines(resource: Resource, web_url: str | None, label: tuple[str, str]) -> tuple[str, str]:
    link = feedback_link(resource, web_url)
    if link is None:
        return f"   {NO_LINK[0]}", f"   {NO_LINK[1]}"
    return f"   {label[0]}：{link}", f"   {label[1]}: {link}"


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
        file_zh, file_en = delivery_text(r.file_name, r.delivered_at)
        zh += [f"{i}. {file_zh}{where_zh}", f"   问题代码：{r.code}", f"   问题说明：{hide_paths(r.message_zh)}"]
        en += [f"{i}. {file_en}{where_en}", f"   problem code: {r.code}", f"   description: {hide_paths(r.message_en)}"]
        link_zh, link_en = _feedback_lines(resource, web_url, ("反馈", "feedback"))
        zh.append(link_zh)
        en.append(link_en)
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
        file_zh, file_en = delivery_text(v.file_name, v.delivered_at)
        zh += [f"{i}. {number}文件 {file_zh}",
               f"   共 {v.rows:,} 行，通过 {v.accepted:,} 行，退回 {v.quarantined:,} 行（退回占比 {share}，上限 {limit}）",
               f"   结论：{verdict_zh}"]
        en += [f"{i}. {f'version {v.version}, ' if v.version else ''}file {file_en}",
               f"   {v.rows:,} rows: {v.accepted:,} accepted, {v.quarantined:,} quarantined ({share}; the limit is {limit})",
               f"   verdict: {v.verdict}"]
        rules_zh, rules_en = _rule_lines(v.by_rule)
        if rules_zh:
            zh += ["   问题分布：", *rules_zh]
            en += ["   problems by rule:", *rules_en]
        link_zh, link_en = _feedback_lines(resource, web_url, ("逐行反馈", "row-by-row feedback"))
        zh.append(link_zh)
        en.append(link_en)
    zh += ["", "已退回的行及原因见反馈文件；请修正后重新提交整份文件。"]
    en += ["", "The feedback lists every quarantined row with its reason; please correct them and deliver the whole file again."]
    return Message(
        kind="held-back", resource=resource.code, subject=_subject("数据版本暂不使用", "Version held back", resource),
        body=_compose(resource, bureau, zh, en), **_addresses(resource, bureau),
    )


def blocked_message(resource: Resource, version: int | None, reasons: list[str], bureau: Bureau,
                    web_url: str | None = None) -> Message:
    """The leak gate kept a version off the portal: each hit (file, column, rule, cells; never a
    value) and the two ways out, a reviewed exception or a corrected entry."""
    number_zh, number_en = (f"第 {version} 版", f"version {version}") if version else ("最新版本", "the latest version")
    hits = [r.split(": leak gate: ", 1)[-1] for r in reasons]
    zh = [f"您单位的数据资源 {resource.code}「{resource.name}」{number_zh}已获批准，但发布前的个人信息泄露检查发现疑似个人信息，"
          "本版本未发布（门户上已有的版本保持不变）：", "", *[f"- {h}" for h in hits], "",
          "若命中的并非个人信息（例如土地证号被识别为手机号），本部门审核员可在目录网站资源页登记有期限的例外；"
          "否则请修正目录条目中该信息项的敏感级别或处理方式。"]
    en = [f"{number_en.capitalize()} of {resource.code} ({resource.name_en}) is approved, but the leak gate found what looks "
          "like personal data, so it was not published (what the portal already shows stays as it is):", "",
          *[f"- {h}" for h in hits], "",
          "If the matched values are not personal data (a land-certificate number read as a mobile number), a reviewer of "
          "the department records a time-limited exception on the resource's page of the catalog web (or with "
          f"`kcdata catalog allow {resource.code} ...`); otherwise correct the item's sensitivity or treatment in the entry."]
    link = resource_link(resource, web_url)
    if link:
        zh.append(f"资源页：{link}")
        en.append(f"Resource page: {link}")
    return Message(
        kind="blocked", resource=resource.code, subject=_subject("发布被泄露检查拦截", "Publication blocked by the leak gate", resource),
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
    link = resource_link(resource, web_url)
    if link:
        zh.append(f"详情：{link}")
        en.append(f"details: {link}")
    return Message(
        kind="overdue", resource=resource.code, subject=_subject("数据逾期未更新", "Resource overdue", resource),
        body=_compose(resource, bureau, zh, en), **_addresses(resource, bureau),
    )
