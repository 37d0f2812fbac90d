"""Metadata quality of one dataset on the portal, scored the way data.europa.eu's MQA does.

The portal's own DCAT record (`<portal>/dataset/<name>.ttl`, ckanext-dcat) is what harvesters
and the EU portal see, so that record is scored, not the catalog entry. 405 points in five
dimensions (findability 100, accessibility 100, interoperability 110, reusability 75,
contextuality 20); ratings excellent ≥ 351, good ≥ 221, sufficient ≥ 121, else bad.

Distribution indicators (access URL, download URL, format, media type, licence, rights, byte
size...) count as in MQA: the points are the indicator's maximum times the share of the
dataset's distributions that pass (2 of 3 distributions with a licence: 2/3 of 20 points,
rounded), and the indicator passes only when every distribution does. A dataset without
distributions gets none of them.

"DCAT-AP compliant" is the record passing SEMIC's DCAT-AP 3.0.0 SHACL shapes (portal/shapes/),
validated without inference, with the EU vocabulary excerpt (catalog/eu-vocabularies.ttl)
mixed in so EU concept IRIs are known as what they are.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF
from rdflib.term import Node

from catalog.dcat_terms import EU_VOCABULARIES

SHAPES_DIR = Path(__file__).with_name("shapes")
DCAT_AP_SHAPES = SHAPES_DIR / "dcat-ap-3.0.0-SHACL.ttl"
EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"
LINK_TIMEOUT_S = 5.0

# MQA's file-type judgements (after data.europa.eu's non-proprietary and machine-readable lists),
# by the last part of an EU file-type IRI or a media type. XLSX is machine readable but proprietary.
NON_PROPRIETARY = {
    "CSV", "TSV", "JSON", "JSON_LD", "GEOJSON", "XML", "RDF_XML", "RDF_TURTLE", "RDF_N_TRIPLES", "N3", "PARQUET",
    "ODS", "ODT", "TXT", "HTML", "GML", "KML", "SHP", "NETCDF", "text/csv", "application/json", "application/ld+json",
    "application/geo+json", "application/xml", "text/turtle", "application/vnd.apache.parquet",
}
MACHINE_READABLE = {
    "CSV", "TSV", "JSON", "JSON_LD", "GEOJSON", "XML", "RDF_XML", "RDF_TURTLE", "RDF_N_TRIPLES", "N3", "PARQUET",
    "ODS", "XLS", "XLSX", "GML", "KML", "SHP", "NETCDF", "text/csv", "application/json", "application/ld+json",
    "application/geo+json", "application/xml", "text/turtle", "application/vnd.apache.parquet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/vnd.ms-excel",
}

DIMENSIONS = {  # key -> (中文, English, max)
    "findability": ("可发现性", "Findability", 100),
    "accessibility": ("可访问性", "Accessibility", 100),
    "interoperability": ("互操作性", "Interoperability", 110),
    "reusability": ("可重用性", "Reusability", 75),
    "contextuality": ("情境性", "Contextuality", 20),
}
MAX_POINTS = sum(m for _, _, m in DIMENSIONS.values())  # 405
RATINGS = ((351, "excellent", "优秀"), (221, "good", "良好"), (121, "sufficient", "合格"), (0, "bad", "较差"))


@dataclass(frozen=True)
class Indicator:
    dimension: str
    indicator: str
    label_zh: str
    label_en: str
    points: int
    max: int
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Score:
    points: int
    max: int
    rating: str  # excellent | good | sufficient | bad
    rating_zh: str
    dimensions: dict[str, dict[str, Any]]  # key -> {"points", "max", "label_zh", "label_en"}
    indicators: list[Indicator] = field(default_factory=list)
    source_url: str = ""

    def failed(self) -> list[str]:
        """The indicator keys that did not pass (what to improve)."""
        return [i.indicator for i in self.indicators if not i.passed]

    def indicators_json(self) -> list[dict[str, Any]]:
        return [asdict(i) for i in self.indicators]


def rating(points: int) -> tuple[str, str]:
    """(English, 中文) rating for a point total."""
    return next((en, zh) for floor, en, zh in RATINGS if points >= floor)


class LinkChecker:
    """HEAD, then GET when HEAD is refused or fails; status < 400 is reachable. One check per URL."""

    def __init__(self, session: requests.Session | None = None, timeout: float = LINK_TIMEOUT_S) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout
        self._seen: dict[str, bool] = {}

    def __call__(self, url: str) -> bool:
        if url not in self._seen:
            self._seen[url] = self._check(url)
        return self._seen[url]

    def _check(self, url: str) -> bool:
        if not url.startswith(("http://", "https://")):
            return False
        try:
            response = self.session.head(url, timeout=self.timeout, allow_redirects=True)
            if response.status_code < 400:
                return True
        except requests.RequestException:
            pass
        try:
            with self.session.get(url, timeout=self.timeout, stream=True, allow_redirects=True) as response:
                return response.status_code < 400
        except requests.RequestException:
            return False


@lru_cache(maxsize=1)
def _shapes() -> tuple[Graph, Graph]:
    return Graph().parse(DCAT_AP_SHAPES), Graph().parse(EU_VOCABULARIES)


def dcat_ap_conforms(data: Graph) -> tuple[bool, str]:
    """Whether `data` passes the DCAT-AP 3.0.0 SHACL shapes (no inference, EU excerpt mixed in),
    with pyshacl's report text."""
    from pyshacl import validate

    shapes, vocabularies = _shapes()
    conforms, _, text = validate(data, shacl_graph=shapes, ont_graph=vocabularies, inference="none")
    return bool(conforms), str(text)


