"""The generated reference pages of the docs site: each module turns one part of the code into Markdown."""
from __future__ import annotations

from collections.abc import Callable

from reference_pages import catalog_entry, cli, problems, services, settings

BUILDERS: dict[str, Callable[[], str]] = {
    "reference/cli.md": cli.page,
    "reference/settings.md": settings.page,
    "reference/problems.md": problems.page,
    "reference/catalog-entry.md": catalog_entry.page,
    "reference/services.md": services.page,
}


def pages() -> dict[str, str]:
    """Every generated page by its path in the site, built from the code as it is now."""
    return {path: build() for path, build in BUILDERS.items()}
