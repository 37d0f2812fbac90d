"""The publication gate: rules from the catalog, not code per dataset.

A resource reaches the public portal only when (1) its open type allows it, (2) its latest
version passed validation, and (3) a department reviewer's newest decision is an
approval, not a rejection or a withdrawal (a demo approval, sample_only, counts only for the
sample-data version it was recorded on; any approval counts only while the entry keeps the
publication terms it was given under: open type, each item's type, sensitivity and treatment).
Whatever the reviewer says, core data (核心数据) and a resource with an item whose sensitivity
nobody declared never pass.
有条件开放 resources are published as metadata and data dictionary only: their data is given
on application, so no data file or DataStore table is public.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from catalog.model import OpenType, Resource


class Mode(str, Enum):
    none = "none"  # must not be on the portal (retract if it is)
    metadata = "metadata"  # metadata + data dictionary
    data = "data"  # metadata + CSV + Parquet + dictionary + DataStore


@dataclass(frozen=True)
class Decision:
    mode: Mode
    reasons: list[str] = field(default_factory=list)  # why not (empty when published)


# Why an unapproved resource stays off the portal, by the newest decision (None: nobody decided;
# a submission alone is not a decision). A rejection keeps it off exactly as a withdrawal does.
NOT_APPROVED = {
    None: "not approved by a department reviewer",
    "withdraw": "approval withdrawn",
    "reject": "rejected by a department reviewer",
}


def decide(
    resource: Resource, latest_passed: bool | None, approval_action: str | None, approval_covers_latest: bool = True,
    uncovered_reason: str | None = None,
) -> Decision:
    """Apply the three rules; every failing rule is named.

    `approval_covers_latest` is False when the newest approval does not approve the latest
    version: a demo approval of sample data (sample_only) recorded on an earlier version, or an
    approval of other publication terms (`uncovered_reason` then says what changed)."""
    reasons = list(resource.publication_problems())  # core data; items without a declared sensitivity
    if resource.open.type is OpenType.none:
        reasons.append(f"open type is {resource.open.type.value}")
    if latest_passed is None:
        reasons.append("no validated version yet")
    elif not latest_passed:
        reasons.append("latest version failed validation")
    if approval_action != "approve":
        reasons.append(NOT_APPROVED.get(approval_action, "not approved by a department reviewer"))
    elif not approval_covers_latest:
        reasons.append(uncovered_reason or "demo approval covers sample data only, not this version")
    if reasons:
        return Decision(Mode.none, reasons)
    return Decision(Mode.data if resource.open.type is OpenType.unconditional else Mode.metadata)