def _last(iri: str) -> str:
    return iri.removeprefix(IANA) if iri.startswith(IANA) else iri.rstrip("/").rsplit("/", 1)[-1]


class _Record:
    """One dataset node of a DCAT graph, with its distributions."""

    def __init__(self, graph: Graph, dataset: URIRef) -> None:
        self.g = graph
        self.ds = dataset
        self.dists = sorted(graph.objects(dataset, DCAT.distribution), key=str)

    def has(self, prop: URIRef) -> bool:
        return next(self.g.objects(self.ds, prop), None) is not None

    def values(self, node: Node, prop: URIRef) -> list[Node]:
        return list(self.g.objects(node, prop))

    def share(self, test: Callable[[Node], bool]) -> tuple[int, int]:
        """(passing, total) distributions."""
        return sum(1 for d in self.dists if test(d)), len(self.dists)


def _dataset_node(graph: Graph, name: str) -> URIRef:
    datasets = [d for d in graph.subjects(RDF.type, DCAT.Dataset) if isinstance(d, URIRef)]
    if not datasets:
        raise ValueError("the record has no dcat:Dataset")
    named = [d for d in datasets if str(d).rstrip("/").endswith(f"/{name}")]
    return (named or datasets)[0]


def _whole(dim: str, key: str, zh: str, en: str, maximum: int, passed: bool, detail: str = "") -> Indicator:
    return Indicator(dim, key, zh, en, maximum if passed else 0, maximum, passed, detail)


def _per_distribution(dim: str, key: str, zh: str, en: str, maximum: int, counts: tuple[int, int]) -> Indicator:
    passing, total = counts
    points = round(maximum * passing / total) if total else 0
    detail = f"{passing}/{total} 个分发 distributions" if total else "无分发 no distribution"
    return Indicator(dim, key, zh, en, points, maximum, bool(total) and passing == total, detail)


