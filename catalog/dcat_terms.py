"""Catalog entry -> DCAT-AP 3 vocabulary terms: the one place that decides them.

The DCAT-AP export (catalog/dcat_export.py) and the CKAN publisher (portal/mapping.py, which
sends these values as CKAN fields for ckanext-dcat to emit) both read `dcat_terms`, so the
whole-catalog file and the portal's own DCAT never disagree. The choice of EU vocabulary term
per catalog value is data in catalog/vocabularies.yaml; this module only applies it.

Pure: no rdflib, no store, no network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from catalog.licences import licence
from catalog.model import Bureau, Resource

KC = "https://data.kc.huangpu.gov.cn.example/def/kcdata#"  # kcdata profile namespace (prefix kc)
EU = "http://publications.europa.eu/resource/authority/"
VOCABULARIES = Path(__file__).with_name("vocabularies.yaml")
# Descriptions of the EU concepts used (class, scheme, labels): exporter and validators read it.
EU_VOCABULARIES = Path(__file__).with_name("eu-vocabularies.ttl")

# Our published file formats -> (EU file-type IRI, IANA media-type IRI). DCAT-AP 3 wants
# dct:format from the EU file-type authority and dcat:mediaType from IANA's register.
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "CSV": (EU + "file-type/CSV", "https://www.iana.org/assignments/media-types/text/csv"),
    "Parquet": (EU + "file-type/PARQUET", "https://www.iana.org/assignments/media-types/application/vnd.apache.parquet"),
    "JSON": (EU + "file-type/JSON", "https://www.iana.org/assignments/media-types/application/json"),
    "XLSX": (
        EU + "file-type/XLSX",
        "https://www.iana.org/assignments/media-types/application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    # a manifest's raw Ed25519 signature and the PEM public key that verifies it
    "BIN": (EU + "file-type/BIN", "https://www.iana.org/assignments/media-types/application/octet-stream"),
    "TXT": (EU + "file-type/TXT", "https://www.iana.org/assignments/media-types/text/plain"),
}


@dataclass(frozen=True)
class DcatTerms:
    dataset_uri: str  # f"{base_uri}/dataset/{code.lower()}" — the portal's dataset page
    identifier: str  # the resource code
    title: dict[str, str]  # {"zh": name, "en": name_en}
    description: dict[str, str]  # {"zh": summary}
    keywords: list[str]
    themes: list[str]  # EU data-theme IRIs
    frequency: str  # EU frequency IRI
    access_rights: str  # EU access-right IRI
    licence: str  # EU licence IRI
    licence_url: str  # the licence text
    languages: list[str]  # EU language IRIs
    spatial: str  # place IRI (GeoNames Guangzhou; see vocabularies.yaml)
    publisher_uri: str
    publisher_name: dict[str, str]
    contact_email: str | None
    kc: dict[str, str]  # kcdata profile: local name -> literal (empty values left out)
    issued: str = ""  # 发布日期, ISO date
    related: list[str] = field(default_factory=list)  # dataset IRIs of 关联资源
    licence_ckan_id: str = "cc-by"  # the same licence as CKAN names it
    attribution: str = ""  # 署名 text users must show
    origin: str = ""  # 数据来源 (dct:provenance)
    contact_name: str = ""  # the office answering questions about the data


@lru_cache(maxsize=1)
def vocabularies() -> dict[str, Any]:
    """The mapping tables of catalog/vocabularies.yaml (read once)."""
    tables: dict[str, Any] = yaml.safe_load(VOCABULARIES.read_text(encoding="utf-8"))
    return tables


def themes(category: str) -> list[str]:
    """EU data themes for a category path: every part that the mapping knows contributes.

    Mapping by category (not per dataset) keeps themes consistent across a department's entries
    and needs no extra field in the entry."""
    v = vocabularies()
    codes = [c for part in category.split("/") for c in v["themes_by_category_part"].get(part.strip(), [])]
    return [f"{EU}data-theme/{c}" for c in dict.fromkeys(codes or v["default_themes"])]


def frequency(update_cycle: str) -> str:
    """EU frequency for 更新周期 (实时 -> UPDATE_CONT: updated as events arrive)."""
    return f"{EU}frequency/{vocabularies()['frequency'][update_cycle]}"


def access_rights(open_type: str) -> str:
    """EU access right for 开放属性: 无条件开放 PUBLIC, 有条件开放 RESTRICTED, 不予开放 NON_PUBLIC."""
    return f"{EU}access-right/{vocabularies()['access_rights'][open_type]}"


def languages() -> list[str]:
    """Metadata is written in Chinese with English beside it."""
    return [f"{EU}language/{c}" for c in vocabularies()["languages"]]


def spatial() -> str:
    """GeoNames Guangzhou: the smallest stable place IRI covering Huangpu District."""
    return str(vocabularies()["spatial"])


def dataset_uri(code: str, base_uri: str) -> str:
    """The dataset's IRI is its page on the portal, so it dereferences for people too."""
    return f"{base_uri.rstrip('/')}/dataset/{code.lower()}"


def publisher_uri(slug: str, base_uri: str) -> str:
    """The department's organisation page on the portal (CKAN names it slug with dashes)."""
    return f"{base_uri.rstrip('/')}/organization/{slug.replace('_', '-')}"


def kc_profile(resource: Resource) -> dict[str, str]:
    """The 编制指南 fields DCAT-AP has no property for, as kc: literals (catalog/kcdata-shapes.ttl)."""
    r = resource
    values = {
        "resourceCode": r.code,
        "category": r.category,
        "shareType": r.share.type.value,
        "shareCondition": r.share.condition or "",
        "shareMethod": r.share.method,
        "openType": r.open.type.value,
        "openCondition": r.open.condition or "",
        "grade": r.grade.value,
        "updateCycle": r.update_cycle.value,
        "providerCode": r.provider.code,
        "resourceFormat": r.format,
        "attribution": r.attribution_text,
    }
    return {k: v for k, v in values.items() if v}


def dcat_terms(resource: Resource, base_uri: str, bureau: Bureau | None = None) -> DcatTerms:
    """Every DCAT-AP 3 term of one entry; `bureau` (default: bureau.yaml) is the fallback contact."""
    r = resource
    lic = licence(r.licence)
    contact = r.provider.contact
    if contact is None and bureau is None:
        from catalog.entries import load_bureau  # the catalog folder, only when needed

        bureau = load_bureau()
    return DcatTerms(
        dataset_uri=dataset_uri(r.code, base_uri),
        identifier=r.code,
        title={"zh": r.name, "en": r.name_en},
        description={"zh": r.summary},
        keywords=r.all_keywords,
        themes=themes(r.category),
        frequency=frequency(r.update_cycle.value),
        access_rights=access_rights(r.open.type.value),
        licence=lic.eu_uri,
        licence_url=lic.url,
        languages=languages(),
        spatial=spatial(),
        publisher_uri=publisher_uri(r.provider.slug, base_uri),
        publisher_name={"zh": r.provider.name, "en": r.provider.name_en},
        contact_email=contact.email if contact else (bureau.email if bureau else None),
        contact_name=contact.name if contact else (bureau.name if bureau else ""),
        kc=kc_profile(r),
        issued=r.published_at.isoformat(),
        related=[dataset_uri(c, base_uri) for c in r.related],
        licence_ckan_id=lic.ckan_id,
        attribution=r.attribution_text,
        origin=r.origin,
    )
