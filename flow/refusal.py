"""A delivery refused as a whole: landing raises the Refusal, the flow records it once in the catalog
and writes the department's feedback for it; whoever called the flow shows what was recorded.

One way: connectors (raise) -> flow (feedback file, catalog record) -> caller (prints or e-mails it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from catalog.model import Resource
from catalog.store import CatalogStore
from common.lake import FEEDBACK_FILE
from common.problems import Refusal
from common.settings import Paths


@dataclass
class Refused:
    """A delivery refused as a whole, as the department and the bureau see it."""

    resource: str
    source_file: str
    code: str
    message: str
    feedback_path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecordedRefusal(Refusal):
    """The same Refusal, raised again once the flow has recorded it: `refused` is the record, so the
    caller shows it without recording the file a second time."""

    def __init__(self, refusal: Refusal, refused: Refused) -> None:
        super().__init__(refusal.source, refusal.code, refusal.row, refusal.column, **refusal.params)
        self.refused = refused


def refuse(resource: Resource, refusal: Refusal, paths: Paths, store: CatalogStore, run: dict[str, Any] | None = None) -> Refused:
    """Record a refused delivery in the catalog and write the department's feedback for it."""
    from common.checksums import sha256_file

    source = Path(refusal.source)
    readable = source.is_file() and not source.is_symlink()
    fingerprint = sha256_file(source) if readable else ""
    folder = paths.refused_dir(resource.table, fingerprint)
    feedback = refusal_feedback(resource, refusal, folder)
    store.record_refusal(
        resource,
        {
            "source_file": str(source), "fingerprint": fingerprint, "code": refusal.code, "level": refusal.problem.level.value,
            "row": refusal.row, "column": refusal.column, "params": {k: _jsonable(v) for k, v in refusal.params.items()},
            "message_zh": refusal.problem.render("zh", **refusal.params), "message_en": refusal.problem.render("en", **refusal.params),
            "feedback_path": str(feedback), "produced_by": run,
        },
    )
    return Refused(resource.code, str(source), refusal.code, str(refusal), str(feedback))


def _jsonable(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


def refusal_feedback(resource: Resource, refusal: Refusal, folder: Path) -> Path:
    """feedback.csv for a delivery refused as a whole: one line saying why, in the same columns
    as validation's feedback (written once per refused file content)."""
    import csv

    from common.atomic import staged_dir
    from expectations.report import COLUMNS, message

    path = folder / FEEDBACK_FILE
    if path.exists():
        return path
    item = next((i for i in resource.items if i.code == refusal.column), None)
    zh, en = message(refusal.code, item, **refusal.params)
    with staged_dir(folder) as tmp, (tmp / FEEDBACK_FILE).open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(COLUMNS)
        writer.writerow([refusal.row or "", item.name if item else "", refusal.column or "", "", refusal.code, zh, en])
    return path
