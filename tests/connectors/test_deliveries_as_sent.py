"""Deliveries the way real departments send them: JSON records wrapped in an object, `;`- and
tab-separated "CSV", old Excel 97-2003 workbooks, random bytes, thousands of stray columns.

Each test says what the department sees: the rows landed, or the refusal's message."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from catalog.entries import get_resource
from catalog.model import Resource, Source
from catalog.store import open_store
from common.codes import uscc_check_char
from common.lake_crypto import duckdb_source
from common.problems import Refusal, problem, unknown_column_problems
from connectors.file_drop import land_file
from connectors.inbox import submit_delivery
from flow.pipeline import land_and_validate, land_inbox
from kcdata.cli import app

ENTERPRISES = get_resource("KC-SCJG-001")  # CSV
INSPECTIONS = get_resource("KC-YJGL-001")  # XLSX, sheet 检查记录
CLINICS = get_resource("KC-WSJK-001")  # JSON
XLS = Path(__file__).parent / "fixtures" / "inspections.xls"  # Excel 97-2003, made by fixtures/make_xls.py
HEADERS = ["统一社会信用代码", "企业名称", "企业类型", "行业门类", "注册资本（万元）", "成立日期", "所在街道", "法定代表人", "联系电话"]
MESSAGE_LIMIT = 400  # characters of a refusal's message in one language


def _with_source(resource: Resource, **settings) -> Resource:
    """The resource with other `source` settings, validated like a catalog entry's."""
    return resource.model_copy(update={"source": Source(**{"kind": "file_drop", "format": resource.source.format, **settings})})


def _uscc(n: int) -> str:
    body = f"91440112MA5D{n:05d}"
    return body + uscc_check_char(body)


def _enterprises(n: int) -> list[list[str]]:
    return [[_uscc(i), f"知识城{i}号公司", "有限责任公司", "制造业", "100.5", "2024-01-05", "九佛街道", "张三", "13800138000"]
            for i in range(n)]


def _separated(path: Path, sep: str, rows: list[list[str]], headers: list[str] = HEADERS) -> Path:
    path.write_text("\n".join(sep.join(r) for r in [headers, *rows]) + "\n", encoding="utf-8")
    return path


def _clinic(n: int) -> dict:
    return {"医疗机构登记号": f"PDY{n:08d}", "机构名称": f"知识城第{n}诊所", "机构类别": "诊所", "地址": "九佛街道", "核定床位数": 10 + n,
            "许可证有效期至": "2030-12-31"}


def _rows(path: str, columns: str) -> list[tuple]:
    con = duckdb.connect()
    return con.sql(f"SELECT {columns} FROM {duckdb_source(con, Path(path), 'batch')} ORDER BY _row").fetchall()


def _refusal(resource: Resource, path: Path) -> Refusal:
    with pytest.raises(Refusal) as caught:
        land_file(resource, path)
    return caught.value


def _short(refusal: Refusal) -> None:
    """What a department reads: a paragraph in each language, printable, never pages of the file."""
    for lang in ("en", "zh"):
        message = refusal.problem.render(lang, **refusal.params)
        assert len(message) <= MESSAGE_LIMIT and message.isprintable(), message


# --------------------------------------------------------------------------- JSON wrapped in an object


def test_records_wrapped_in_an_object_land_from_records_path(lake, tmp_path):
    sent = tmp_path / "clinics.json"
    sent.write_text(json.dumps({"code": 200, "total": 3, "erDataList": [_clinic(i) for i in range(3)]}, ensure_ascii=False), "utf-8")
    result = land_and_validate(_with_source(CLINICS, records_path="erDataList"), sent)
    assert result.landed.rows == 3 and result.outcome.accepted == 3
    assert _rows(result.outcome.validated_path, "institution_code, beds") == [("PDY00000000", 10), ("PDY00000001", 11), ("PDY00000002", 12)]


def test_records_path_may_go_deeper(lake, tmp_path):
    sent = tmp_path / "clinics.json"
    sent.write_text(json.dumps({"meta": {"page": 1}, "data": {"items": [_clinic(7)]}}, ensure_ascii=False), "utf-8")
    landed = land_file(_with_source(CLINICS, records_path="data.items"), sent)
    assert landed.rows == 1
    assert _rows(landed.raw_path, "institution_code, institution_name") == [("PDY00000007", "知识城第7诊所")]


