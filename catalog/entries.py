"""Load catalog entries from YAML. Light on purpose: DAG files call this at parse time.

Layout of a catalog folder (the repo's catalog/resources, or KCDATA_CATALOG_DIR):

    departments.yaml          every department once: <slug>: {name, name_en, code, contact: {name, email}}
    bureau.yaml               the data bureau itself: {name, name_en, email} (copied on every notification)
    <slug>/<table>.yaml       one entry per resource, `provider: <slug>`
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from catalog.model import Bureau, Provider, Resource
from common.errors import KcdataError
from common.settings import PROJECT_ROOT, get_paths

DEPARTMENTS_FILE = "departments.yaml"
# libyaml's loader when PyYAML has it: ~10x faster than the pure-Python one, and the DAG files load
# the whole catalog at every parse (1,000 entries: 15 s pure Python)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUREAU_FILE = "bureau.yaml"


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}" for e in exc.errors())


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise KcdataError(f"{path}: not found") from exc
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (libyaml's or PyYAML's)
    except yaml.YAMLError as exc:
        raise KcdataError(f"{path}: not valid YAML: {exc}") from exc


def _duplicate_top_keys(path: Path) -> list[str]:
    """Keys given twice at the top of a YAML mapping (safe_load would keep the last silently)."""
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_LOADER)
    if not isinstance(node, yaml.MappingNode):
        return []
    keys = [k.value for k, _ in node.value]
    return sorted({k for k in keys if keys.count(k) > 1})


def load_departments(directory: Path | None = None) -> dict[str, Provider]:
    """The departments of a catalog folder (its departments.yaml), by slug."""
    path = Path(directory or get_paths().catalog_dir) / DEPARTMENTS_FILE
    data = _read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise KcdataError(f"{path}: must be a mapping of department slug to {{name, name_en, code, contact}}")
    twice = _duplicate_top_keys(path)
    if twice:
        raise KcdataError(f"{path}: department {twice[0]!r} is declared twice; declare each department once")
    departments: dict[str, Provider] = {}
    for slug, fields in data.items():
        where = f"{path}: department {slug!r}"
        if not isinstance(fields, dict):
            raise KcdataError(f"{where}: give its name, name_en, code and contact as a mapping")
        if "slug" in fields:
            raise KcdataError(f"{where}: slug: the key is the slug; do not repeat it inside the record")
        try:
            departments[str(slug)] = Provider.model_validate({**fields, "slug": slug})
        except ValidationError as exc:
            raise KcdataError(f"{where}: {_problems(exc)}") from exc
    codes = [d.code for d in departments.values()]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        owners = sorted(s for s, d in departments.items() if d.code == dupes[0])
        raise KcdataError(f"{path}: departments {owners} share the code {dupes[0]!r}; each department has its own")
    return departments


def load_bureau(directory: Path | None = None) -> Bureau:
    """The data bureau (bureau.yaml beside departments.yaml): who hears about every delivery problem."""
    path = Path(directory or get_paths().catalog_dir) / BUREAU_FILE
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise KcdataError(f"{path}: must be a mapping {{name, name_en, email}}")
    try:
        return Bureau.model_validate(data)
    except ValidationError as exc:
        raise KcdataError(f"{path}: {_problems(exc)}") from exc


def _resolve_provider(path: Path, data: Any, departments: Mapping[str, Provider], folder: str | None) -> Any:
    """Swap the entry's provider slug for the department's record (before validation)."""
    if not isinstance(data, dict) or "provider" not in data:
        return data  # validation reports the missing field
    slug = data["provider"]
    known = ", ".join(sorted(departments))
    if isinstance(slug, dict):
        raise KcdataError(
            f"{path}: provider: give the department's slug ({known}), not its details; "
            f"departments are declared once in {DEPARTMENTS_FILE}"
        )
    if not isinstance(slug, str) or slug not in departments:
        raise KcdataError(f"{path}: provider: unknown department {slug!r}; known slugs in {DEPARTMENTS_FILE}: {known}")
    if folder is not None and folder != slug:
        raise KcdataError(
            f"{path}: provider: the entry is in folder {folder!r} but names department {slug!r}; "
            f"entries live in <catalog>/<provider slug>/, so move the file or fix the provider"
        )
    return {**data, "provider": departments[slug]}


def _parse(path: Path, departments: Mapping[str, Provider], folder: str | None) -> Resource:
    data = _resolve_provider(path, _read_yaml(path), departments, folder)
    try:
        resource = Resource.model_validate(data)
    except ValidationError as exc:
        raise KcdataError(f"{path}: invalid catalog entry: {_problems(exc)}") from exc
    resource._entry_file = _shown_path(path)
    return resource


def _shown_path(path: Path) -> str:
    """`catalog/resources/x/y.yaml` for the repository's entries, the full path for others."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def load_resource(path: Path, directory: Path | None = None) -> Resource:
    """Parse one entry; a bad entry names its file and the field to fix.

    Its provider slug is resolved against `<directory>/departments.yaml` (default: the configured
    catalog folder). An entry inside that folder must sit in the folder named after its provider.
    """
    catalog = Path(directory or get_paths().catalog_dir)
    inside = path.resolve().parent.parent == catalog.resolve()
    return _parse(path, load_departments(catalog), path.parent.name if inside else None)


def _check_links(entries: list[tuple[Path, Resource]]) -> None:
    """`related` names other entries; an item's `references` names one whose key is one column."""
    by_code = {r.code: r for _, r in entries}
    for path, r in entries:
        for code in r.related:
            if code == r.code:
                raise KcdataError(f"{path}: related: {code!r} is this entry's own code; list other entries only")
            if code not in by_code:
                raise KcdataError(
                    f"{path}: related: {code!r} is not the code of any catalog entry (known: {', '.join(sorted(by_code))})"
                )
        for item in r.items:
            target = by_code.get(item.references) if item.references else None
            if target is not None and len(target.key) != 1:
                raise KcdataError(
                    f"{path}: items.{item.code}.references: {target.code} has key {target.key}, "
                    "not a single column an item can hold"
                )


@lru_cache(maxsize=4)
def _load_dir(directory: str) -> tuple[Resource, ...]:
    from catalog.parsed_cache import cached

    return cached(Path(directory), lambda: _read_dir(directory))


def _read_dir(directory: str) -> tuple[Resource, ...]:
    departments = load_departments(Path(directory))
    entries = [(p, _parse(p, departments, p.parent.name)) for p in sorted(Path(directory).glob("*/*.yaml"))]
    seen: dict[str, str] = {}
    for _, r in entries:
        for ident in (r.code, r.table):
            if ident in seen:
                raise KcdataError(f"catalog: {ident!r} is used by two entries")
            seen[ident] = r.code
    _check_links(entries)
    return tuple(r for _, r in entries)


def forget_loaded_catalog() -> None:
    """Entries were edited on disk: the next `load_catalog` reads them again (loading is cached
    per folder, and a long-lived process such as the catalog web must see edits)."""
    _load_dir.cache_clear()


def load_catalog(directory: Path | None = None) -> list[Resource]:
    """Every entry under catalog/resources/<department>/*.yaml, sorted by path."""
    return list(_load_dir(str(directory or get_paths().catalog_dir)))


def get_resource(code: str, directory: Path | None = None) -> Resource:
    """Find one entry by its code (KC-SCJG-001) or its table name."""
    for r in load_catalog(directory):
        if code in (r.code, r.table):
            return r
    raise KcdataError(f"no catalog entry with code {code!r}; `kcdata catalog list` shows them")