def _indicators(r: _Record, link_ok: Callable[[str], bool], compliant: tuple[bool, str]) -> Iterable[Indicator]:
    g = r.g
    yield _whole("findability", "keyword", "关键词", "Keywords", 30, r.has(DCAT.keyword))
    yield _whole("findability", "theme", "主题分类", "Categories (themes)", 30, r.has(DCAT.theme))
    yield _whole("findability", "spatial", "空间范围", "Geo search (spatial)", 20, r.has(DCTERMS.spatial))
    yield _whole("findability", "temporal", "时间范围", "Time-based search (temporal)", 20, r.has(DCTERMS.temporal))

    def urls(d: Node, prop: URIRef) -> list[str]:
        return [str(u) for u in r.values(d, prop)]

    yield _per_distribution("accessibility", "access_url_reachable", "访问地址可访问", "AccessURL accessible", 50,
                            r.share(lambda d: any(link_ok(u) for u in urls(d, DCAT.accessURL))))
    yield _per_distribution("accessibility", "download_url", "提供下载地址", "DownloadURL", 20,
                            r.share(lambda d: bool(urls(d, DCAT.downloadURL))))
    yield _per_distribution("accessibility", "download_url_reachable", "下载地址可访问", "DownloadURL accessible", 30,
                            r.share(lambda d: any(link_ok(u) for u in urls(d, DCAT.downloadURL))))

    def formats(d: Node) -> list[str]:
        return [str(v) for v in r.values(d, DCTERMS.format)] + [str(v) for v in r.values(d, DCAT.mediaType)]

    yield _per_distribution("interoperability", "format", "格式", "Format", 20, r.share(lambda d: bool(r.values(d, DCTERMS.format))))
    yield _per_distribution("interoperability", "media_type", "媒体类型", "Media type", 10,
                            r.share(lambda d: bool(r.values(d, DCAT.mediaType))))
    yield _per_distribution("interoperability", "format_vocabulary", "格式/媒体类型来自词表", "Format / media type from vocabulary", 10,
                            r.share(lambda d: any(f.startswith((EU + "file-type/", IANA)) for f in formats(d))))
    yield _per_distribution("interoperability", "non_proprietary", "非专有格式", "Non-proprietary", 20,
                            r.share(lambda d: any(_last(f) in NON_PROPRIETARY for f in formats(d))))
    yield _per_distribution("interoperability", "machine_readable", "机器可读", "Machine readable", 20,
                            r.share(lambda d: any(_last(f) in MACHINE_READABLE for f in formats(d))))
    ok, report = compliant
    first_problem = next((line.strip() for line in report.splitlines() if line.strip().startswith("Message:")), "")
    yield _whole("interoperability", "dcat_ap_compliance", "符合 DCAT-AP", "DCAT-AP compliance", 30, ok, first_problem)

    yield _per_distribution("reusability", "licence", "许可协议", "Licence information", 20,
                            r.share(lambda d: bool(r.values(d, DCTERMS.license))))
    yield _per_distribution("reusability", "licence_vocabulary", "许可协议来自词表", "Licence vocabulary", 10,
                            r.share(lambda d: any(str(v).startswith(EU + "licence/") for v in r.values(d, DCTERMS.license))))
    rights = [str(v) for v in g.objects(r.ds, DCTERMS.accessRights)]
    yield _whole("reusability", "access_rights", "访问权限", "Access restrictions", 10, bool(rights))
    yield _whole("reusability", "access_rights_vocabulary", "访问权限来自词表", "Access restrictions vocabulary", 5,
                 any(v.startswith(EU + "access-right/") for v in rights))
    yield _whole("reusability", "contact_point", "联系方式", "Contact point", 20, r.has(DCAT.contactPoint))
    yield _whole("reusability", "publisher", "发布者", "Publisher", 10, r.has(DCTERMS.publisher))

    def on_dist_or_dataset(prop: URIRef) -> tuple[int, int]:
        return r.share(lambda d: bool(r.values(d, prop)) or r.has(prop))

    yield _per_distribution("contextuality", "rights", "权利声明", "Rights", 5, r.share(lambda d: bool(r.values(d, DCTERMS.rights))))
    yield _per_distribution("contextuality", "byte_size", "文件大小", "File size", 5, r.share(lambda d: bool(r.values(d, DCAT.byteSize))))
    yield _per_distribution("contextuality", "issued", "发布日期", "Date of issue", 5, on_dist_or_dataset(DCTERMS.issued))
    yield _per_distribution("contextuality", "modified", "修改日期", "Modification date", 5, on_dist_or_dataset(DCTERMS.modified))


def score_graph(graph: Graph, dataset_name: str, link_ok: Callable[[str], bool] | None = None, source_url: str = "") -> Score:
    """Score the dataset `dataset_name` of a parsed DCAT graph (links checked with `link_ok`)."""
    record = _Record(graph, _dataset_node(graph, dataset_name))
    indicators = list(_indicators(record, link_ok or LinkChecker(), dcat_ap_conforms(graph)))
    dimensions: dict[str, dict[str, Any]] = {
        key: {"points": sum(i.points for i in indicators if i.dimension == key), "max": maximum, "label_zh": zh, "label_en": en}
        for key, (zh, en, maximum) in DIMENSIONS.items()
    }
    points = sum(d["points"] for d in dimensions.values())
    en, zh = rating(points)
    return Score(points, MAX_POINTS, en, zh, dimensions, indicators, source_url)


class RecordUnavailable(Exception):
    """The portal did not serve the dataset's DCAT record (not published, portal down)."""


def score_dataset(portal_url: str, dataset_name: str, session: requests.Session | None = None) -> Score:
    """Fetch `<portal>/dataset/<name>.ttl` and score it; links are checked against the portal."""
    session = session or requests.Session()
    source = f"{portal_url.rstrip('/')}/dataset/{dataset_name}.ttl"
    try:
        response = session.get(source, timeout=30)
    except requests.RequestException as exc:
        raise RecordUnavailable(f"cannot reach {source}: {exc}") from exc
    if response.status_code != 200:
        raise RecordUnavailable(f"{source} answered HTTP {response.status_code}; is the dataset published?")
    try:
        graph = Graph().parse(data=response.text, format="turtle")
    except Exception as exc:  # rdflib raises several parser errors
        raise RecordUnavailable(f"{source} is not valid Turtle: {exc}") from exc
    return score_graph(graph, dataset_name, LinkChecker(session), source)