def test_wrapped_records_without_records_path_are_refused_naming_the_key(lake, tmp_path):
    sent = tmp_path / "clinics.json"
    sent.write_text(json.dumps({"code": 200, "total": 1, "erDataList": [_clinic(1)]}, ensure_ascii=False), "utf-8")
    refusal = _refusal(CLINICS, sent)
    assert refusal.code == "not-a-list-of-records"
    assert str(sent) in str(refusal)
    assert "not a list of records" in str(refusal) and "declare source.records_path: erDataList" in str(refusal)
    _short(refusal)


def test_records_not_where_the_entry_says_are_refused_with_where_they_are(lake, tmp_path):
    sent = tmp_path / "clinics.json"
    sent.write_text(json.dumps({"result": {"rows": [_clinic(1)]}}, ensure_ascii=False), "utf-8")
    refusal = _refusal(_with_source(CLINICS, records_path="erDataList"), sent)
    assert refusal.code == "not-a-list-of-records"
    assert "nothing at records_path erDataList" in str(refusal) and "declare source.records_path: result.rows" in str(refusal)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([_clinic(1)], ensure_ascii=False), "utf-8")
    assert "remove source.records_path" in str(_refusal(_with_source(CLINICS, records_path="erDataList"), bare))


def test_json_lines_and_arrays_still_land_without_records_path(lake, tmp_path):
    lines = tmp_path / "clinics.jsonl"
    lines.write_text("\n".join(json.dumps(_clinic(i), ensure_ascii=False) for i in range(2)) + "\n", "utf-8")
    assert land_file(CLINICS, lines).rows == 2


def test_records_path_and_delimiter_belong_to_their_formats():
    assert Source(format="json", records_path="data.items").records_path == "data.items"
    assert {Source(format="csv", delimiter=d).delimiter for d in ("tab", "TAB", "\\t", "\t")} == {"\t"}
    for wrong in ({"format": "csv", "records_path": "data"}, {"format": "json", "delimiter": ";"}, {"format": "csv", "delimiter": ";;"},
                  {"format": "csv", "delimiter": '"'}, {"format": "json", "records_path": "data..items"}):
        with pytest.raises(ValidationError):
            Source(**wrong)


# --------------------------------------------------------------------------- not a comma


def test_a_semicolon_separated_file_is_refused_naming_the_separator_then_lands_when_declared(lake, tmp_path):
    sent = _separated(tmp_path / "enterprises.csv", ";", _enterprises(3))
    refusal = _refusal(ENTERPRISES, sent)
    assert refusal.code == "wrong-delimiter"
    assert "the file looks ';'-separated" in str(refusal) and "declare source.delimiter: ';'" in str(refusal)
    _short(refusal)
    result = land_and_validate(_with_source(ENTERPRISES, delimiter=";", encoding="auto"), sent)
    assert result.landed.rows == 3 and result.outcome.accepted == 3
    assert _rows(result.outcome.validated_path, "uscc, registered_capital")[0] == (_uscc(0), 100.5)


def test_a_tab_separated_file_is_named_tab_and_lands_with_delimiter_tab(lake, tmp_path):
    sent = _separated(tmp_path / "enterprises.csv", "\t", _enterprises(2))
    assert "declare source.delimiter: tab" in str(_refusal(ENTERPRISES, sent))
    assert land_file(_with_source(ENTERPRISES, delimiter="tab"), sent).rows == 2


def test_a_comma_file_under_a_semicolon_entry_is_refused_the_other_way(lake, tmp_path):
    sent = _separated(tmp_path / "enterprises.csv", ",", _enterprises(2))
    refusal = _refusal(_with_source(ENTERPRISES, delimiter=";"), sent)
    assert refusal.code == "wrong-delimiter" and "looks ','-separated, not ';'-separated" in str(refusal)


def test_a_real_missing_column_is_still_a_missing_column(lake, tmp_path):
    sent = _separated(tmp_path / "enterprises.csv", ",", [r[1:] for r in _enterprises(2)], HEADERS[1:])
    assert _refusal(ENTERPRISES, sent).code == "missing-required-column"


