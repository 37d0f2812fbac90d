"""Derive a GX ExpectationSuite from a catalog entry, plus hand-written extras.

Each expectation carries `meta.rule` and `meta.column` so that a failing row can be
quarantined with a stable reason. Extras live in expectations/extra/<table>.yaml.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from catalog.model import Resource
from common.errors import KcdataError
from common.problems import problem
from common.settings import get_paths

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.expectations import Expectation

ROW_ID = "_row"
COERCION = "_coercion"  # text summary of the connector's per-cell problems; NULL when clean


def _expectation(kind: str, rule: str, target: str, **kwargs: Any) -> Expectation:
    import great_expectations.expectations as gxe

    from expectations import custom

    cls = getattr(gxe, kind, None) or getattr(custom, kind)
    return cls(**kwargs, meta={"rule": rule, "column": target})


def derived_expectations(resource: Resource) -> list:
    """One expectation per catalog rule: required, unique/key, pattern, range, allowed values."""
    out = [
        _expectation("ExpectColumnValuesToBeNull", "coercion", COERCION, column=COERCION),
    ]
    for item in resource.source_items:
        c = item.code
        if item.required:
            out.append(_expectation("ExpectColumnValuesToNotBeNull", "missing-value", c, column=c))
        if item.unique or resource.key == [c]:
            out.append(_expectation("ExpectColumnValuesToBeUnique", "duplicate-key", c, column=c))
        if item.pattern == "uscc":
            out.append(_expectation("ExpectColumnValuesToBeValidUscc", "uscc-check", c, column=c))
        elif item.pattern == "id_card":
            out.append(_expectation("ExpectColumnValuesToBeValidIdCard", "id-card-check", c, column=c))
        elif item.pattern:
            out.append(_expectation("ExpectColumnValuesToMatchRegex", "pattern", c, column=c, regex=item.pattern))
        if item.range:
            lo, hi = item.range
            out.append(
                _expectation("ExpectColumnValuesToBeBetween", "out-of-range", c, column=c, min_value=lo, max_value=hi)
            )
        if item.allowed:
            out.append(_expectation("ExpectColumnValuesToBeInSet", "not-allowed", c, column=c, value_set=item.allowed))
    if len(resource.key) > 1:
        out.append(
            _expectation(
                "ExpectCompoundColumnsToBeUnique", "duplicate-key", resource.key[0], column_list=resource.key
            )
        )
    return out


def extra_expectations(resource: Resource, folder: Path | None = None) -> list:
    """Hand-written expectations from expectations/extra/<table>.yaml (GX type + kwargs)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    path = (folder or get_paths().expectations_dir / "extra") / f"{resource.table}.yaml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = []
    for n, entry in enumerate(entries, 1):
        try:
            kwargs = dict(entry["kwargs"])
            column = kwargs.get("column") or (kwargs.get("column_list") or [""])[0]
            rule = problem(entry.get("rule", "custom")).code  # only registered problem codes
            meta = {"rule": rule, "column": column, "note": entry.get("note", "")}
            out.append(ExpectationConfiguration(type=entry["type"], kwargs=kwargs, meta=meta).to_domain_obj())
        except Exception as exc:  # a bad hand-written entry must name itself
            raise KcdataError(f"{path}: expectation #{n} is invalid: {exc}") from exc
    return out


def suite_name(resource: Resource, rules: str) -> str:
    """`<code>.<rules>`: one suite per set of rules, like the batches validated under it, so a
    suite once stored never changes under a run that reads it (a changed entry makes a new one)."""
    return f"{resource.code}.{rules}"


def build_suite(resource: Resource, rules: str | None = None) -> ExpectationSuite:
    """The full suite for `resource` under `rules` (default: the entry's current rules)."""
    import great_expectations as gx

    return gx.ExpectationSuite(
        name=suite_name(resource, rules or rules_signature(resource)),
        expectations=derived_expectations(resource) + extra_expectations(resource),
        meta={"resource": resource.code, "table": resource.table, "derived_from": "catalog entry"},
    )


# Bump when the validation logic itself changes in a way that should re-validate stored batches.
VALIDATION_LOGIC = "3"  # 3: not-uscc / not-id-card, shifted-columns, ragged cells kept


def rules_signature(resource: Resource, folder: Path | None = None) -> str:
    """8 hex digits naming the rules a batch is validated under: the sent items' types and
    checks, the key, the missing-value tokens, whether cells are trimmed, the held-back limit,
    the hand-written extras and each item's open-view treatment. A batch validated under other
    rules is validated again, as a new version (so its open view, named by the same signature, is
    built anew)."""
    import hashlib
    import json

    path = (folder or get_paths().expectations_dir / "extra") / f"{resource.table}.yaml"
    checks = [
        i.model_dump(mode="json", include={"code", "type", "required", "unique", "pattern", "range", "allowed"})
        | {"missing": resource.missing_tokens(i), "trim": resource.trims(i)}
        for i in resource.source_items
    ]
    document = {
        "logic": VALIDATION_LOGIC,
        "items": checks,
        "key": list(resource.key),
        "max_bad_share": resource.max_bad_share,
        "extra": path.read_text(encoding="utf-8") if path.exists() else "",
        # what the open view does with each item: a changed treatment is a new version, never a stale view
        "treatments": resource.treatments,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:8]
