"""Make the GX Data Docs work without the internet: local copies instead of CDN links.

GX's page templates load bootstrap, jquery, popper, bootstrap-table, datepicker, font-awesome
and vega from CDNs (and the logo from S3), so on a machine without internet the pages render
blank. GX offers no way to replace those tags: its `plugins/custom_data_docs/views` folder is
consulted only *after* its own templates, so it cannot override them. Hence a small post-build
step: copy the same packages from the project's node_modules (installed by scripts/setup.sh from
package.json) into `<site>/static/vendor/`, and rewrite each known CDN URL in the generated
HTML to a relative path. The SRI `integrity` attributes go too (they pin the CDN's bytes; the
local file is the npm package's own build). Run after every build: GX re-renders the pages.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from common.settings import read_settings

PROJECT_NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
VENDOR = "static/vendor"
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

# CDN URL in GX's templates -> file in node_modules (same package; versions as package.json pins).
CDN_FILES: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# Whole folders a copied file refers to (font-awesome's CSS loads ../webfonts/*).
EXTRA_FOLDERS = ["@fortawesome/fontawesome-free/webfonts"]

_TAG_URL = re.compile(r"""(?P<attr>\b(?:href|src))=(?P<q>["'])(?P<url>(?:https?://|(?:\.\./)*static/)[^"']+)(?P=q)""")
_SRI = re.compile(r"""\s+(?:integrity|crossorigin)=(["'])[^"']*\1""")


class MissingAssets(Exception):
    """node_modules lacks a file the pages need (scripts/setup.sh installs them)."""


def node_modules_dir() -> Path:
    """Where the packages are: KCDATA_NODE_MODULES, else the project's node_modules."""
    return read_settings().node_modules or PROJECT_NODE_MODULES


def vendor_assets(site: Path, node_modules: Path | None = None) -> None:
    """Copy the packages' files into `<site>/static/vendor/` (only what is missing or changed)."""
    node_modules = node_modules or node_modules_dir()
    missing = [f for f in [*CDN_FILES.values(), *EXTRA_FOLDERS] if not (node_modules / f).exists()]
    if missing:
        raise MissingAssets(f"{node_modules} lacks {', '.join(missing)}; run scripts/setup.sh (npm ci) first")
    files = [Path(f) for f in CDN_FILES.values()]
    files += [p.relative_to(node_modules) for folder in EXTRA_FOLDERS for p in (node_modules / folder).rglob("*") if p.is_file()]
    for rel in files:
        source, target = node_modules / rel, site / VENDOR / rel
        if target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _local(url: str, page: Path, site: Path) -> str | None:
    """The relative path from `page` to the local copy of `url` (None: not a known asset)."""
    if url in CDN_FILES:
        target = site / VENDOR / CDN_FILES[url]
    elif url.startswith(GX_IMAGES):
        target = site / "static" / "images" / url.removeprefix(GX_IMAGES).split("?")[0]
    elif url.startswith(("static/", "../")):
        # GX counts the depth of validation pages by the dots in the suite name, which misses
        # a level for ours (`KC-WSJK-001.1a2b3c4d`): the favicon link points one folder short.
        target = site / re.sub(r"^(\.\./)*", "", url).split("?")[0]
        if (page.parent / url.split("?")[0]).resolve() == target.resolve():
            return None
    else:
        return None
    return os.path.relpath(target, page.parent).replace(os.sep, "/")


def rewrite_page(page: Path, site: Path) -> bool:
    """Point the page's CDN script/stylesheet/image URLs at the local copies (and mend GX's
    mis-counted links into static/); True if it changed."""
    html = page.read_text(encoding="utf-8")

    def swap_tag(tag: re.Match) -> str:
        text = tag.group(0)
        found = _TAG_URL.search(text)
        local = _local(found.group("url"), page, site) if found else None
        if found is None or local is None:
            return text
        text = text.replace(found.group(0), f'{found.group("attr")}={found.group("q")}{local}{found.group("q")}')
        return _SRI.sub("", text)

    new = re.sub(r"<(?:script|link|img)\b[^>]*>", swap_tag, html)
    if new != html:
        page.write_text(new, encoding="utf-8")
    return new != html


def make_offline(site: Path, node_modules: Path | None = None) -> int:
    """Vendor the assets and rewrite every page of the Data Docs site; returns pages changed."""
    vendor_assets(site, node_modules)
    return sum(rewrite_page(page, site) for page in site.rglob("*.html") if VENDOR not in page.as_posix())
