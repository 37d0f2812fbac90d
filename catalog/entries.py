"""Load catalog entries from YAML. Light on purpose: DAG files call this at parse time."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from catalog.model import Resource
from common.errors import KcdataError
from common.settings import get_paths


def load_resource(path: Path) -> Resource:
    """Parse one entry; a bad entry names its file and the field to fix."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Resource.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}" for e in exc.errors()
        )
        raise KcdataError(f"{path}: invalid catalog entry: {problems}") from exc
    except yaml.YAMLError as exc:
        raise KcdataError(f"{path}: not valid YAML: {exc}") from exc


@lru_cache(maxsize=4)
def _load_dir(directory: str) -> tuple[Resource, ...]:
    resources = [load_resource(p) for p in sorted(Path(directory).glob("*/*.yaml"))]
    seen: dict[str, str] = {}
    for r in resources:
        for ident in (r.code, r.table):
            if ident in seen:
                raise KcdataError(f"catalog: {ident!r} is used by two entries")
            seen[ident] = r.code
    return tuple(resources)


def load_catalog(directory: Path | None = None) -> list[Resource]:
    """Every entry under catalog/resources/<department>/*.yaml, sorted by path."""
    return list(_load_dir(str(directory or get_paths().catalog_dir)))


def get_resource(code: str, directory: Path | None = None) -> Resource:
    """Find one entry by its code (KC-SCJG-001) or its table name."""
    for r in load_catalog(directory):
        if code in (r.code, r.table):
            return r
    raise KcdataError(f"no catalog entry with code {code!r}; `kcdata catalog list` shows them")
