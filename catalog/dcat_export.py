"""The whole 全量 catalog as DCAT-AP 3 (Turtle or JSON-LD): every resource, open or not.

Metadata only. A resource gets `dcat:distribution`s only when the portal actually holds it (its
publication row says `published`), so the file never promises data nobody can download. Every
entry field with a DCAT-AP 3 property uses it; the 编制指南 fields DCAT-AP lacks go into the
kcdata profile (`kc:`, checked by catalog/kcdata-shapes.ttl). The terms themselves come from
catalog/dcat_terms.py, the same place the CKAN publisher reads.

EU vocabulary IRIs are also described in the file (from catalog/eu-vocabularies.ttl: their
DCAT-AP range class, scheme and labels): a reader, or a SHACL validator without the EU tables,
then sees what each IRI is without fetching it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy import select

from catalog.dcat_terms import EU, EU_VOCABULARIES, KC, MEDIA_TYPES, DcatTerms, dcat_terms, languages
from catalog.licences import licence
from catalog.model import Bureau, OpenType, Resource
from catalog.store import CatalogStore
from catalog.tables import PublicationRow, VersionRow

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
DCAT_VERSION = URIRef(str(DCAT) + "version")  # DCAT 3; rdflib's DCAT namespace predates it
KCNS = Namespace(KC)
FORMATS = ("turtle", "json-ld")
PREFIXES = {
    "dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "skos": SKOS, "vcard": VCARD, "xsd": XSD, "rdfs": RDFS, "kc": KCNS,
}


@dataclass(frozen=True)
class Download:
    """One file of a published dataset as the portal serves it (from CKAN's package_show)."""

    title: str
    format: str  # a key of MEDIA_TYPES ("CSV", "Parquet"...)
    url: str
    byte_size: int | None = None


def _publications(store: CatalogStore | None) -> tuple[dict[str, PublicationRow], dict[str, VersionRow]]:
    """Published datasets and each resource's newest version, in two queries."""
    if store is None:
        return {}, {}
    with store.session() as s:
        published = {p.resource_code: p for p in s.scalars(select(PublicationRow).where(PublicationRow.state == "published"))}
    return published, store.latest_versions()


@lru_cache(maxsize=1)
def eu_vocabularies() -> Graph:
    """The EU authority concepts kcdata uses (catalog/eu-vocabularies.ttl)."""
    return Graph().parse(EU_VOCABULARIES)


def _concept(g: Graph, iri: str) -> URIRef:
    """An EU vocabulary IRI with its description (class, scheme, labels) copied into `g`, so
    its meaning travels with the file; an IRI missing from the excerpt is a mapping mistake."""
    node = URIRef(iri)
    vocab = eu_vocabularies()
    described = list(vocab.triples((node, None, None)))
    if not described:
        raise ValueError(f"{iri} is not described in {EU_VOCABULARIES.name}; add it there")
    for triple in described:
        g.add(triple)
    for scheme in vocab.objects(node, SKOS.inScheme):
        for triple in vocab.triples((scheme, None, None)):
            g.add(triple)
    return node


def _document(g: Graph, iri: str) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, FOAF.Document))
    return node


def _resource_iri(g: Graph, iri: str) -> URIRef:
    """A web address used as a value (accessURL, relation): DCAT-AP's range is rdfs:Resource."""
    node = URIRef(iri)
    g.add((node, RDF.type, RDFS.Resource))
    return node


def _agent(g: Graph, iri: str, names: Mapping[str, str], identifier: str | None = None) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, RDF.type, FOAF.Organization))
    for lang, name in names.items():
        g.add((node, FOAF.name, Literal(name, lang=lang)))
    if identifier:
        g.add((node, DCTERMS.identifier, Literal(identifier)))
    return node


def _contact(g: Graph, name: str, email: str) -> BNode:
    node = BNode()
    g.add((node, RDF.type, VCARD.Kind))
    g.add((node, RDF.type, VCARD.Organization))
    g.add((node, VCARD.fn, Literal(name, lang="zh")))
    g.add((node, VCARD.hasEmail, URIRef(f"mailto:{email}")))
    return node


