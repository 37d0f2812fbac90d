"""Open licences: entries name one by SPDX id, closed or unknown ones are refused with the
known ids, and each maps to CKAN's own licence id and the EU licence IRI."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from catalog.entries import get_resource, load_catalog
from catalog.licences import DEFAULT_LICENCE, LICENCES, by_ckan_id, licence
from catalog.model import Resource

CKAN_LICENCES = next(Path("/var/lib/kcdata").glob("*/ckan-venv/lib/python3.11/site-packages/ckan/model/license.py"), None)


def test_registry_has_the_common_open_licences():
    assert {"CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "ODbL-1.0", "ODC-By-1.0", "PDDL-1.0"} <= set(LICENCES)
    by = licence("CC-BY-4.0")
    assert (by.ckan_id, by.eu_uri) == ("cc-by", "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0")
    assert licence("ODbL-1.0").eu_uri.endswith("/ODC_BL") and by_ckan_id("cc-zero").spdx == "CC0-1.0"
    assert DEFAULT_LICENCE == "CC-BY-4.0"


def test_unknown_licence_names_the_known_ones():
    with pytest.raises(ValueError, match="CC-BY-NC-4.0.*CC-BY-4.0, CC-BY-SA-4.0"):
        licence("CC-BY-NC-4.0")


@pytest.mark.skipif(CKAN_LICENCES is None, reason="CKAN is not installed on this machine")
def test_ckan_ids_are_ckans_default_licence_ids():
    ids = set(re.findall(r'^\s+id = "([^"]+)"', CKAN_LICENCES.read_text(), re.MULTILINE))
    assert {lic.ckan_id for lic in LICENCES.values()} <= ids


def _entry(**changes) -> dict:
    data = get_resource("KC-SCJG-001").model_dump(mode="json", exclude_unset=True)
    return {**data, **changes}


def test_existing_entries_default_to_cc_by_and_name_their_department():
    for r in load_catalog():
        assert r.licence in LICENCES
    entry = get_resource("KC-SCJG-001")
    assert entry.attribution_text == "来源：黄埔区市场监督管理局（Huangpu District Administration for Market Regulation）"
    assert "市场监督管理局" in entry.all_keywords and "企业登记" in entry.all_keywords
    assert "基础信息资源" not in entry.all_keywords  # the top class says nothing


def test_entry_licence_attribution_origin_keywords():
    r = Resource.model_validate(_entry(licence="ODbL-1.0", attribution="© 黄埔区市场监管局", origin="企业登记系统导出",
                                       keywords=["营商环境", "企业登记"]))
    assert r.licence == "ODbL-1.0" and r.attribution_text == "© 黄埔区市场监管局" and r.origin == "企业登记系统导出"
    assert r.all_keywords.count("企业登记") == 1 and r.all_keywords[0] == "营商环境"


def test_closed_licence_is_refused_with_a_clear_message():
    with pytest.raises(ValidationError, match="not a known open licence"):
        Resource.model_validate(_entry(licence="proprietary"))
    with pytest.raises(ValidationError, match="empty"):
        Resource.model_validate(_entry(keywords=["  "]))
