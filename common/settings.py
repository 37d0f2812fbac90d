"""Where things live. Every path can be moved by an environment variable, nothing else is global."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.lake import LakeLayout
from common.lake_store import lake_root

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Paths(LakeLayout):
    """One kcdata installation: its lake (layout in common.lake), inbox and project folders."""

    root: Path = PROJECT_ROOT
    inbox: Path = PROJECT_ROOT / "inbox"
    catalog_dir: Path = PROJECT_ROOT / "catalog" / "resources"
    dbt_project: Path = PROJECT_ROOT / "dbt"
    expectations_dir: Path = PROJECT_ROOT / "expectations"

    @property
    def catalog_url(self) -> str:
        return os.environ.get("KCDATA_CATALOG_URL") or self.default_catalog_url


def get_paths() -> Paths:
    """Read the layout from the environment (KCDATA_LAKE, KCDATA_INBOX), defaulting to the repo."""
    root = Path(os.environ.get("KCDATA_HOME", PROJECT_ROOT))
    return Paths(
        lake=lake_root(os.environ.get("KCDATA_LAKE", root / "lake")),
        root=root,
        inbox=Path(os.environ.get("KCDATA_INBOX", root / "inbox")),
        catalog_dir=Path(os.environ.get("KCDATA_CATALOG_DIR", PROJECT_ROOT / "catalog" / "resources")),
    )
