"""Where things live. Every path can be moved by an environment variable, nothing else is global."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Paths:
    """The lake and state folders of one kcdata installation."""

    root: Path
    lake: Path
    inbox: Path
    catalog_dir: Path
    dbt_project: Path
    expectations_dir: Path

    @property
    def raw(self) -> Path:
        return self.lake / "raw"

    @property
    def validated(self) -> Path:
        return self.lake / "validated"

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine"

    @property
    def curated(self) -> Path:
        return self.lake / "curated"

    @property
    def gx_root(self) -> Path:
        return self.lake / "gx"

    @property
    def data_docs_index(self) -> Path:
        return self.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def catalog_url(self) -> str:
        return os.environ.get("KCDATA_CATALOG_URL") or f"sqlite:///{self.lake / 'catalog.db'}"


def get_paths() -> Paths:
    """Read the layout from the environment (KCDATA_LAKE, KCDATA_INBOX), defaulting to the repo."""
    root = Path(os.environ.get("KCDATA_HOME", PROJECT_ROOT))
    lake = Path(os.environ.get("KCDATA_LAKE", root / "lake"))
    inbox = Path(os.environ.get("KCDATA_INBOX", root / "inbox"))
    return Paths(
        root=root,
        lake=lake,
        inbox=inbox,
        catalog_dir=Path(os.environ.get("KCDATA_CATALOG_DIR", PROJECT_ROOT / "catalog" / "resources")),
        dbt_project=PROJECT_ROOT / "dbt",
        expectations_dir=PROJECT_ROOT / "expectations",
    )