def test_ragged_rows_of_a_semicolon_file_are_set_aside_not_the_file(lake, tmp_path):
    rows = _enterprises(4)
    rows[2] = rows[2][:5]
    sent = _separated(tmp_path / "enterprises.csv", ";", rows)
    result = land_and_validate(_with_source(ENTERPRISES, delimiter=";"), sent)
    assert result.landed.rows == 4 and result.outcome.quarantined == 1 and result.outcome.accepted == 3


# --------------------------------------------------------------------------- Excel 97-2003 (.xls)


def test_an_xls_workbook_lands_like_an_xlsx(lake, tmp_path):
    sent = Path(shutil.copyfile(XLS, tmp_path / "检查记录.xls"))
    result = land_and_validate(INSPECTIONS, sent)
    assert result.landed.rows == 4  # the hidden row is delivered data
    assert result.outcome.accepted == 4, result.outcome.by_rule
    rows = _rows(result.landed.raw_path, "inspection_no, inspected_on, hazards_found, rectification_due, _line")
    assert rows[0] == ("AJ2026000001", "2026-03-02", "3", "2026-04-08", 4)  # below a title and a blank row; a bare serial is a date
    assert rows[1][2] == "05"  # a number typed as text stays as typed


def test_an_xls_through_kcdata_submit_is_delivered_and_landed(lake, tmp_path):
    sent = Path(shutil.copyfile(XLS, tmp_path / "检查记录.xls"))
    submitted = CliRunner().invoke(app, ["submit", str(sent), "--resource", INSPECTIONS.code])
    assert submitted.exit_code == 0, submitted.output
    assert "delivered" in submitted.output
    report = land_inbox(INSPECTIONS, marked_only=True)
    assert not report.refused and [b.rows for b in report.landed] == [4]


def test_an_xls_in_the_inbox_is_ingested(lake):
    inbox = lake.inbox / INSPECTIONS.table
    inbox.mkdir(parents=True)
    shutil.copyfile(XLS, inbox / "检查记录.xls")
    result = CliRunner().invoke(app, ["ingest", INSPECTIONS.code])
    assert result.exit_code == 0, result.output
    assert "4 rows, 4 accepted" in result.output


@pytest.mark.parametrize(("name", "content", "says"), [
    ("export.xls", "<html><body><table><tr><td>检查编号</td></tr></table></body></html>".encode(), "an HTML or XML page named .xls"),
    ("tabs.xls", "检查编号\t检查日期\nAJ2026000001\t2026-03-02\n".encode("gb18030"), "plain text named .xls"),
    ("damaged.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024, "not an Excel 97-2003 workbook, or a damaged one"),
])
def test_what_is_no_xls_is_refused_saying_what_it_is(lake, tmp_path, name, content, says):
    sent = tmp_path / name
    sent.write_bytes(content)
    refusal = _refusal(INSPECTIONS, sent)
    assert refusal.code == "wrong-format" and says in str(refusal)


def test_a_refusal_at_submit_is_recorded_like_one_in_the_inbox(lake, tmp_path):
    sent = tmp_path / "report.doc"
    sent.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)
    result = CliRunner().invoke(app, ["submit", str(sent), "--resource", INSPECTIONS.code])
    assert result.exit_code == 1 and "refused" in result.output and "recorded in the catalog" in result.output
    record = open_store().refused_deliveries(INSPECTIONS.code)
    assert [(Path(r.source_file).name, r.code) for r in record] == [("report.doc", "unsupported-file-type")]
    assert Path(record[0].feedback_path).exists()
    assert not (lake.inbox / INSPECTIONS.table / "report.doc").exists()


def test_a_mistyped_name_at_submit_records_nothing(lake, tmp_path):
    result = CliRunner().invoke(app, ["submit", str(tmp_path / "no-such.csv"), "--resource", ENTERPRISES.code])
    assert result.exit_code == 1 and "no such file" in result.output
    assert open_store().refused_deliveries(ENTERPRISES.code) == []


