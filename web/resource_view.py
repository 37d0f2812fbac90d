"""What a resource page shows: every catalog field, the data dictionary, versions with the Airflow
runs that made them, the quality-history chart, freshness, lineage, the metadata-quality score,
approvals and — where the sharing rules allow — a sample of rows.

Plain values for the template; the charts get their data as JSON (rendered with |tojson inside a
`<script type="application/json">`), never as inline script."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from catalog.freshness import DEADLINES, beijing_text, duration_text
from catalog.metadata_scores import score_history
from catalog.model import KEEP, Item, Resource
from catalog.store import CatalogStore
from catalog.tables import VersionRow
from common.settings import read_settings
from web.catalog_state import (
    FRESHNESS_LABELS,
    GRADE_LABELS,
    OPEN_LABELS,
    PUBLICATION_LABELS,
    QUALITY_LABELS,
    SHARE_LABELS,
    Snapshot,
)
from web.lineage_view import lineage_graph
from web.sample_rows import SampleRows, sample_rows

TYPE_LABELS = {"C": "字符型 text", "N": "数值型 number", "I": "整数型 integer", "D": "日期型 date", "T": "日期时间型 datetime",
               "L": "布尔型 boolean"}
NAMED_PATTERN_LABELS = {"uscc": "统一社会信用代码校验 unified social credit code check",
                        "id_card": "居民身份证号码校验 resident ID number check"}
APPROVAL_LABELS = {"approve": "批准发布 approved", "withdraw": "撤回 withdrawn"}
RATING_LABELS = {"excellent": "优秀 excellent", "good": "良好 good", "sufficient": "合格 sufficient", "bad": "较差 bad"}


def airflow_url() -> str:
    return read_settings().airflow_url.rstrip("/")


def run_url(produced_by: dict | None) -> str | None:
    """The Airflow UI page of the run that made a version: /dags/<dag_id>/runs/<run_id>."""
    if not produced_by or not produced_by.get("dag_id") or not produced_by.get("run_id"):
        return None
    return f"{airflow_url()}/dags/{quote(str(produced_by['dag_id']), safe='')}/runs/{quote(str(produced_by['run_id']), safe='')}"


def catalog_fields(resource: Resource) -> list[dict]:
    """Every field of the entry with its label in Chinese and English (links where a value is a code)."""
    r = resource
    share = r.share.type.value + f" {SHARE_LABELS[r.share.type.value]}"
    open_ = r.open.type.value + f" {OPEN_LABELS[r.open.type.value]}"
    rows: list[dict] = [
        {"zh": "信息资源代码", "en": "Resource code", "value": r.code, "mono": True},
        {"zh": "信息资源名称", "en": "Name", "value": r.name},
        {"zh": "英文名称", "en": "Name (English)", "value": r.name_en},
        {"zh": "表名", "en": "Table", "value": r.table, "mono": True},
        {"zh": "分类", "en": "Category", "value": r.category},
        {"zh": "提供方", "en": "Provider", "value": f"{r.provider.name} {r.provider.name_en}"},
        {"zh": "提供方代码", "en": "Provider code", "value": r.provider.code, "mono": True},
        {"zh": "摘要", "en": "Summary", "value": r.summary},
        {"zh": "格式", "en": "Format", "value": r.format},
        {"zh": "共享类型", "en": "Share type", "value": share},
        {"zh": "共享条件", "en": "Share condition", "value": r.share.condition or "—"},
        {"zh": "共享方式", "en": "Share method", "value": r.share.method},
        {"zh": "开放属性", "en": "Open type", "value": open_},
        {"zh": "开放条件", "en": "Open condition", "value": r.open.condition or "—"},
        {"zh": "更新周期", "en": "Update cycle", "value": f"{r.update_cycle.value} {DEADLINES[r.update_cycle].en}"},
        {"zh": "发布日期", "en": "Published", "value": r.published_at.isoformat()},
        {"zh": "数据分级", "en": "Grade", "value": f"{r.grade.value} {GRADE_LABELS[r.grade.value]}"},
        {"zh": "主键", "en": "Key", "value": ", ".join(r.key) or "—", "mono": True},
        {"zh": "关联资源代码", "en": "Related resources", "links": [(c, f"/resource/{c}") for c in r.related], "value": "—"},
        {"zh": "开放许可", "en": "Licence", "value": r.licence},
        {"zh": "署名", "en": "Attribution", "value": r.attribution_text},
        {"zh": "数据来源", "en": "Origin", "value": r.origin or "—"},
        {"zh": "关键词", "en": "Keywords", "value": "、".join(r.all_keywords) or "—"},
        {"zh": "交付方式", "en": "Delivery", "value": _source_text(r)},
        {"zh": "隔离上限", "en": "Max quarantined share", "value": f"{r.max_bad_share:.1%}"},
        {"zh": "缺失值写法", "en": "Missing-value texts", "value": ", ".join(r.missing_values) or "—", "mono": True},
    ]
    return rows


def _source_text(resource: Resource) -> str:
    s = resource.source
    kinds = {"file_drop": "部门投递文件 file drop", "http_api": "接口拉取 HTTP API pull", "database": "数据库拉取 database pull"}
    text = f"{kinds.get(s.kind, s.kind)} · {s.format.value}"
    if s.kind == "file_drop" and s.encoding != "auto":
        text += f" · {s.encoding}"
    return text


def item_rules(item: Item) -> list[str]:
    """An item's rules as people read them: range 2013–2017, not [2013.0, 2017.0]."""
    rules = []
    if item.pattern:
        rules.append(NAMED_PATTERN_LABELS.get(item.pattern, f"格式 pattern: {item.pattern}"))
    if item.range is not None:
        rules.append(f"取值范围 range: {item.range_text}")
    if item.allowed:
        rules.append("允许值 allowed: " + "、".join(item.allowed))
    if item.references:
        rules.append(f"引用 references: {item.references}")
    if item.missing_values is not None:
        rules.append("缺失值 missing: " + (", ".join(item.missing_values) or "—"))
    return rules


