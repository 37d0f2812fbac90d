"""Demo approvals: stand in for department reviewers on the sample data, visibly and on record.

`kcdata run` approves only versions made from the generated sample files: a version counts as
sample data when its fingerprint (the SHA-256 of its source file) is the hash the sample
manifest recorded for that table. Such approvals are stored as sample_only, and the gate lets
them cover that version alone, so a department's real file stays unpublished until a person
approves it. A real reviewer's decision is never overridden.
"""
from __future__ import annotations

from catalog.entries import load_catalog
from catalog.model import OpenType
from catalog.store import open_store
from common.settings import Paths, get_paths
from samples.generate import sample_fingerprints

DEMO_REVIEWER = "示例审核员 demo reviewer"
DEMO_NOTE = "kcdata run: sample data"


def approve_for_demo(paths: Paths | None = None) -> list[str]:
    """Approve (sample_only) each open resource whose latest version was made from the sample files.

    Returns one line per resource that has a version and no real reviewer's decision: approved,
    or why not. Resources without a version, or decided on by a person, are left alone."""
    paths = paths or get_paths()
    store = open_store(paths.catalog_url)
    lines = []
    for resource in load_catalog(paths.catalog_dir):
        if resource.open.type is OpenType.none:
            continue
        current = store.current_approval(resource.code)
        if current is not None and not current.sample_only:
            continue  # a person decided: never override
        latest = store.latest_version(resource.code)
        if latest is None:
            continue
        if latest.fingerprint not in sample_fingerprints(paths.inbox, resource.table):
            lines.append(
                f"{resource.code}: not approved: version {latest.version} was not made from the generated sample files; "
                f"a department reviewer decides (kcdata catalog approve {resource.code} --by NAME)"
            )
            continue
        if current is not None and current.action == "approve" and current.version == latest.version:
            lines.append(f"{resource.code}: version {latest.version} (sample data) already approved for the demo by {current.by}")
            continue
        store.record_approval(resource, "approve", DEMO_REVIEWER, note=DEMO_NOTE, sample_only=True)
        lines.append(f"{resource.code}: version {latest.version} (sample data) approved for the demo by {DEMO_REVIEWER}")
    return lines
