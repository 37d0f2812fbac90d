"""The open licences a resource may be published under, keyed by SPDX id.

One small registry so the catalog entry, the DCAT-AP export and the CKAN portal name the same
licence three ways: the SPDX id people write in YAML, CKAN 2.12's default licence id (so the
portal shows its own licence page without a custom licence file) and the EU Publications Office
licence authority IRI that DCAT-AP 3 asks for in `dct:license`. Only open licences are listed:
the open-data portal publishes nothing under a closed one.
"""
from __future__ import annotations

from dataclasses import dataclass

EU_LICENCE = "http://publications.europa.eu/resource/authority/licence/"


@dataclass(frozen=True)
class Licence:
    spdx: str  # SPDX id, what catalog entries write (`licence: CC-BY-4.0`)
    title_zh: str
    title_en: str
    url: str  # the licence text
    ckan_id: str  # CKAN 2.12 default licence list (ckan/model/license.py)
    eu_uri: str  # EU licence authority IRI (DCAT-AP 3 dct:license)
    attribution_required: bool = True  # whether users must show the 署名 (attribution)


LICENCES: dict[str, Licence] = {
    lic.spdx: lic
    for lic in (
        Licence("CC-BY-4.0", "知识共享署名 4.0 国际许可协议", "Creative Commons Attribution 4.0 International",
                "https://creativecommons.org/licenses/by/4.0/", "cc-by", EU_LICENCE + "CC_BY_4_0"),
        Licence("CC-BY-SA-4.0", "知识共享署名-相同方式共享 4.0 国际许可协议",
                "Creative Commons Attribution-ShareAlike 4.0 International",
                "https://creativecommons.org/licenses/by-sa/4.0/", "cc-by-sa", EU_LICENCE + "CC_BYSA_4_0"),
        Licence("CC0-1.0", "知识共享 CC0 1.0 通用公共领域贡献", "Creative Commons Zero 1.0 Universal",
                "https://creativecommons.org/publicdomain/zero/1.0/", "cc-zero", EU_LICENCE + "CC0",
                attribution_required=False),
        Licence("ODbL-1.0", "开放数据共享开放数据库许可协议 1.0", "Open Data Commons Open Database License 1.0",
                "https://opendatacommons.org/licenses/odbl/1-0/", "odc-odbl", EU_LICENCE + "ODC_BL"),
        Licence("ODC-By-1.0", "开放数据共享署名许可协议 1.0", "Open Data Commons Attribution License 1.0",
                "https://opendatacommons.org/licenses/by/1-0/", "odc-by", EU_LICENCE + "ODC_BY"),
        Licence("PDDL-1.0", "开放数据共享公共领域贡献与许可协议 1.0",
                "Open Data Commons Public Domain Dedication and License 1.0",
                "https://opendatacommons.org/licenses/pddl/1-0/", "odc-pddl", EU_LICENCE + "ODC_PDDL",
                attribution_required=False),
    )
}

DEFAULT_LICENCE = "CC-BY-4.0"


def licence(spdx: str) -> Licence:
    """The registered open licence with this SPDX id; a clear error names the known ones."""
    try:
        return LICENCES[spdx]
    except KeyError:
        raise ValueError(
            f"licence {spdx!r} is not a known open licence; use one of the SPDX ids {', '.join(LICENCES)}"
        ) from None


def by_ckan_id(ckan_id: str) -> Licence:
    """The licence CKAN calls `ckan_id` (e.g. reading a dataset back from the portal)."""
    for lic in LICENCES.values():
        if lic.ckan_id == ckan_id:
            return lic
    raise ValueError(f"CKAN licence id {ckan_id!r} is not one of kcdata's open licences")
