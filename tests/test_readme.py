"""The README's table of problems is the registry's own, so the docs cannot drift from the code."""
from __future__ import annotations

import re

from common.problems import markdown_table
from common.settings import PROJECT_ROOT


def test_readme_problem_table_is_generated_from_the_registry():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- problems:start -->\n(.*?)\n<!-- problems:end -->", text, re.S)
    assert table, "README.md lacks the problems table markers"
    assert table.group(1) == markdown_table(), "regenerate it with `kcdata problems --markdown`"
