"""Feedback a department can act on, read as the department reads it (feedback.csv): a value from
another column is called that, not a typo; a shifted row says its columns look shifted; a trailing
full-width space is trimmed and reported, not a quarantine; no message names a server path or
runs on without end.

Each test lands and validates a small enterprise-registrations file (GB 32100 codes, personal
items) in a fresh lake, without Airflow.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb

from catalog.entries import get_resource
from common.problems import MESSAGE_CHARS, Refusal
from flow.pipeline import land_and_validate
from flow.refusal import refusal_feedback
from samples.generate import generate_resource

ENTERPRISES = get_resource("KC-SCJG-001")


def _sample_rows(root: Path, rows: int = 6) -> list[list[str]]:
    """A clean delivery's header and rows, as lists of cells."""
    sample = generate_resource(ENTERPRISES, root / "clean", rows=rows, bad_share=0.0, seed=3)
    raw = sample.path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    return list(csv.reader(io.StringIO(text, newline="")))


def _deliver(root: Path, rows: list[list[str]], name: str = "企业登记 2026-11.csv", resource=ENTERPRISES):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = root / name
    path.write_bytes(out.getvalue().encode("utf-8"))
    return land_and_validate(resource, path)


def _feedback(outcome) -> list[dict]:
    with Path(outcome.feedback_path).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _lines(feedback: list[dict], row: int) -> dict[str, dict]:
    return {line["问题代码"]: line for line in feedback if line["行号"] == str(row)}


def test_an_address_where_the_uscc_should_be_is_not_a_uscc_and_the_row_looks_shifted(lake, tmp_path):
    rows = _sample_rows(tmp_path)
    rows[1] = ["广州市黄埔区开发大道123号", *rows[1][:-1]]  # every value one column to the right
    rows[2][0] = "待补充"  # not a code, but the rest of the row is fine
    code = rows[3][0]
    rows[3][0] = code[:17] + ("0" if code[17] != "0" else "1")  # a code with a wrong check character
    outcome = _deliver(tmp_path, rows).outcome
    feedback = _feedback(outcome)

    shifted = _lines(feedback, 1)
    uscc = shifted["not-uscc"]
    assert uscc["信息项"] == "统一社会信用代码" and uscc["提交的值"] == "广州市黄埔区开发大道123号"
    assert uscc["问题说明"].startswith("不是统一社会信用代码（收到的是像地址的值")
    assert uscc["description"].startswith("not a unified social credit code at all (got an address-like value")
    row = shifted["shifted-columns"]
    assert "the row's columns look shifted" in row["description"] and "疑似列错位" in row["问题说明"]
    assert "统一社会信用代码" in row["description"] and "成立日期" in row["description"], "names the items that failed"
    assert not row["提交的值"], "a line about the row, no cell value"

    alone = _lines(feedback, 2)
    assert set(alone) == {"not-uscc"}, "one value that is no code: not called a shift"
    assert "(got Chinese text;" in alone["not-uscc"]["description"]

    typo = _lines(feedback, 3)
    assert set(typo) == {"uscc-check"}
    assert typo["uscc-check"]["description"] == "unified social credit code fails its check character"
    assert outcome.by_rule["shifted-columns"] == 1 and outcome.by_rule["not-uscc"] == 2 and outcome.by_rule["uscc-check"] == 1


def test_a_trailing_full_width_space_is_trimmed_and_reported_not_quarantined(lake, tmp_path):
    rows = _sample_rows(tmp_path)
    street = rows[0].index("所在街道")
    rows[2][street] += "\u3000"  # the optional street, as a Chinese input method leaves it
    rows[4][1] = "\u00a0" + rows[4][1]  # a no-break space before the enterprise name
    result = _deliver(tmp_path, rows)
    outcome = result.outcome
    assert (outcome.quarantined, outcome.accepted) == (0, 6)
    assert {d["code"]: d["count"] for d in outcome.delivery_problems if d["column"] == "street"} == {"trimmed-whitespace": 1}
    warnings = [line for line in _feedback(outcome) if line["问题代码"] == "trimmed-whitespace"]
    assert {(w["信息项"], w["行号"]) for w in warnings} == {("所在街道", ""), ("企业名称", "")}, "per column, no row"
    assert all(w["description"].startswith("1 cell(s) had leading or trailing whitespace") for w in warnings)
    stored = duckdb.sql(f"SELECT street FROM read_parquet('{outcome.validated_path}') WHERE _row = 2").fetchall()[0][0]
    assert stored == rows[2][street].rstrip("\u3000"), "the trimmed value is what is validated and kept"

    strict = ENTERPRISES.model_copy(update={"trim": False})
    again = land_and_validate(strict, Path(result.landed.source_file)).outcome
    assert again.quarantined == 2 and again.by_rule == {"whitespace": 2}, "trim: false keeps it an error"


def test_no_feedback_names_a_server_path_and_messages_are_capped(lake, tmp_path):
    inbox_file = tmp_path / "inbox" / "enterprise_registrations" / "企业登记_11月.csv"
    detail = f"cannot read {inbox_file}: not what its name says"
    refusal = Refusal(str(inbox_file), "wrong-format", format="CSV", detail=detail)
    text = refusal_feedback(ENTERPRISES, refusal, tmp_path / "refused").read_text(encoding="utf-8-sig")
    assert str(tmp_path) not in text and "/inbox/" not in text
    assert "cannot read 企业登记_11月.csv: not what its name says" in text

    headers = [f"第{n}列很长的表头名称" for n in range(400)]
    long = Refusal(str(inbox_file), "missing-required-column", columns=["统一社会信用代码"], headers=headers)
    zh, en = long.problem.render("zh", **long.params), long.problem.render("en", **long.params)
    assert len(zh) <= MESSAGE_CHARS and len(en) <= MESSAGE_CHARS and zh.endswith("…")
