"""The problem codes, from the one registry (common/problems.py)."""
from __future__ import annotations

from common.problems import markdown_table
from reference_pages.markdown import GENERATED


def page() -> str:
    return f"""# Problem codes

{GENERATED} Source: `common/problems.py`.

Every problem a delivery can have, with its level (the whole delivery, its header, one row or one
cell), its severity (`refused`: the delivery or the row goes back; `warning`: reported, kept) and
its message in Chinese and English. The `{{...}}` fields are filled with the problem's own
parameters. `kcdata problems` prints the same registry; how a department reads these is in
[Reading feedback](../departments/feedback.md).

<!-- problems:start -->
{markdown_table()}
<!-- problems:end -->
"""
