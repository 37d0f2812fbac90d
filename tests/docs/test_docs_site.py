"""The docs site holds together: a short README that links only to pages that exist, every page in
the nav, and reference pages generated from the code (the problem table is the registry's own).

The strict build with its link check (`mkdocs build --strict`) runs in the test command, not here."""
from __future__ import annotations

import re
import sys

import yaml

from common.problems import markdown_table
from common.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
README = PROJECT_ROOT / "README.md"
README_MAX_LINES = 200

sys.path.insert(0, str(DOCS))
from reference_pages import BUILDERS  # noqa: E402


def _nav_pages(entries: list) -> set[str]:
    pages: set[str] = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages |= _nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_the_problem_codes_page_is_generated_from_the_registry():
    text = BUILDERS["reference/problems.md"]()
    table = re.search(r"<!-- problems:start -->\n(.*?)\n<!-- problems:end -->", text, re.S)
    assert table, "the problem codes page lacks the problems table markers"
    assert table.group(1) == markdown_table(), "regenerate it with `kcdata problems --markdown`"


def test_the_readme_is_a_short_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: add a page under docs/, not a README section"


def test_the_readme_links_only_to_docs_pages_that_exist():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "README.md links into no docs page"
    for link in local:
        target = (PROJECT_ROOT / link).resolve()
        assert target.is_relative_to(DOCS) and target.suffix == ".md", f"README.md links to {link}, not a docs page"
        assert target.is_file(), f"README.md links to {link}, which does not exist"


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    config = yaml.safe_load((PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    written = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    pages = written | set(BUILDERS)
    nav = _nav_pages(config["nav"])
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert nav - pages == set(), "nav entries without a page"
