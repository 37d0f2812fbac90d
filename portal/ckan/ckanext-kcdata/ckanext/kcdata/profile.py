"""The kcdata DCAT profile, chained after ckanext-dcat's `euro_dcat_ap_3`.

Why a profile and not more ckanext-dcat fields: the stock profile writes some values the
DCAT-AP 3 shapes refuse (format and media type as text, checksums without an algorithm, the
catalog language as a locale string, vocabulary terms without their class) and knows nothing of
the 政务信息资源目录 fields. The publisher (portal/mapping.py) already computed every term
with `catalog.dcat_terms` and sent it as a scheming field; this profile only *emits* them, so
CKAN never decides a vocabulary term on its own (it cannot import the kcdata project).

Validated without inference, so every IRI object gets its class stated (`a skos:Concept`...).
"""
from __future__ import annotations

import json

from ckanext.dcat.profiles.base import DCAT, DCT, FOAF, SPDX, VCARD, RDFProfile
from ckanext.dcat.utils import resource_uri
from ckantoolkit import config
from rdflib import BNode, Literal, Namespace, URIRef
from rdflib.namespace import RDF, RDFS, SKOS, XSD

# Must equal catalog.dcat_terms.KC (a test reads both).
KC = Namespace("https://data.kc.huangpu.gov.cn.example/def/kcdata#")
SHA256 = SPDX.checksumAlgorithm_sha256
THEME_SCHEME = URIRef("http://publications.europa.eu/resource/authority/data-theme")


def _words(value) -> list[str]:
    """A space-separated (or JSON list) field as a list of IRIs."""
    if not value:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text) if v]
        except ValueError:
            pass
    return text.split()