def dictionary(resource: Resource) -> list[dict]:
    return [
        {
            "name": i.name, "code": i.code, "type": TYPE_LABELS.get(i.type.value, i.type.value), "unit": i.unit or "",
            "required": i.required, "unique": i.unique, "key": i.code in resource.key,
            "sensitivity": i.sensitivity_label, "personal": i.maybe_personal,
            "treatment": i.treatment_label, "treated": i.effective_treatment is None or i.effective_treatment != KEEP,
            "published_type": TYPE_LABELS[i.output_type.value] if i.output_type is not None and i.output_type != i.type else "",
            "rules": item_rules(i), "derived": i.derived, "description": i.description, "aliases": i.aliases,
        }
        for i in resource.items
    ]


def version_rows(versions: list[VersionRow]) -> list[dict]:
    """Newest first, as a table of the page."""
    rows = []
    for v in reversed(versions):
        rows.append({
            "version": v.version, "landed_at": v.landed_at, "validated_at": v.validated_at,
            "rows_in": v.rows_in, "accepted": v.rows_accepted, "quarantined": v.rows_quarantined,
            "share": (v.rows_accepted / v.rows_in) if v.rows_in else None,
            "passed": v.validation_passed, "fingerprint": (v.fingerprint or "")[:12], "source_file": os.path.basename(v.source_file or ""),
            "run": v.produced_by or None, "run_url": run_url(v.produced_by), "encoding": v.encoding,
            "problems": sorted((v.problems_by_rule or {}).items(), key=lambda kv: -_count(kv[1]))[:5],
        })
    return rows


def _count(value: Any) -> int:
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, dict):
        return int(value.get("count") or value.get("rows") or 0)
    return 0


