"""Which dbt nodes a delivery needs: what depends on the delivered resources, and nothing else.

dbt's `@stg_<table>` (the model, everything downstream, and *every* ancestor of those) rebuilds
too much: a `relationships` test of `stg_patent_grants` that refers to `stg_enterprise_registrations`
is downstream of the enterprises, so its other parent, the patents' staging model, was rebuilt
(and announced as rebuilt) on every delivery of enterprises; the seeds and the marts' unit tests
ran every time too. What a delivery of `tables` needs is only:

- `stg_<table>` and everything downstream of it (`stg_<table>+`), with their data tests;
- the ancestors of those that the scratch catalog does not hold yet, as built by *this* project.

The runner keeps `<lake>/.dbt/built.json`: the fingerprint of the assembled project
(transform/project.py) and the models, seeds and unit tests that succeeded with it in the scratch
DuckDB file. The graph comes from the last run's `manifest.json`, which was parsed from the same
project when the fingerprints agree. Whenever that is not known (first run, changed project or
catalog, scratch file gone) `plan` returns None and the runner falls back to dbt's own `@`
closure, which rebuilds every ancestor and needs no state.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from common.atomic import write_bytes_atomic
from common.settings import Paths
from transform.project import SOURCE_NAME

BUILDABLE = ("model", "seed")
TABLES_ENV = "KCDATA_DBT_TABLES"  # the resources a run reads, for transform/lake_plugin.py (unset: all)


@dataclass(frozen=True)
class Plan:
    """A `dbt build` of exactly `nodes` (names), whether their unit tests need to run again, and
    which resources' validated batches those nodes read."""

    nodes: list[str]
    unit_tests: bool
    reads: list[str]

    def args(self) -> list[str]:
        args = ["--select", " ".join(self.nodes)]
        return args if self.unit_tests else [*args, "--exclude-resource-type", "unit_test"]


def state_file(paths: Paths) -> Path:
    return paths.dbt_dir / "built.json"


def scratch_file(paths: Paths) -> Path:
    """The DuckDB file dbt builds in (profiles_document in transform/project.py)."""
    return paths.dbt_dir / "kcdata.duckdb"


def built_nodes(paths: Paths, fingerprint: str) -> set[str]:
    """unique_ids already built by the project `fingerprint` in the scratch file (empty if unknown)."""
    try:
        state = json.loads(state_file(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if state.get("project") != fingerprint or not scratch_file(paths).exists():
        return set()
    return set(state.get("nodes") or ())


def record_built(paths: Paths, fingerprint: str, succeeded: Iterable[str]) -> None:
    """Add what a run of project `fingerprint` built; a different project starts the list afresh."""
    nodes = built_nodes(paths, fingerprint) | set(succeeded)
    data = json.dumps({"project": fingerprint, "nodes": sorted(nodes)}, indent=1).encode()
    write_bytes_atomic(state_file(paths), data)


def plan(manifest: dict, tables: Iterable[str], built: set[str], curated: Path) -> Plan | None:
    """The nodes a delivery of `tables` needs (see the module docstring); None when not known."""
    from transform.lineage import external_location

    if not built:
        return None
    nodes = manifest.get("nodes", {})
    by_name = {n["name"]: uid for uid, n in nodes.items() if n.get("resource_type") in BUILDABLE}
    child_map, parent_map = manifest.get("child_map", {}), manifest.get("parent_map", {})
    found = [by_name.get(f"stg_{t}") for t in tables]
    start = [uid for uid in found if uid is not None]
    if len(start) < len(found):
        return None  # a resource the last run did not know: the project changed

    def buildable(uid: str) -> bool:
        return nodes.get(uid, {}).get("resource_type") in BUILDABLE

    def present(uid: str) -> bool:
        node = nodes[uid]
        config = node.get("config") or {}
        if config.get("materialized") == "external":  # its view reads the file: that must be there
            return uid in built and external_location(config, node["name"], curated).exists()
        return uid in built

    wanted: set[str] = set()
    todo = list(start)
    while todo:  # the delivered resources and everything downstream
        uid = todo.pop()
        if uid not in wanted:
            wanted.add(uid)
            todo += [c for c in child_map.get(uid, ()) if buildable(c)]
    # the data tests those nodes take along (dbt selects a test when any parent is selected):
    # their other parents are read too, e.g. a `relationships` test of another resource's staging
    tests = {c for uid in wanted for c in child_map.get(uid, ()) if nodes.get(c, {}).get("resource_type") == "test"}
    todo = [p for uid in wanted | tests for p in parent_map.get(uid, ()) if buildable(p)]
    while todo:  # the ancestors those read, where the scratch file lacks them
        uid = todo.pop()
        if uid not in wanted and not present(uid):
            wanted.add(uid)
            todo += [p for p in parent_map.get(uid, ()) if buildable(p)]
    unit_tests = {
        uid for uid, test in manifest.get("unit_tests", {}).items()
        if by_name.get(test.get("model")) in wanted
    }
    sources = manifest.get("sources", {})
    reads = {
        sources[p]["name"] for uid in wanted for p in parent_map.get(uid, ())
        if p in sources and sources[p].get("source_name") == SOURCE_NAME
    }
    return Plan(nodes=sorted(nodes[uid]["name"] for uid in wanted), unit_tests=not unit_tests <= built, reads=sorted(reads))
