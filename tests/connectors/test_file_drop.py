"""The file-drop connector: formats and encodings departments send, header mapping, no-op re-feeds.

The raw batch keeps every cell as the department sent it; typing happens at validation, so the
typed values are checked in the validated batch and the problems in quarantine."""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from catalog.entries import get_resource
from common.codes import uscc_check_char
from common.errors import KcdataError
from common.lake_crypto import duckdb_source
from connectors.file_drop import land_file
from flow.pipeline import land_and_validate

ENTERPRISES = get_resource("KC-SCJG-001")


def _uscc(n: int) -> str:
    body = f"91440112MA5D{n:05d}"
    return body + uscc_check_char(body)


def _enterprise_rows(n: int) -> list[list[str]]:
    return [
        [_uscc(i), f"广州知识城{i}号科技有限公司", "有限责任公司", "制造业", "100.5", "2024-01-05", "九佛街道", "张三", "13800138000"]
        for i in range(n)
    ]


def _write_csv(path: Path, rows: list[list[str]], encoding: str, headers: list[str] | None = None) -> Path:
    headers = headers or [i.name for i in ENTERPRISES.items]
    text = "\n".join(",".join(r) for r in [headers, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def _read(path: str, columns: str = "*") -> list[tuple]:
    """Rows of a lake file, decrypted with the lake's key where personal items are encrypted."""
    con = duckdb.connect()
    source = duckdb_source(con, Path(path), "batch")
    return con.sql(f"SELECT {columns} FROM {source} ORDER BY _row").fetchall()


def _reasons(outcome) -> list:
    return [r[0] for r in _read(outcome.quarantine_path, "_reasons")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_every_encoding_lands_typed(lake, tmp_path, encoding):
    result = land_and_validate(ENTERPRISES, _write_csv(tmp_path / "e.csv", _enterprise_rows(3), encoding))
    landed = result.landed
    assert landed.encoding == encoding
    assert landed.rows == 3
    raw = _read(landed.raw_path, "uscc, enterprise_name, registered_capital, established_on")[0]
    assert raw == (_uscc(0), "广州知识城0号科技有限公司", "100.5", "2024-01-05")  # as sent
    row = _read(result.outcome.validated_path, "uscc, enterprise_name, registered_capital, established_on")[0]
    assert row[0] == _uscc(0) and row[1] == "广州知识城0号科技有限公司"
    assert row[2] == 100.5 and row[3] == date(2024, 1, 5)
    assert result.outcome.quarantined == 0  # no coercion problems


def test_same_file_twice_is_a_no_op(lake, tmp_path):
    f = _write_csv(tmp_path / "e.csv", _enterprise_rows(2), "utf-8")
    first = land_file(ENTERPRISES, f)
    again = land_file(ENTERPRISES, f)
    assert again.skipped and again.raw_path == first.raw_path
    assert len(list((lake.raw / ENTERPRISES.table).iterdir())) == 1


def test_header_aliases_and_extra_columns(lake, tmp_path):
    headers = [i.name for i in ENTERPRISES.items]
    headers[4] = "注册资本"  # an alias
    headers.append("备注")  # a column no item claims
    rows = [r + ["无"] for r in _enterprise_rows(1)]
    result = land_and_validate(ENTERPRISES, _write_csv(tmp_path / "e.csv", rows, "utf-8", headers))
    landed = result.landed
    assert landed.ignored_headers == ["备注"]
    assert _read(result.outcome.validated_path, "registered_capital")[0][0] == 100.5
    # the column no item claims is kept aside in the raw batch and reported, not dropped
    assert landed.unknown_columns == [{"position": 10, "header": "备注", "column": "_unmapped_10"}]
    assert _read(landed.raw_path, "_unmapped_10") == [("无",)]
    assert result.outcome.delivery_problems == [{"code": "unknown-column", "position": 10, "header": "备注"}]


def test_missing_required_column_names_file_and_column(lake, tmp_path):
    headers = [i.name for i in ENTERPRISES.items][1:]
    rows = [r[1:] for r in _enterprise_rows(1)]
    f = _write_csv(tmp_path / "no_code.csv", rows, "utf-8", headers)
    with pytest.raises(KcdataError, match=r"no_code\.csv.*统一社会信用代码 \(uscc\)"):
        land_file(ENTERPRISES, f)


def test_cells_that_cannot_be_coerced_keep_their_text(lake, tmp_path):
    rows = _enterprise_rows(3)
    rows[0][4] = "１２"  # full-width digits
    rows[1][5] = "2024/1/5"  # another date format
    rows[2][4] = "壹佰万"  # not a number
    outcome = land_and_validate(ENTERPRISES, _write_csv(tmp_path / "e.csv", rows, "gb18030")).outcome
    errors = _reasons(outcome)
    assert errors == [
        [{"rule": "full-width", "column": "registered_capital", "value": "１２"}],
        [{"rule": "date-format", "column": "established_on", "value": "2024/1/5"}],
        [{"rule": "type", "column": "registered_capital", "value": "壹佰万"}],
    ]


def test_xlsx_cells_become_the_text_a_person_sees(lake, tmp_path):
    patents = get_resource("KC-ZSCQ-001")
    wb = Workbook()
    ws = wb.active
    ws.title = "授权专利"
    ws.append([i.name for i in patents.items])
    ws.append(["ZL202310000001.0", "一种数据治理方法", "发明", "广州甲公司", _uscc(1), datetime(2024, 3, 5), "G06F 16/00"])
    wb.save(tmp_path / "p.xlsx")
    result = land_and_validate(patents, tmp_path / "p.xlsx")
    assert _read(result.landed.raw_path, "granted_on")[0][0] == "2024-03-05"  # what a person sees in Excel
    assert _read(result.outcome.validated_path, "granted_on")[0][0] == date(2024, 3, 5)
    assert result.outcome.quarantined == 0


def test_json_array_of_objects(lake, tmp_path):
    clinics = get_resource("KC-WSJK-001")
    record = {
        "医疗机构登记号": "PDY00000001", "机构名称": "知识城社区卫生服务中心", "机构类别": "社区卫生服务中心",
        "地址": "广州市黄埔区九佛街道1号", "核定床位数": 20, "联系电话": "020-31234567",
        "经度": 113.5, "纬度": 23.4, "许可证有效期至": "2028-12-31",
    }
    second = {**record, "医疗机构登记号": "PDY00000002", "核定床位数": None}
    (tmp_path / "c.json").write_text(json.dumps([record, second], ensure_ascii=False), encoding="utf-8")
    outcome = land_and_validate(clinics, tmp_path / "c.json").outcome
    rows = _read(outcome.validated_path, "beds, longitude")
    assert [r[0] for r in rows] == [20, None]
    assert rows[0][1] == 113.5 and outcome.quarantined == 0