def quality_chart(versions: list[VersionRow]) -> dict:
    """Accepted share (%) and quarantined rows per version, in order of landing."""
    ordered = sorted(versions, key=lambda v: (v.landed_at, v.version))
    return {
        "labels": [f"v{v.version} {v.landed_at:%Y-%m-%d %H:%M}" for v in ordered],
        "accepted_share": [round(100 * v.rows_accepted / v.rows_in, 2) if v.rows_in else None for v in ordered],
        "quarantined": [v.rows_quarantined for v in ordered],
        "passed": [bool(v.validation_passed) for v in ordered],
        "series_names": {"accepted": "接受比例 accepted share (%)", "quarantined": "隔离行数 quarantined rows"},
    }


@dataclass(frozen=True)
class Score:
    measured_at: datetime
    points: int
    max_points: int
    rating: str
    dimensions: dict
    indicators: list


def metadata_scores(store: CatalogStore, code: str) -> list[Score]:
    """The MQA score history, oldest first ([] before the first publish run scored it)."""
    return [Score(r.measured_at, r.points, r.max_points, r.rating, r.dimensions or {}, r.indicators or [])
            for r in score_history(store, code)]


def freshness_view(snapshot: Snapshot, resource: Resource) -> dict:
    state = snapshot.states[resource.code].freshness
    label_zh, label_en = FRESHNESS_LABELS.get(state.status, (state.status, ""))
    return {
        "status": state.status, "label_zh": label_zh, "label_en": label_en,
        "due_at": beijing_text(state.due_at) if state.due_at else None,
        "overdue_zh": duration_text(state.overdue_by, "zh") if state.overdue_by else None,
        "overdue_en": duration_text(state.overdue_by, "en") if state.overdue_by else None,
        "last_delivered": beijing_text(state.last_delivered_at) if state.last_delivered_at else None,
        "checked_at": beijing_text(state.checked_at) if state.checked_at else None,
        "cycle": f"{resource.update_cycle.value} {DEADLINES[resource.update_cycle].en}",
        "no_deadline": DEADLINES[resource.update_cycle].period is None,
    }


def is_admin(account: Any) -> bool:
    role = getattr(account, "role", None)
    return getattr(role, "value", role) == "bureau_admin"


def account_department(account: Any) -> str | None:
    return getattr(account, "department", None) if account is not None else None


def resource_page(resource: Resource, snapshot: Snapshot, store: CatalogStore, account: Any) -> dict:
    """The template context of /resource/{code}."""
    _, versions, edges = store.resource(resource.code)
    state = snapshot.states[resource.code]
    publication = store.publication(resource.code)
    approvals = store.approvals(resource.code)
    scores = metadata_scores(store, resource.code)
    sample: SampleRows = sample_rows(resource, account, store)
    own_department = account is not None and (is_admin(account) or account_department(account) == resource.provider.slug)
    quality_zh, quality_en = QUALITY_LABELS[state.quality]
    pub_zh, pub_en = PUBLICATION_LABELS[state.publication_status]
    return {
        "nav": "catalog",
        "resource": resource,
        "account": account,
        "fields": catalog_fields(resource),
        "dictionary": dictionary(resource),
        "versions": version_rows(versions),
        "quality": {"status": state.quality, "label_zh": quality_zh, "label_en": quality_en},
        "quality_chart": quality_chart(versions),
        "freshness": freshness_view(snapshot, resource),
        "lineage": lineage_graph(resource, edges, versions, publication),
        "publication": publication,
        "publication_label": (pub_zh, pub_en),
        "approvals": [{"action": APPROVAL_LABELS.get(a.action, a.action), "by": a.by, "at": a.at, "version": a.version,
                       "note": a.note, "sample_only": a.sample_only} for a in reversed(approvals)],
        "scores": scores,
        "score": scores[-1] if scores else None,
        "score_chart": {"labels": [f"{s.measured_at:%Y-%m-%d %H:%M}" for s in scores], "points": [s.points for s in scores],
                        "max": [s.max_points for s in scores]},
        "rating_labels": RATING_LABELS,
        "sample": sample,
        "problems_url": f"/department/{resource.provider.slug}/problems" if own_department else None,
        "generated_at": datetime.now(timezone.utc),
    }
