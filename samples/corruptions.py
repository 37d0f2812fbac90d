"""Bad rows with a known ground truth: which row breaks which rule, and how.

A plan is drawn once for the whole file (rows, kind, column, variant), then applied chunk by
chunk to the clean text columns. Each bad row gets exactly one kind; a duplicate_key row also
flags the clean row it copied its key from, because the whole group is rejected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.model import Item, ItemType, Resource
from common.codes import USCC_CHARSET

KINDS = (
    "missing_required",
    "bad_uscc_check",
    "out_of_range",
    "mixed_date",
    "duplicate_key",
    "full_width_digits",
    "stray_whitespace",
)

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_WHITESPACE = [(" ", ""), ("", " "), ("\t", ""), ("", "\u3000"), ("\u3000", ""), (" ", " "), ("", "\t"), ("\u3000", "  ")]
_DATE_FORMATS = ["{y}/{m}/{d}", "{y}年{m}月{d}日", "{y}{m:02d}{d:02d}", "{y}.{m:02d}.{d:02d}"]
_DATETIME_FORMATS = [
    "{y}/{m:02d}/{d:02d} {H:02d}:{M:02d}{S}",
    "{y}年{m}月{d}日 {H:02d}:{M:02d}:{s:02d}",
    "{y}{m:02d}{d:02d}{H:02d}{M:02d}{s:02d}",
    "{y}/{m}/{d} {H}:{M:02d}:{s:02d}",
]


def candidates(resource: Resource) -> dict[str, list[str]]:
    """Item codes each kind can corrupt in this resource (an empty list: kind not applicable)."""
    key = set(resource.key)
    items = resource.source_items
    return {
        "missing_required": [i.code for i in items if i.required and i.code not in key],
        "bad_uscc_check": [i.code for i in items if i.pattern == "uscc"],
        "out_of_range": [
            i.code for i in items if i.range and any(b is not None for b in i.range) and i.code not in key
        ],
        "mixed_date": [i.code for i in items if i.type in (ItemType.D, ItemType.T)],
        "duplicate_key": resource.key[:1],
        "full_width_digits": [i.code for i in items if i.type in (ItemType.N, ItemType.I) and i.code not in key],
        "stray_whitespace": [
            i.code
            for i in items
            if i.code not in key
            and ((i.type is ItemType.C and (i.pattern or i.allowed)) or i.type is ItemType.N)
        ],
    }


@dataclass
class Plan:
    """Every corruption of one file, sorted by row (0-based)."""

    rows: np.ndarray
    kinds: list[str]
    columns: list[str]
    variants: np.ndarray
    sources: dict[int, int]  # duplicate row -> earlier clean row whose key it copies
    key_item: str | None

    @property
    def source_rows(self) -> np.ndarray:
        return np.array(sorted(self.sources.values()), dtype=np.int64)

    def manifest(self) -> pa.Table:
        """row (1-based, header excluded), kind, column; sorted by row."""
        entries = [(int(r) + 1, k, c) for r, k, c in zip(self.rows, self.kinds, self.columns, strict=True)]
        entries += [(j + 1, "duplicate_key", self.key_item or "") for j in self.sources.values()]
        entries.sort()
        return pa.table(
            {
                "row": pa.array([e[0] for e in entries], pa.int64()),
                "kind": pa.array([e[1] for e in entries], pa.string()),
                "column": pa.array([e[2] for e in entries], pa.string()),
            }
        )


def plan_corruptions(resource: Resource, rows: int, bad_share: float, rng: np.random.Generator) -> Plan:
    """Pick round(rows * bad_share) rows and give each one applicable kind, in equal shares."""
    cands = candidates(resource)
    kinds = [k for k in KINDS if cands[k]]
    count = min(rows, round(rows * bad_share)) if kinds else 0
    bad = np.sort(rng.choice(rows, size=count, replace=False)).astype(np.int64) if count else np.zeros(0, np.int64)
    # equal shares; the inner shuffle spreads kinds when there are fewer bad rows than kinds
    kind_of = rng.permutation(np.resize(rng.permutation(len(kinds)), count)) if count else np.zeros(0, np.int64)
    variants = rng.integers(0, 2**30, size=count)
    sources = _pick_sources(bad, kind_of, kinds, rng)
    keep = kind_of >= 0
    bad, kind_of, variants = bad[keep], kind_of[keep], variants[keep]
    used = {k: 0 for k in kinds}
    names, columns = [], []
    for k in kind_of.tolist():  # round-robin over the kind's columns, in row order
        names.append(kinds[k])
        columns.append(cands[kinds[k]][used[kinds[k]] % len(cands[kinds[k]])])
        used[kinds[k]] += 1
    return Plan(bad, names, columns, variants, sources, resource.key[0] if resource.key else None)


def _pick_sources(bad: np.ndarray, kind_of: np.ndarray, kinds: list[str], rng: np.random.Generator) -> dict[int, int]:
    """An earlier, clean, unused row for each duplicate_key row; swaps kinds when none exists.

    kind_of is edited in place; -1 drops a row that can only be a duplicate and has no source.
    """
    if "duplicate_key" not in kinds:
        return {}
    dup = kinds.index("duplicate_key")
    taken = set(bad.tolist())
    sources: dict[int, int] = {}
    for pos, i in enumerate(bad.tolist()):
        if kind_of[pos] != dup:
            continue
        j = _free_row_before(i, taken, rng)
        if j is not None:
            sources[i] = j
            taken.add(j)
            continue
        later = [q for q in range(len(bad) - 1, pos, -1) if kind_of[q] != dup]
        if later:
            kind_of[pos], kind_of[later[0]] = kind_of[later[0]], dup
        else:
            others = [k for k in range(len(kinds)) if k != dup]
            kind_of[pos] = others[pos % len(others)] if others else -1
    return sources


def _free_row_before(i: int, taken: set[int], rng: np.random.Generator) -> int | None:
    if i == 0:
        return None
    for j in rng.integers(0, i, size=32).tolist():
        if j not in taken:
            return j
    return next((j for j in range(i - 1, -1, -1) if j not in taken), None)


def corrupt_value(kind: str, item: Item, value: str | None, variant: int) -> str | None:
    """The bad text for one cell; it breaks only the intended rule where possible."""
    if kind == "missing_required":
        return None
    assert value is not None, f"cannot apply {kind} to a missing {item.code}"
    if kind == "bad_uscc_check":
        others = [c for c in USCC_CHARSET if c != value[17]]
        return value[:17] + others[variant % len(others)]
    if kind == "out_of_range":
        return _out_of_range(item, variant)
    if kind == "mixed_date":
        return _reformat_date(item, value, variant)
    if kind == "full_width_digits":
        return value.translate(_FULL_WIDTH)
    if kind == "stray_whitespace":
        before, after = _WHITESPACE[variant % len(_WHITESPACE)]
        return before + value + after
    raise ValueError(f"unknown corruption kind {kind!r}")


def _out_of_range(item: Item, variant: int) -> str:
    lo, hi = item.range or (None, None)
    extra = 1 + variant % 7
    above, bound = (True, hi) if hi is not None else (False, lo)  # past the upper bound, else below the lower
    assert bound is not None, "an out-of-range value needs a declared range"
    if item.type is ItemType.I:
        number: float = math.floor(bound) * 10 + extra if above else math.ceil(bound) - abs(math.ceil(bound)) * 10 - extra
        return str(int(number))
    number = bound * 10 + extra if above else bound - abs(bound) * 10 - extra
    return f"{number:.{int(item.sample.get('decimals', 1))}f}"


def _reformat_date(item: Item, value: str, variant: int) -> str:
    if item.type is ItemType.D:
        d = date.fromisoformat(value)
        return _DATE_FORMATS[variant % len(_DATE_FORMATS)].format(y=d.year, m=d.month, d=d.day)
    t = datetime.fromisoformat(value)
    return _DATETIME_FORMATS[variant % len(_DATETIME_FORMATS)].format(
        y=t.year, m=t.month, d=t.day, H=t.hour, M=t.minute, s=t.second, S=f":{t.second:02d}" if t.second else ""
    )


def apply_plan(
    plan: Plan, resource: Resource, start: int, columns: dict[str, pa.Array], sources: dict[int, tuple]
) -> dict[str, pa.Array]:
    """Corrupt the chunk that starts at row `start`; `sources` carries duplicate keys across chunks."""
    n = len(next(iter(columns.values())))
    src = plan.source_rows
    for j in src[np.searchsorted(src, start) : np.searchsorted(src, start + n)].tolist():
        sources[j] = tuple(columns[k][j - start].as_py() for k in resource.key)
    edits: dict[str, dict[int, str | None]] = {}
    lo, hi = np.searchsorted(plan.rows, [start, start + n])
    for p in range(lo, hi):
        i, kind, code = int(plan.rows[p]), plan.kinds[p], plan.columns[p]
        if kind == "duplicate_key":
            for k, v in zip(resource.key, sources.pop(plan.sources[i]), strict=True):
                edits.setdefault(k, {})[i - start] = v
        else:
            old = columns[code][i - start].as_py()
            edits.setdefault(code, {})[i - start] = corrupt_value(kind, resource.item(code), old, int(plan.variants[p]))
    out = dict(columns)
    for code, cells in edits.items():
        positions = sorted(cells)
        mask = np.zeros(n, dtype=bool)
        mask[positions] = True
        out[code] = pc.replace_with_mask(columns[code], pa.array(mask), pa.array([cells[q] for q in positions], pa.string()))
    return out
