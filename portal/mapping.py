"""Catalog entry + version -> CKAN organisation and dataset dicts (pure; golden-tested).

Field names match the scheming schema in portal/ckan/kcdata_dataset.yaml; they are sent at the
top level, never as `extras` (scheming would collide with them).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from catalog.dcat_terms import EU_VOCABULARIES, MEDIA_TYPES, dcat_terms
from catalog.licences import licence
from catalog.model import Item, OpenType, Resource, TreatmentKind

if TYPE_CHECKING:
    from rdflib import Graph
    from rdflib.term import Node

SHA256_ALGORITHM = "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"  # our file hashes (spdx:algorithm)


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
    # The data's own time span (ISO dates, first and last), when it has a date or time item.
    time_range: tuple[str, str] | None = None


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


def treatment_notes(resource: Resource) -> list[str]:
    """One short line per item not published as it is: `联系电话 contact_phone：掩码 mask (138****1234)`."""
    return [
        f"{i.name} {i.code}：{i.treatment_label}"
        for i in resource.items
        if i.effective_treatment is None or i.effective_treatment.kind is not TreatmentKind.keep
    ]


def dataset_dict(resource: Resource, facts: VersionFacts, org_id: str, base_uri: str) -> dict:
    """The dataset's metadata; `fingerprint` doubles as the "publish finished" marker.

    `base_uri` is the portal's address: dataset and publisher IRIs are its pages. The DCAT-AP 3
    terms come from catalog.dcat_terms (as the catalog's own DCAT export does), sent as scheming
    fields that the portal's kcdata DCAT profile only emits."""
    r = resource
    terms = dcat_terms(r, base_uri)
    lic = licence(r.licence)
    notes = r.summary
    if r.open.type is OpenType.conditional:
        notes += f"\n\n**有条件开放 Conditional open**：{r.open.condition}。数据需申请后获取；本页提供元数据与数据字典。"
    treated = treatment_notes(r)
    if treated:
        notes += "\n\n**信息项的保护处理 How items are protected**：" + "；".join(treated) + "。"
    notes += f"\n\n**许可协议 Licence**：[{lic.title_zh} {lic.title_en}]({lic.url})。**署名 Attribution**：{terms.attribution}"
    start, end = facts.time_range or (terms.issued, "")
    return {
        "name": dataset_name(r),
        "title": r.name,
        "notes": notes,
        "owner_org": org_id,
        "private": False,
        "license_id": terms.licence_ckan_id,
        "tags": [{"name": t} for t in dict.fromkeys(["kcdata", r.provider.slug, *terms.keywords]) if _TAG.fullmatch(t)],
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
        "share_condition": r.share.condition or "",
        "share_method": r.share.method,
        "attribution": terms.attribution,
        "origin": terms.origin,
        "licence_url": terms.licence_url,
        "contact_name": terms.contact_name,
        "contact_email": terms.contact_email or "",
        "temporal_start": start,
        "temporal_end": end,
        "uri": terms.dataset_uri,
        "theme_uris": " ".join(terms.themes),
        "frequency_uri": terms.frequency,
        "access_rights_uri": terms.access_rights,
        "licence_uri": terms.licence,
        "language_uris": " ".join(terms.languages),
        "spatial_uri": terms.spatial,
        "related_uris": " ".join(terms.related),
        "publisher_uri": terms.publisher_uri,
        "publisher_name": terms.publisher_name["zh"],
        "publisher_name_en": terms.publisher_name.get("en", ""),
        "kc_profile": json.dumps(terms.kc, ensure_ascii=False, sort_keys=True),
        "concepts": json.dumps(concept_triples([
            *terms.themes, terms.frequency, terms.access_rights, terms.licence, *terms.languages, terms.spatial,
            *(iri for pair in MEDIA_TYPES.values() for iri in pair),
        ]), ensure_ascii=False),
        "fingerprint": facts.fingerprint,
    }


def verification_notes(key_fingerprint: str, dataset_url: str) -> str:
    """How anyone checks a download against the signed manifest (appended to the dataset notes)."""
    return (
        "\n\n**校验下载 Verify a download**：`manifest.json` 列出本版本每个文件的大小、SHA-256 和行数，"
        "由本局以 Ed25519 签名（`manifest.json.sig`，公钥 `signing-key.pem`）。"
        f"签名公钥指纹 Signing key fingerprint (SHA-256)：`{key_fingerprint}`。"
        f"\n\n- `kcdata verify {dataset_url} --key-fingerprint {key_fingerprint}`"
        "\n- OpenSSL 3：`openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in manifest.json "
        "-sigfile manifest.json.sig`，再以 `sha256sum` 对照清单中的 SHA-256 "
        "(then compare `sha256sum` of each file with the manifest)。"
    )


@lru_cache(maxsize=1)
def _vocabularies() -> Graph:
    from rdflib import Graph

    return Graph().parse(EU_VOCABULARIES)


def concept_triples(iris: list[str]) -> list[list[str]]:
    """What catalog/eu-vocabularies.ttl says about each vocabulary IRI and its scheme (class,
    scheme, labels), as [subject, predicate, object, lang, "iri"|"literal"] rows: the portal's
    DCAT then describes every term it uses, as the catalog's own DCAT-AP export does."""
    from rdflib import Literal, URIRef
    from rdflib.namespace import SKOS

    vocab = _vocabularies()
    subjects: list[Node] = list(dict.fromkeys(URIRef(i) for i in iris))
    subjects += [s for node in subjects for s in vocab.objects(node, SKOS.inScheme) if s not in subjects]
    rows = []
    for node in dict.fromkeys(subjects):
        for _, predicate, obj in sorted(vocab.triples((node, None, None))):
            literal = isinstance(obj, Literal)
            language = (obj.language or "") if isinstance(obj, Literal) else ""
            rows.append([str(node), str(predicate), str(obj), language, "literal" if literal else "iri"])
    return rows


def resource_terms(file_format: str) -> dict:
    """DCAT-AP 3 terms of one published file: EU file type, IANA media type, checksum algorithm."""
    format_uri, media_type_uri = MEDIA_TYPES[file_format]
    return {"format_uri": format_uri, "media_type_uri": media_type_uri, "hash_algorithm": SHA256_ALGORITHM}


_TAG = re.compile(r"[\w .-]{2,100}")  # what CKAN accepts as a tag name


DATASTORE_TYPES = {"C": "text", "N": "numeric", "I": "int", "D": "date", "T": "timestamp", "L": "bool"}


def datastore_fields(resource: Resource, columns: list[str]) -> list[dict]:
    """Explicit DataStore fields (ids are ASCII item codes, labels the Chinese names), typed as
    published: a treatment may change the type (an age band is text, a month `2026-03`)."""
    return [
        {
            "id": code,
            "type": DATASTORE_TYPES[resource.item(code).published_type.value],
            "info": {"label": resource.item(code).name, "notes": _notes(resource.item(code)), "unit": resource.item(code).unit or ""},
        }
        for code in columns
    ]


def _notes(item: Item) -> str:
    """The item's description, how it is computed when it is derived, and how it was treated
    when it is not published as it is."""
    derived = f"派生 derived: {item.derived}" if item.derived else ""
    how = item.effective_treatment
    treated = f"处理方式 treatment: {item.treatment_label}" if how is not None and how.kind is not TreatmentKind.keep else ""
    return "；".join(t for t in (item.description, derived, treated) if t)
