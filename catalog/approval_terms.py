"""What a publication approval covers: the terms the reviewer saw, not one version.

An approval stands for later deliveries as long as what the public would get is published under
the same terms: the open type, and each item's type, sensitivity and treatment. New rows, new
values and a new delivery file do not need a new review (the leak gate checks every version's
content); a new item, a dropped item, a changed type, sensitivity or treatment, or a changed
open type does. The terms are recorded with each approval (approvals.terms) and compared with
the entry as it is now.
"""
from __future__ import annotations

from typing import Any

from catalog.model import Resource


def published_terms(resource: Resource) -> dict[str, Any]:
    """The entry's publication terms, as JSON: {"open": type, "items": {code: "type|sensitivity|treatment"}}."""
    items: dict[str, str] = {}
    for item in resource.items:
        treatment = item.effective_treatment
        sensitivity = item.sensitivity.value if item.sensitivity is not None else "undeclared"
        items[item.code] = f"{item.type.value}|{sensitivity}|{treatment.spec if treatment else 'undeclared'}"
    return {"open": resource.open.type.value, "items": items}


_PARTS = ("type", "sensitivity", "treatment")


def changed_terms(approved: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """What changed since the approval, in words ([] when nothing did, or when the approval
    predates recorded terms and so covers the resource as approvals always did)."""
    if not approved:
        return []
    changes = []
    if approved.get("open") != now["open"]:
        changes.append(f"open type {approved.get('open')} → {now['open']}")
    before, after = approved.get("items", {}), now["items"]
    changes += [f"new item {code}" for code in after if code not in before]
    changes += [f"item {code} removed" for code in before if code not in after]
    for code in after:
        if code not in before or before[code] == after[code]:
            continue
        for part, old, new in zip(_PARTS, before[code].split("|"), after[code].split("|"), strict=True):
            if old != new:
                changes.append(f"{part} of {code} {old} → {new}")
    return changes