def _distributions(resource: Resource, landing: str, downloads: list[Download] | None) -> list[Download]:
    """What the portal carries: the downloads it reported, else what the publisher uploads
    (data as CSV and Parquet when 无条件开放, the data dictionary always)."""
    if downloads is not None:
        return downloads
    files = [Download("数据字典 Data dictionary", "CSV", landing)]
    if resource.open.type is OpenType.unconditional:
        files[:0] = [Download(f"{resource.name}（CSV）", "CSV", landing), Download(f"{resource.name}（Parquet）", "Parquet", landing)]
    return files


def _add_distribution(g: Graph, ds: URIRef, t: DcatTerms, resource: Resource, n: int, f: Download,
                      landing: str, modified: datetime | None) -> None:
    dist = URIRef(f"{t.dataset_uri}/distribution/{n}")
    g.add((ds, DCAT.distribution, dist))
    g.add((dist, RDF.type, DCAT.Distribution))
    g.add((dist, DCTERMS.title, Literal(f.title, lang="zh")))
    g.add((dist, DCAT.accessURL, _resource_iri(g, landing)))
    if f.url != landing:
        g.add((dist, DCAT.downloadURL, _resource_iri(g, f.url)))
    known = {name.lower(): iris for name, iris in MEDIA_TYPES.items()}
    if f.format.lower() in known:
        file_type, media_type = known[f.format.lower()]
        g.add((dist, DCTERMS.format, _concept(g, file_type)))
        g.add((dist, DCAT.mediaType, _concept(g, media_type)))
    lic = licence(resource.licence)
    g.add((dist, DCTERMS.license, _concept(g, lic.eu_uri)))
    g.add((URIRef(lic.eu_uri), RDFS.seeAlso, URIRef(lic.url)))
    rights = BNode()
    g.add((rights, RDF.type, DCTERMS.RightsStatement))
    g.add((rights, RDFS.label, Literal(f"{lic.title_zh}；{t.attribution}", lang="zh")))
    g.add((dist, DCTERMS.rights, rights))
    if f.byte_size is not None:
        g.add((dist, DCAT.byteSize, Literal(f.byte_size, datatype=XSD.nonNegativeInteger)))
    if modified is not None:
        g.add((dist, DCTERMS.modified, Literal(modified.replace(microsecond=0), datatype=XSD.dateTime)))


def _add_dataset(g: Graph, catalog: URIRef, resource: Resource, t: DcatTerms, publication: PublicationRow | None,
                 version: VersionRow | None, downloads: list[Download] | None) -> None:
    ds = URIRef(t.dataset_uri)
    g.add((catalog, DCAT.dataset, ds))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(t.identifier)))
    for lang, text in t.title.items():
        g.add((ds, DCTERMS.title, Literal(text, lang=lang)))
    for lang, text in t.description.items():
        g.add((ds, DCTERMS.description, Literal(text, lang=lang)))
    _add_terms(g, ds, resource, t)
    modified = version.validated_at if version is not None else None
    if version is not None:
        g.add((ds, DCAT_VERSION, Literal(str(version.version))))
        g.add((ds, DCTERMS.modified, Literal(version.validated_at.replace(microsecond=0), datatype=XSD.dateTime)))
    for name, value in t.kc.items():
        g.add((ds, KCNS[name], Literal(value)))
    if publication is not None:
        landing = publication.url
        g.add((ds, DCAT.landingPage, _document(g, landing)))
        for n, f in enumerate(_distributions(resource, landing, downloads), start=1):
            _add_distribution(g, ds, t, resource, n, f, landing, modified)


