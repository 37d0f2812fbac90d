"""Catalog entry + version -> CKAN organisation and dataset dicts (pure; golden-tested).

Field names match the scheming schema in portal/ckan/kcdata_dataset.yaml; they are sent at the
top level, never as `extras` (scheming would collide with them).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from catalog.model import OpenType, Resource


@dataclass(frozen=True)
class VersionFacts:
    """What the portal says about the version being published."""

    version: int
    fingerprint: str
    rows_published: int
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    validated_at: datetime
    withheld_items: list[str]


def dataset_name(resource: Resource) -> str:
    """CKAN names are 2-100 chars of [a-z0-9_-]: the resource code, lower-cased."""
    return resource.code.lower()


def organization_name(resource: Resource) -> str:
    return resource.provider.slug.replace("_", "-")


def organization_dict(resource: Resource) -> dict:
    p = resource.provider
    return {
        "name": organization_name(resource),
        "title": f"{p.name} {p.name_en}",
        "description": f"{p.name}（{p.name_en}），统一社会信用代码 {p.code}。",
    }


def quality_summary(facts: VersionFacts) -> str:
    share = facts.rows_accepted / facts.rows_in if facts.rows_in else 0.0
    return (
        f"第{facts.version}版：提交 {facts.rows_in} 行，通过校验 {facts.rows_accepted} 行（{share:.1%}），"
        f"退回部门 {facts.rows_quarantined} 行；校验时间 {facts.validated_at:%Y-%m-%d %H:%M} UTC。"
        f" Version {facts.version}: {facts.rows_accepted} of {facts.rows_in} rows passed validation."
    )


def dataset_dict(resource: Resource, facts: VersionFacts, org_id: str) -> dict:
    """The dataset's metadata; `fingerprint` doubles as the "publish finished" marker."""
    r = resource
    notes = r.summary
    if r.open.type is OpenType.conditional:
        notes += f"\n\n**有条件开放 Conditional open**：{r.open.condition}。数据需申请后获取；本页提供元数据与数据字典。"
    if facts.withheld_items:
        notes += "\n\n不予公开的信息项（已从发布数据中移除）：" + "、".join(r.item(c).name for c in facts.withheld_items)
    return {
        "name": dataset_name(r),
        "title": r.name,
        "notes": notes,
        "owner_org": org_id,
        "private": False,
        "license_id": "cc-by",
        "tags": [{"name": "kcdata"}, {"name": r.provider.slug}],
        "resource_code": r.code,
        "title_en": r.name_en,
        "provider": r.provider.name,
        "provider_code": r.provider.code,
        "category": r.category,
        "summary": r.summary,
        "resource_format": r.format,
        "update_cycle": r.update_cycle.value,
        "open_type": r.open.type.value,
        "open_condition": r.open.condition or "",
        "share_type": r.share.type.value,
        "grade": r.grade.value,
        "published_date": r.published_at.isoformat(),
        "modified_date": facts.validated_at.strftime("%Y-%m-%d"),
        "catalog_version": str(facts.version),
        "quality_summary": quality_summary(facts),
        "related_resources": ", ".join(r.related),
        "fingerprint": facts.fingerprint,
    }


DATASTORE_TYPES = {"C": "text", "N": "numeric", "I": "int", "D": "date", "T": "timestamp", "L": "bool"}


def datastore_fields(resource: Resource, columns: list[str]) -> list[dict]:
    """Explicit DataStore fields (ids are ASCII item codes, labels the Chinese names)."""
    return [
        {
            "id": code,
            "type": DATASTORE_TYPES[resource.item(code).type.value],
            "info": {"label": resource.item(code).name, "notes": _notes(resource.item(code)), "unit": resource.item(code).unit or ""},
        }
        for code in columns
    ]


def _notes(item) -> str:
    """The item's description, and how it is computed when it is derived."""
    derived = f"派生 derived: {item.derived}" if item.derived else ""
    return "；".join(t for t in (item.description, derived) if t)