def test_submit_delivery_accepts_xls(lake, tmp_path):
    sent = Path(shutil.copyfile(XLS, tmp_path / "a.xls"))
    target = submit_delivery(INSPECTIONS, sent)
    assert target.exists() and Path(f"{target}.ready").exists()


# --------------------------------------------------------------------------- random bytes


@pytest.mark.parametrize(("resource", "name", "expected"), [
    (ENTERPRISES, "garbage.csv", "a CSV file is text"),
    (CLINICS, "garbage.json", "expected an array of objects or JSON lines"),
    (INSPECTIONS, "garbage.xlsx", "not a zip archive"),
    (INSPECTIONS, "garbage.xls", "not an Excel 97-2003 workbook"),
])
def test_random_bytes_are_refused_in_a_short_message_saying_what_was_expected(lake, tmp_path, resource, name, expected):
    sent = tmp_path / name
    sent.write_bytes(os.urandom(64 << 10))
    refusal = _refusal(resource, sent)
    assert expected in str(refusal)
    _short(refusal)


def test_random_printable_text_is_not_echoed_back(lake, tmp_path):
    sent = tmp_path / "noise.csv"
    sent.write_bytes(bytes(c for c in range(0x21, 0x7f) if c not in b",;|") * 200)  # 18,200 printable characters, one line
    refusal = _refusal(ENTERPRISES, sent)
    assert refusal.code == "wrong-format" and "the first line is not a row of column names" in str(refusal)
    assert str(refusal).count("!\"#$%&") <= 2  # one short excerpt per language
    _short(refusal)


def test_control_characters_in_a_header_are_escaped_not_echoed(lake, tmp_path):
    sent = tmp_path / "odd.csv"
    sent.write_bytes("统一\x07社会信用代码\x1b[31m,企业名称\n1,2\n".encode())
    refusal = _refusal(ENTERPRISES, sent)
    assert "\x07" not in str(refusal) and "\x1b" not in str(refusal) and "\\x07" in str(refusal)


# --------------------------------------------------------------------------- thousands of columns


def test_ten_thousand_unknown_columns_are_one_bounded_warning(lake, tmp_path):
    extra = [f"备注{i}" for i in range(10_000)]
    sent = _separated(tmp_path / "wide.csv", ",", [r + ["x"] * len(extra) for r in _enterprises(2)], HEADERS + extra)
    landed = land_file(ENTERPRISES, sent)
    assert landed.rows == 2 and len(landed.unknown_columns) == 10_000  # all kept aside, as sent
    warnings = unknown_column_problems(landed.unknown_columns)
    assert len(warnings) == 1
    params = {k: v for k, v in warnings[0].items() if k != "code"}
    en = problem(warnings[0]["code"]).render("en", **params)
    assert en == ("10,000 columns not in the catalog entry, kept aside, not used: 备注0、备注1、备注2、备注3、备注4 … (and 9,995 more)")
    assert len(problem(warnings[0]["code"]).render("zh", **params)) <= MESSAGE_LIMIT


def test_a_few_unknown_columns_are_named_one_by_one():
    warnings = unknown_column_problems([{"position": 10, "header": "备注"}, {"position": 11, "header": "内部编号"}])
    assert [w["code"] for w in warnings] == ["unknown-column", "unknown-column"]


def test_ten_thousand_missing_header_names_make_a_short_refusal(lake, tmp_path):
    headers = [f"列{i}" for i in range(10_000)]
    sent = _separated(tmp_path / "wrong_headers.csv", ",", [["x"] * len(headers)], headers)
    refusal = _refusal(ENTERPRISES, sent)
    assert refusal.code == "missing-required-column" and "(and 9,990 more)" in refusal.problem.render("en", **refusal.params)
    _short(refusal)


def test_refusal_messages_are_capped_whatever_the_parameters():
    refusal = Refusal("/inbox/x.csv", "wrong-format", format="CSV", detail="坏" * 1_000_000)
    assert len(str(refusal)) <= len("/inbox/x.csv") + 2 * MESSAGE_LIMIT + 100
    listed = Refusal("/inbox/x.csv", "missing-required-column", columns=["a" * 5000] * 50, headers=["b" * 5000] * 10_000)
    assert len(str(listed)) <= len("/inbox/x.csv") + 2 * MESSAGE_LIMIT + 100
