"""SHACL shapes for tests: SEMIC's DCAT-AP 3 shapes and the kcdata profile shapes.

The shape files ship with the code (portal/shapes/, catalog/kcdata-shapes.ttl) because the
metadata-quality scorer needs them at run time; tests use those same files (README.md here
says where each came from). Validation never infers, as ckanext-dcat's own tests do.
"""
from __future__ import annotations

from pathlib import Path

from rdflib import Graph

from catalog.dcat_terms import EU_VOCABULARIES
from portal.metadata_quality import DCAT_AP_SHAPES, SHAPES_DIR, dcat_ap_conforms

ROOT = Path(__file__).resolve().parents[2]
MDR_VOCABULARY_SHAPES = SHAPES_DIR / "dcat-ap-3.0.0-mdr-vocabularies.shape.ttl"
KCDATA_SHAPES = ROOT / "catalog" / "kcdata-shapes.ttl"


def dcat_ap3_shapes() -> Graph:
    """SEMIC's DCAT-AP 3.0.0 SHACL shapes (existence, cardinality and range constraints)."""
    return Graph().parse(DCAT_AP_SHAPES)


load_dcat_ap3_shapes = dcat_ap3_shapes


def eu_vocabularies() -> Graph:
    """The EU authority concepts kcdata uses, described (catalog/eu-vocabularies.ttl)."""
    return Graph().parse(EU_VOCABULARIES)


def conforms(data_graph: Graph) -> tuple[bool, str]:
    """(conforms, report text) against the DCAT-AP 3 shapes, EU vocabulary excerpt mixed in."""
    return dcat_ap_conforms(data_graph)


def _validate(data_graph: Graph, shapes: Path, **options) -> tuple[bool, str]:
    from pyshacl import validate

    ok, _, text = validate(data_graph, shacl_graph=Graph().parse(shapes), ont_graph=eu_vocabularies(),
                           inference="none", **options)
    return bool(ok), str(text)


def conforms_to_vocabularies(data_graph: Graph) -> tuple[bool, str]:
    """Against SEMIC's controlled-vocabulary shapes; warnings (a publisher that is not an EU
    corporate body, as no Chinese department is) do not count as failures."""
    return _validate(data_graph, MDR_VOCABULARY_SHAPES, allow_warnings=True)


def conforms_to_kcdata(data_graph: Graph) -> tuple[bool, str]:
    """Against the kcdata profile shapes (the 编制指南 fields as kc: properties)."""
    return _validate(data_graph, KCDATA_SHAPES)
