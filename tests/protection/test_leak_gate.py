"""The leak gate: each rule finds what it should, names file, column, rule and count but never
the value, and leaves legitimate public data (USCCs, masked values, pseudonyms, institution
names containing a person's name, timestamps, decimals) alone. A resource whose personal item
is mislabelled public is blocked before anything is sent to the portal."""
from __future__ import annotations

import hashlib
import random
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.entries import get_resource
from catalog.model import Sensitivity
from catalog.store import open_store
from common.codes import USCC_CHARSET, id_card_check_char, uscc_check_char
from common.lake import Zone
from portal.leak_gate import Hit, scan_files

ENTERPRISES = "KC-SCJG-001"
NAMES = ["张伟", "王芳", "李娜", "刘洋", "欧阳娜娜"]


def _ids(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        first = f"440112{rng.randint(1960, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        out.append(first + id_card_check_char(first))
    return out


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _cards(n: int, rng: random.Random) -> list[str]:
    out = []
    while len(out) < n:
        body = "62" + "".join(rng.choice("0123456789") for _ in range(14))
        for last in "0123456789":
            if _luhn_ok(body + last):
                out.append(body + last)
                break
    return out


def _usccs(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        first = "91440112" + "".join(rng.choice(USCC_CHARSET) for _ in range(9))
        out.append(first + uscc_check_char(first))
    for _ in range(n):  # all-digit codes too (an organisation code may be digits only)
        first = "91440112" + "".join(rng.choice("0123456789") for _ in range(9))
        out.append(first + uscc_check_char(first))
    return out


def _write(path: Path, columns: dict[str, list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def _csv(parquet: Path, target: Path) -> Path:
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{target}' (FORMAT csv, HEADER true)")
    return target


def _curated(tmp_path: Path, n: int = 50) -> Path:
    """Current rows of the enterprises, with the personal items' real values."""
    rng = random.Random(1)
    return _write(tmp_path / "curated.parquet", {
        "uscc": _usccs(n // 2, rng),
        "enterprise_name": [f"广州某{i}科技有限公司" for i in range(n)],
        "legal_representative": [NAMES[i % len(NAMES)] for i in range(n)],
        "contact_phone": [f"139{rng.randint(0, 10**8 - 1):08d}" for _ in range(n)],
    })


def test_each_rule_names_file_column_rule_and_count_never_the_value(tmp_path):
    rng = random.Random(7)
    phones = [f"13{rng.randint(3, 9)}{rng.randint(0, 10**8 - 1):08d}" for _ in range(10)]
    ids, cards = _ids(10, rng), _cards(10, rng)
    mails = [f"user{i}@example.cn" for i in range(10)]
    view = _write(tmp_path / "view.parquet", {
        "phone": phones[:7] + ["—"] * 3,
        "note": [f"请致电{p}咨询" for p in phones[:4]] + ["无"] * 6,  # inside text: still a whole token
        "id_no": ids,
        "card": cards[:5] + [None] * 5,
        "mail": mails[:3] + [""] * 7,
        "holder": NAMES[:2] + ["某某诊所"] * 8,
        "clean": [f"条目{i}" for i in range(10)],
    })
    curated = _curated(tmp_path)
    csv = _csv(view, tmp_path / "data.csv")
    hits = scan_files(get_resource(ENTERPRISES), curated, [("open view", view, "Parquet"), ("data.csv", csv, "CSV")])
    expected = {
        ("phone", "mobile", 7), ("note", "mobile", 4), ("id_no", "id_card", 10), ("card", "bank_card", 5),
        ("mail", "email", 3), ("holder", "personal_value", 2),
    }
    for where in ("open view", "data.csv"):
        assert {(h.column, h.rule, h.count) for h in hits if h.file == where} == expected
    report = "\n".join(h.text(ENTERPRISES) for h in hits)
    assert "KC-SCJG-001: leak gate: open view column phone: mobile in 7 cell(s)" in report
    for value in [*phones, *ids, *cards, *mails, *NAMES]:
        assert value not in report


def test_legitimate_public_values_are_no_hit(tmp_path):
    rng = random.Random(3)
    n = 400
    usccs = _usccs(n // 2, rng)
    phones = [f"13{rng.randint(3, 9)}{rng.randint(0, 10**8 - 1):08d}" for _ in range(n)]
    ids = _ids(n, rng)
    wrong_check = [i[:17] + ("0" if i[17] != "0" else "1") for i in ids]  # not an ID number
    view = _write(tmp_path / "view.parquet", {
        "uscc": usccs,
        "masked_phone": [f"{p[:3]}****{p[-4:]}" for p in phones],
        "masked_name": [f"{NAMES[i % len(NAMES)][0]}*" for i in range(n)],
        "masked_id": [f"{i[:10]}********" for i in ids],
        "masked_mail": ["u***@example.cn"] * n,
        "pseudonym": [hashlib.sha256(p.encode()).hexdigest() for p in phones],
        "institution": [f"{NAMES[i % len(NAMES)]}诊所" for i in range(n)],
        "not_mobile": [f"1{rng.choice('012')}{rng.randint(0, 10**9 - 1):09d}" for _ in range(n)],  # 10x/11x/12x
        "long_number": [f"{p}{rng.randint(0, 9)}" for p in phones],  # 12 digits: no mobile inside a longer run
        "decimal": [float(f"{p}.5") for p in phones],
        "ms_time": [1_767_225_600_000 + rng.randint(0, 10**9) for _ in range(n)],
        "when": [f"2026-03-{rng.randint(1, 28):02d} 12:{rng.randint(0, 59):02d}:00" for _ in range(n)],
        "wrong_check": wrong_check,
        "one_char": ["张"] * n,
    })
    curated = _write(tmp_path / "curated.parquet", {
        "legal_representative": [NAMES[i % len(NAMES)] for i in range(n)] + ["张"],
        "contact_phone": phones + [None],
    })
    csv = _csv(view, tmp_path / "data.csv")
    hits = scan_files(get_resource(ENTERPRISES), curated, [("open view", view, "Parquet"), ("data.csv", csv, "CSV")])
    assert hits == []


def test_a_manifest_and_a_dictionary_are_scanned_as_text(tmp_path):
    (tmp_path / "manifest.json").write_text('{"note":"call 13912345678","sha256":"' + "a" * 64 + '"}', encoding="utf-8")
    (tmp_path / "dictionary.csv").write_text(
        "信息项名称 item,规则 rule\n联系电话,^1[3-9]\\d{9}$\n法定代表人,掩码 mask (138****1234)\n", encoding="utf-8-sig"
    )
    hits = scan_files(get_resource(ENTERPRISES), None, [
        ("manifest.json", tmp_path / "manifest.json", "JSON"), ("data-dictionary.csv", tmp_path / "dictionary.csv", "CSV"),
    ])
    assert hits == [Hit("manifest.json", "text", "mobile", 1)]


def _mislabelled(resource, code: str):
    """The entry with one personal item declared public by mistake (kept as it is)."""
    items = [i.model_copy(update={"sensitivity": Sensitivity.public, "treatment": None}) if i.code == code else i
             for i in resource.items]
    return resource.model_copy(update={"items": items})


class _RecordingPortal:
    """Stands in for CKAN: nothing is published yet; every call is recorded."""

    def __init__(self) -> None:
        self.target = SimpleNamespace(url="http://portal.example", token="t")
        self.calls: list[str] = []

    def show(self, action: str, **data):
        self.calls.append(action)
        return None

    def call(self, action: str, **data):
        self.calls.append(action)
        raise AssertionError(f"the leak gate let {action} through")


@pytest.mark.parametrize("declared_public", ["contact_phone", None])
def test_a_personal_item_declared_public_blocks_the_resource(tmp_path, lake, monkeypatch, declared_public):
    from portal import publisher
    from portal.gate import Decision, Mode

    resource = get_resource(ENTERPRISES)
    if declared_public:
        resource = _mislabelled(resource, declared_public)
    latest = SimpleNamespace(version=1, fingerprint="ab" * 32, rules="1234abcd", validation_passed=True, rows_in=50,
                             rows_accepted=50, rows_quarantined=0, validated_at=datetime(2026, 3, 1))
    monkeypatch.setattr(publisher, "gate_decision", lambda store, r: (Decision(Mode.data), latest))
    curated = lake.current_file(resource.table)
    curated.parent.mkdir(parents=True, exist_ok=True)
    _curated(tmp_path).rename(curated)
    con = duckdb.connect()
    public = [i.code for i in resource.items if i.sensitivity is Sensitivity.public]
    present = [c for c in public if c in pq.read_schema(curated).names]
    view = lake.batch_file(Zone.open, resource.table, latest.fingerprint, latest.rules)
    view.parent.mkdir(parents=True)
    con.execute(f"COPY (SELECT {', '.join(present)}, left(legal_representative, 1) || '*' AS legal_representative "
                f"FROM read_parquet('{curated}')) TO '{view}' (FORMAT parquet)")
    portal = _RecordingPortal()
    if declared_public is None:  # the entry as it is: masked names, no phone: nothing to block
        monkeypatch.setattr(publisher, "record_manifest", lambda *a: None)
        with pytest.raises(AssertionError, match="let organization_create through|let package_create through"):
            publisher.publish_resource(resource, portal, lake, store=open_store(lake.catalog_url))
        return
    result = publisher.publish_resource(resource, portal, lake, store=open_store(lake.catalog_url))
    assert result.action == "blocked"
    assert portal.calls == ["package_show"]  # looked, wrote nothing
    assert any("column contact_phone: mobile in 50 cell(s)" in r for r in result.reasons), result.reasons
    assert any("data.csv column 联系电话 (contact_phone): mobile" in r for r in result.reasons), result.reasons
    assert not (lake.lake / "manifests").exists()  # nothing recorded as about to be published