def _add_terms(g: Graph, ds: URIRef, resource: Resource, t: DcatTerms) -> None:
    """The entry's own DCAT-AP terms (what does not depend on versions or the portal)."""
    for word in t.keywords:
        g.add((ds, DCAT.keyword, Literal(word, lang="zh")))
    for theme in t.themes:
        g.add((ds, DCAT.theme, _concept(g, theme)))
    g.add((ds, DCTERMS.accrualPeriodicity, _concept(g, t.frequency)))
    g.add((ds, DCTERMS.accessRights, _concept(g, t.access_rights)))
    for lang in t.languages:
        g.add((ds, DCTERMS.language, _concept(g, lang)))
    g.add((ds, DCTERMS.spatial, _concept(g, t.spatial)))
    g.add((ds, DCTERMS.publisher, _agent(g, t.publisher_uri, t.publisher_name, resource.provider.code)))
    if t.contact_email:
        g.add((ds, DCAT.contactPoint, _contact(g, t.contact_name or t.publisher_name["zh"], t.contact_email)))
    g.add((ds, DCTERMS.issued, Literal(date.fromisoformat(t.issued), datatype=XSD.date)))
    for related in t.related:
        g.add((ds, DCTERMS.relation, _resource_iri(g, related)))
    if t.origin:
        provenance = BNode()
        g.add((provenance, RDF.type, DCTERMS.ProvenanceStatement))
        g.add((provenance, RDFS.label, Literal(t.origin, lang="zh")))
        g.add((ds, DCTERMS.provenance, provenance))


def catalog_graph(
    resources: list[Resource],
    store: CatalogStore | None,
    base_uri: str,
    *,
    bureau: Bureau | None = None,
    downloads: Mapping[str, list[Download]] | None = None,
) -> Graph:
    """The DCAT-AP 3 graph of the whole catalog. `downloads` (by resource code) names the real
    file URLs on the portal when the caller asked it; without them distributions point at the
    dataset page."""
    from catalog.entries import load_bureau

    bureau = bureau or load_bureau()
    base = base_uri.rstrip("/")
    published, versions = _publications(store)
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    catalog = URIRef(f"{base}/catalog")
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, Literal("中新广州知识城全量数据资源目录", lang="zh")))
    g.add((catalog, DCTERMS.title, Literal("Sino-Singapore Guangzhou Knowledge City data resource catalogue", lang="en")))
    g.add((catalog, DCTERMS.description, Literal(
        "知识城各部门政务信息资源的全量目录（含不予开放的资源，仅元数据），按《政务信息资源目录编制指南（试行）》编制。", lang="zh")))
    g.add((catalog, DCTERMS.description, Literal(
        "Every government data resource of the Knowledge City departments, open or not (metadata only).", lang="en")))
    bureau_node = _agent(g, f"{base}/catalog#publisher", {"zh": bureau.name, "en": bureau.name_en})
    g.add((catalog, DCTERMS.publisher, bureau_node))
    g.add((catalog, DCAT.contactPoint, _contact(g, bureau.name, bureau.email)))
    for lang in languages():
        g.add((catalog, DCTERMS.language, _concept(g, lang)))
    g.add((catalog, FOAF.homepage, _document(g, f"{base}/")))
    g.add((catalog, DCAT.themeTaxonomy, _concept(g, EU + "data-theme")))
    if resources:
        g.add((catalog, DCTERMS.issued, Literal(min(r.published_at for r in resources), datatype=XSD.date)))
    latest = [v.validated_at for v in versions.values()]
    modified = max(latest) if latest else datetime.now(timezone.utc).replace(tzinfo=None)
    g.add((catalog, DCTERMS.modified, Literal(modified.replace(microsecond=0), datatype=XSD.dateTime)))
    for r in resources:
        t = dcat_terms(r, base, bureau)
        files = downloads.get(r.code) if downloads is not None else None
        _add_dataset(g, catalog, r, t, published.get(r.code), versions.get(r.code), files)
    return g


def serialize(graph: Graph, fmt: str) -> bytes:
    """Turtle or JSON-LD (compacted with the prefixes above as its context), UTF-8."""
    if fmt == "turtle":
        return graph.serialize(format="turtle", encoding="utf-8")
    if fmt == "json-ld":
        context = {prefix: str(ns) for prefix, ns in PREFIXES.items()}
        return graph.serialize(format="json-ld", context=context, encoding="utf-8")
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
