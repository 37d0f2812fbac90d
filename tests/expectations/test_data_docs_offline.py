"""GX Data Docs open without the internet: every script and stylesheet is a local file that
exists, and Chromium, opening the index page from disk, renders its tables."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalog.entries import get_resource
from expectations.data_docs_offline import CDN_FILES
from expectations.validate import build_data_docs
from flow.pipeline import land_and_validate
from samples.generate import generate_resource

CODE = "KC-WSJK-001"
ASSET = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Data Docs built by the project for one validated sample delivery."""
    root = tmp_path_factory.mktemp("docs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KCDATA_LAKE", str(root / "lake"))
        mp.setenv("KCDATA_INBOX", str(root / "inbox"))
        mp.delenv("KCDATA_CATALOG_URL", raising=False)
        from common.settings import get_paths

        resource = get_resource(CODE)
        sample = generate_resource(resource, root / "inbox", rows=200, bad_share=0.05, seed=3)
        land_and_validate(resource, sample.path)
        index = build_data_docs(get_paths())
    assert index.exists()
    return index.parent


def test_no_cdn_script_or_stylesheet_remains_and_local_ones_exist(site: Path):
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 3  # the index, the suite, the validation result
    checked = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for cdn in CDN_FILES:
            assert cdn not in html, f"{page}: {cdn}"
        assert "integrity=" not in html
        for url in ASSET.findall(html):
            assert not url.startswith(("http://", "https://", "//")), f"{page.relative_to(site)} loads {url}"
            local = (page.parent / url.split("?")[0]).resolve()
            assert local.is_file(), f"{page.relative_to(site)}: {url} is missing"
            checked += 1
    assert checked > 10
    assert list((site / "static" / "vendor" / "@fortawesome" / "fontawesome-free" / "webfonts").glob("*.woff2"))


def test_index_page_renders_in_chromium_from_disk(site: Path, browser):
    outside: list[str] = []
    failed: list[str] = []
    page = browser.new_page()
    try:
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.route(re.compile(r"^https?://"), lambda route: route.abort())  # no internet, as on the server
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("typeof jQuery === 'function' && typeof jQuery.fn.bootstrapTable === 'function'")
        cell = page.locator("table td", has_text=CODE).first
        cell.wait_for(state="visible", timeout=15_000)
        assert CODE in cell.inner_text()
        # bootstrap's CSS is applied: the navbar is a flex box, not an unstyled block
        assert page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"
    finally:
        page.close()
    assert outside == [], outside
    assert [u for u in failed if u.startswith("file://")] == []
