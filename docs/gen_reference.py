"""Write the reference pages at build time (mkdocs-gen-files runs this file), so that they are made
from the code each time the site is built and cannot drift from it."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_pages import pages  # noqa: E402


def write() -> None:
    import mkdocs_gen_files

    for path, text in pages().items():
        with mkdocs_gen_files.open(path, "w") as page:
            page.write(text)


write()