class KcdataDCATAP3Profile(RDFProfile):
    """Fix and complete the DCAT-AP 3 record of a kcdata dataset and of the catalog."""

    # --- helpers -------------------------------------------------------------------------

    def _replace(self, subject, predicate, *objects) -> None:
        """Drop what earlier profiles wrote for (subject, predicate), then add `objects`."""
        for old in list(self.g.objects(subject, predicate)):
            self.g.remove((subject, predicate, old))
            if isinstance(old, BNode):  # e.g. a statement node nobody else points to
                self.g.remove((old, None, None))
        for obj in objects:
            self.g.add((subject, predicate, obj))

    def _iris(self, subject, predicate, values, cls) -> None:
        iris = [URIRef(v) for v in values]
        self._replace(subject, predicate, *iris)
        for iri in iris:
            self.g.add((iri, RDF.type, cls))

    def _date(self, value: str):
        return Literal(value, datatype=XSD.date if len(value) == 10 else XSD.dateTime)

    # --- dataset -------------------------------------------------------------------------

    def graph_from_dataset(self, dataset_dict, dataset_ref):
        d = dataset_dict
        g = self.g
        g.bind("kc", KC)
        if not d.get("resource_code"):  # not one of ours: leave euro_dcat_ap_3's record alone
            return
        self._replace(dataset_ref, DCT.title, Literal(d["title"], lang="zh"),
                      *([Literal(d["title_en"], lang="en")] if d.get("title_en") else []))
        self._replace(dataset_ref, DCT.description, Literal(d.get("notes") or d.get("summary") or d["title"], lang="zh"))
        self._replace(dataset_ref, DCT.identifier, Literal(d["resource_code"]))
        if d.get("published_date"):
            self._replace(dataset_ref, DCT.issued, self._date(d["published_date"]))
        if d.get("modified_date"):
            self._replace(dataset_ref, DCT.modified, self._date(d["modified_date"]))
        if d.get("catalog_version"):
            self._replace(dataset_ref, DCAT.version, Literal(str(d["catalog_version"])))
        self._iris(dataset_ref, DCAT.theme, _words(d.get("theme_uris")), SKOS.Concept)
        for theme in _words(d.get("theme_uris")):
            g.add((URIRef(theme), SKOS.inScheme, THEME_SCHEME))
        self._iris(dataset_ref, DCT.accrualPeriodicity, _words(d.get("frequency_uri")), DCT.Frequency)
        self._iris(dataset_ref, DCT.accessRights, _words(d.get("access_rights_uri")), DCT.RightsStatement)
        self._iris(dataset_ref, DCT.language, _words(d.get("language_uris")), DCT.LinguisticSystem)
        self._iris(dataset_ref, DCT.spatial, _words(d.get("spatial_uri")), DCT.Location)
        self._iris(dataset_ref, DCT.relation, _words(d.get("related_uris")), RDFS.Resource)
        landing = f"{config.get('ckan.site_url', '').rstrip('/')}/dataset/{d['name']}"
        self._iris(dataset_ref, DCAT.landingPage, [landing], FOAF.Document)
        self._temporal(d, dataset_ref)
        self._contact(dataset_ref)
        self._publisher(d, dataset_ref)
        if d.get("origin"):
            self._replace(dataset_ref, DCT.provenance)
            statement = BNode()
            g.add((dataset_ref, DCT.provenance, statement))
            g.add((statement, RDF.type, DCT.ProvenanceStatement))
            g.add((statement, RDFS.label, Literal(d["origin"], lang="zh")))
        for name, value in self._kc_values(d).items():
            self._replace(dataset_ref, KC[name], Literal(value))
        for resource_dict in d.get("resources", []):
            self._distribution(d, resource_dict)
        self._describe_concepts(d)

    def _describe_concepts(self, d) -> None:
        """Class, scheme and labels of the vocabulary terms this record uses (sent by the
        publisher from catalog/eu-vocabularies.ttl), so the record stands on its own."""
        try:
            rows = json.loads(d.get("concepts") or "[]")
        except ValueError:
            return
        for subject, predicate, value, lang, kind in rows:  # terms come before their schemes
            node = URIRef(subject)
            if (None, None, node) not in self.g:  # not used here (e.g. the Parquet type of a metadata-only record)
                continue
            obj = URIRef(value) if kind == "iri" else Literal(value, lang=lang or None)
            self.g.add((node, URIRef(predicate), obj))

    @staticmethod
    def _kc_values(d) -> dict[str, str]:
        try:
            values = json.loads(d.get("kc_profile") or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in values.items() if v not in (None, "")}

    def _temporal(self, d, dataset_ref) -> None:
        """dct:temporal with dcat:startDate/endDate as typed dates (euro_dcat_ap_3 already
        writes them from temporal_start/temporal_end; this only makes sure of the types)."""
        for period in self.g.objects(dataset_ref, DCT.temporal):
            for predicate in (DCAT.startDate, DCAT.endDate):
                for value in list(self.g.objects(period, predicate)):
                    self.g.remove((period, predicate, value))
                    self.g.add((period, predicate, self._date(str(value))))

    def _contact(self, dataset_ref) -> None:
        for contact in self.g.objects(dataset_ref, DCAT.contactPoint):
            self.g.add((contact, RDF.type, VCARD.Kind))

    def _publisher(self, d, dataset_ref) -> None:
        for agent in self.g.objects(dataset_ref, DCT.publisher):
            if d.get("publisher_name"):
                self._replace(agent, FOAF.name, Literal(d["publisher_name"], lang="zh"),
                              *([Literal(d["publisher_name_en"], lang="en")] if d.get("publisher_name_en") else []))

    # --- distributions -------------------------------------------------------------------

    def _distribution(self, d, resource_dict) -> None:
        g = self.g
        ref = URIRef(resource_uri(resource_dict))
        self._iris(ref, DCT["format"], _words(resource_dict.get("format_uri")), DCT.MediaTypeOrExtent)
        self._iris(ref, DCAT.mediaType, _words(resource_dict.get("media_type_uri")), DCT.MediaType)
        for url in g.objects(ref, DCAT.accessURL):
            g.add((url, RDF.type, RDFS.Resource))
        if resource_dict.get("url_type") == "upload" and resource_dict.get("url"):
            self._iris(ref, DCAT.downloadURL, [resource_dict["url"]], RDFS.Resource)
        if d.get("licence_uri"):
            self._iris(ref, DCT.license, [d["licence_uri"]], DCT.LicenseDocument)
        for checksum in g.objects(ref, SPDX.checksum):
            if (checksum, SPDX.algorithm, None) not in g:
                g.add((checksum, SPDX.algorithm, SHA256))
            for algorithm in g.objects(checksum, SPDX.algorithm):
                g.add((algorithm, RDF.type, SPDX.ChecksumAlgorithm))

    # --- catalog -------------------------------------------------------------------------

    def graph_from_catalog(self, catalog_dict, catalog_ref):
        g = self.g
        g.bind("kc", KC)
        for homepage in g.objects(catalog_ref, FOAF.homepage):
            g.add((homepage, RDF.type, FOAF.Document))
        languages = config.get("ckanext.kcdata.languages", "").split()
        self._iris(catalog_ref, DCT.language, languages, DCT.LinguisticSystem)
        for language in languages:  # an EU authority term's scheme is its parent path
            g.add((URIRef(language), SKOS.inScheme, URIRef(language.rsplit("/", 1)[0])))
        self._iris(catalog_ref, DCT.spatial, config.get("ckanext.kcdata.spatial_uri", "").split(), DCT.Location)
        g.add((catalog_ref, DCAT.themeTaxonomy, THEME_SCHEME))
        g.add((THEME_SCHEME, RDF.type, SKOS.ConceptScheme))
        g.add((THEME_SCHEME, DCT.title, Literal("Data theme", lang="en")))
        publisher = config.get("ckanext.kcdata.publisher_uri")
        if publisher:
            agent = URIRef(publisher)
            self._replace(catalog_ref, DCT.publisher, agent)
            g.add((agent, RDF.type, FOAF.Agent))
            for key, lang in (("ckanext.kcdata.publisher_name_zh", "zh"), ("ckanext.kcdata.publisher_name_en", "en")):
                if config.get(key):
                    g.add((agent, FOAF.name, Literal(config.get(key), lang=lang)))
            if config.get("ckanext.kcdata.publisher_email"):
                g.add((agent, FOAF.mbox, URIRef("mailto:" + config.get("ckanext.kcdata.publisher_email"))))
