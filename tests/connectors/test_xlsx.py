"""XLSX deliveries as departments make them: title rows, merged headers, several sheets, dates, damage."""
from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl import Workbook

from common.problems import Refusal
from connectors.headers import normalise_header
from connectors.readers import xlsx
from connectors.readers.xlsx import hidden_rows, notes, read_xlsx

ITEMS = {"检查编号": "C", "被检查单位名称": "C", "检查日期": "D", "发现隐患数": "I", "整改期限": "D"}
HINTS = {normalise_header(label): kind for label, kind in ITEMS.items()}
HEADER = list(ITEMS)


def _rows(stream) -> list[dict]:
    """Every data row as {header or c<i>: text, "_row": n, "_line": n}."""
    out = []
    for batch in stream.batches:
        names = [stream.headers[int(n[1:])] or n if n.startswith("c") else n for n in batch.schema.names]
        out += [dict(zip(names, values, strict=True)) for values in zip(*batch.to_pydict().values(), strict=True)]
    return out


def _save(wb: Workbook, path: Path) -> Path:
    wb.save(path)
    return path


def _book(*rows: list, title: str = "检查记录") -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    return wb


def _refusal(path: Path, **kwargs) -> Refusal:
    with pytest.raises(Refusal) as caught:
        stream = read_xlsx(path, **kwargs)
        _rows(stream)
    return caught.value


# --------------------------------------------------------------------------- headers


def test_title_units_and_blank_rows_above_the_header_are_skipped(tmp_path):
    wb = _book(["2026年第三季度安全生产检查记录"], ["填报单位：应急管理局", None, "单位：项"], [], HEADER,
               ["AJ2026000001", "广州甲公司", "2026-07-01", 3, None], ["AJ2026000002", "广州乙公司", "2026-07-02", 0, None])
    wb.active.merge_cells("A1:E1")
    stream = read_xlsx(_save(wb, tmp_path / "t.xlsx"), "检查记录", HINTS)
    assert stream.headers == HEADER
    rows = _rows(stream)
    assert [(r["_row"], r["_line"], r["检查编号"], r["发现隐患数"]) for r in rows] == [
        (1, 5, "AJ2026000001", "3"), (2, 6, "AJ2026000002", "0")]
    assert notes(stream)["header_line"] == 4


def test_without_hints_the_first_non_empty_row_is_the_header(tmp_path):
    wb = _book([], ["2026年安全生产检查记录"], HEADER, ["AJ2026000001"])
    stream = read_xlsx(_save(wb, tmp_path / "t.xlsx"), "检查记录")
    assert stream.headers == ["2026年安全生产检查记录"]
    assert [(r["_row"], r["_line"]) for r in _rows(stream)] == [(1, 3), (2, 4)]


def test_two_row_header_under_a_merged_group_title_takes_the_lower_row(tmp_path):
    hints = {normalise_header(h) for h in ["站点编号", "PM2.5", "PM10", "臭氧"]}
    wb = _book(["站点编号", "监测数据", None, None], [None, "PM2.5", "PM10", "臭氧"], ["ZD001", "35", 60, 101.5])
    ws = wb.active
    ws.merge_cells("A1:A2")  # 站点编号 spans both header rows
    ws.merge_cells("B1:D1")  # the group title over the three measurements
    stream = read_xlsx(_save(wb, tmp_path / "m.xlsx"), "检查记录", hints)
    assert stream.headers == ["站点编号", "PM2.5", "PM10", "臭氧"]
    assert _rows(stream) == [{"站点编号": "ZD001", "PM2.5": "35", "PM10": "60", "臭氧": "101.5", "_row": 1, "_line": 3}]


def test_merged_header_cell_is_filled_only_with_a_new_known_label(tmp_path):
    wb = _book(["检查编号", "检查日期", None, "备注", None], ["AJ2026000001", 46000, "上午", "复查", "无"])
    ws = wb.active
    ws.merge_cells("B1:C1")  # 检查日期 is already in the header: the merged cell stays empty
    ws.merge_cells("D1:E1")  # 备注 is no known label: stays empty
    stream = read_xlsx(_save(wb, tmp_path / "m.xlsx"), "检查记录", HINTS)
    assert stream.headers == ["检查编号", "检查日期", "", "备注"]
    assert [b.num_columns for b in read_xlsx(tmp_path / "m.xlsx", "检查记录", HINTS).batches] == [4 + 2]


def test_wrong_dimension_element_does_not_cut_rows(tmp_path):
    path = _save(_book(HEADER, ["AJ1"], ["AJ2"], ["AJ3"]), tmp_path / "d.xlsx")
    members = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            members[name] = zf.read(name)
    members["xl/worksheets/sheet1.xml"] = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', members["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert [r["检查编号"] for r in _rows(read_xlsx(path, "检查记录", HINTS))] == ["AJ1", "AJ2", "AJ3"]


# --------------------------------------------------------------------------- sheets


def _three_sheets() -> Workbook:
    wb = _book(["填表说明"], ["请按模板填写"], title="说明")
    hidden = wb.create_sheet("旧模板")
    hidden.append(HEADER)
    hidden.append(["AJ-OLD"])
    hidden.sheet_state = "hidden"
    data = wb.create_sheet("检查记录")
    data.append(["2026年检查记录"])
    data.append(HEADER)
    data.append(["AJ2026000001", "广州甲公司"])
    return wb


def test_the_sheet_named_in_the_catalog_entry_is_read(tmp_path):
    stream = read_xlsx(_save(_three_sheets(), tmp_path / "s.xlsx"), "检查记录", HINTS)
    assert [(r["检查编号"], r["_line"]) for r in _rows(stream)] == [("AJ2026000001", 3)]
    assert notes(stream)["sheet"] == "检查记录"


def test_a_sheet_name_differing_only_by_spaces_or_width_is_found(tmp_path):
    wb = _book(HEADER, ["AJ1"], title="检查记录 ")
    assert _rows(read_xlsx(_save(wb, tmp_path / "s.xlsx"), "检查记录", HINTS))[0]["检查编号"] == "AJ1"


def test_an_absent_named_sheet_is_refused_with_the_sheets_there_are(tmp_path):
    refusal = _refusal(_save(_three_sheets(), tmp_path / "s.xlsx"), sheet="授权专利", hints=HINTS)
    assert refusal.code == "sheet-not-found"
    assert refusal.params["sheets"] == ["说明", "旧模板", "检查记录"]


def test_without_a_name_the_visible_sheet_matching_best_is_read(tmp_path):
    path = _save(_three_sheets(), tmp_path / "s.xlsx")
    assert notes(read_xlsx(path, None, HINTS))["sheet"] == "检查记录"  # the hidden 旧模板 matches as well, but is hidden
    assert notes(read_xlsx(path, None, None))["sheet"] == "说明"  # no hints: the first visible sheet


# --------------------------------------------------------------------------- cells


def test_numbers_stored_as_text_stay_as_sent(tmp_path):
    wb = _book(HEADER, ["00012345", "广州甲公司", "2026-07-01", "007", None], ["1.50", "广州乙公司", None, 1.5, None])
    rows = _rows(read_xlsx(_save(wb, tmp_path / "n.xlsx"), "检查记录", HINTS))
    assert [(r["检查编号"], r["检查日期"], r["发现隐患数"]) for r in rows] == [("00012345", "2026-07-01", "007"), ("1.50", None, "1.5")]


def test_date_serials_become_dates_in_date_columns_only(tmp_path):
    wb = _book(HEADER,
               ["AJ1", "甲", 46000, 46000, 46000.75],
               ["AJ2", "乙", 1, 61, datetime(2026, 7, 1, 9, 30)],
               ["AJ3", "丙", 60, 0, "2026-07-01"])
    rows = _rows(read_xlsx(_save(wb, tmp_path / "d.xlsx"), "检查记录", HINTS))
    assert [(r["检查日期"], r["发现隐患数"], r["整改期限"]) for r in rows] == [
        ("2025-12-09", "46000", "2025-12-09 18:00:00"),
        ("1900-01-01", "61", "2026-07-01 09:30:00"),
        ("60", "0", "2026-07-01"),  # 60 is Excel's phantom 1900-02-29: left for validation to report
    ]


def test_labels_without_types_convert_no_serials(tmp_path):
    wb = _book(HEADER, ["AJ1", "甲", 46000])
    rows = _rows(read_xlsx(_save(wb, tmp_path / "d.xlsx"), "检查记录", set(HINTS)))
    assert rows[0]["检查日期"] == "46000"


@pytest.mark.parametrize("chunk, overlap", [(1 << 20, 4096), (97, 64)])  # the XML scan finds tags across chunk boundaries
def test_hidden_rows_and_columns_are_kept_and_counted(tmp_path, monkeypatch, chunk, overlap):
    monkeypatch.setattr(xlsx, "_SCAN_CHUNK", chunk)
    monkeypatch.setattr(xlsx, "_SCAN_OVERLAP", overlap)
    wb = _book(["标题"], HEADER, *[[f"AJ{i}", f"单位{i}"] for i in range(1, 6)])
    ws = wb.active
    ws.row_dimensions[1].hidden = True  # above the header: not a data row
    ws.row_dimensions[4].hidden = True
    ws.row_dimensions[6].hidden = True
    ws.row_dimensions[40].hidden = True  # empty, only formatting
    ws.column_dimensions["B"].hidden = True
    stream = read_xlsx(_save(wb, tmp_path / "h.xlsx"), "检查记录", HINTS)
    rows = _rows(stream)
    assert [(r["_row"], r["_line"], r["检查编号"], r["被检查单位名称"]) for r in rows] == [
        (i, i + 2, f"AJ{i}", f"单位{i}") for i in range(1, 6)]
    assert hidden_rows(stream) == 2


def test_empty_rows_are_skipped_and_rows_stream_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx, "BATCH_ROWS", 2)
    wb = _book(HEADER, ["AJ1"], [], ["AJ2"], [None, None, None, None, None, "only past the header"], ["AJ4"])
    stream = read_xlsx(_save(wb, tmp_path / "b.xlsx"), "检查记录", HINTS)
    batches = list(stream.batches)
    assert [b.num_rows for b in batches] == [2, 2]
    rows = [r for b in batches for r in b.to_pylist()]
    assert [(r["c0"], r["_row"], r["_line"]) for r in rows] == [("AJ1", 1, 2), ("AJ2", 2, 4), (None, 3, 5), ("AJ4", 4, 6)]


def test_a_header_without_data_rows_gives_no_rows(tmp_path):
    stream = read_xlsx(_save(_book(["标题"], HEADER), tmp_path / "h.xlsx"), "检查记录", HINTS)
    assert stream.headers == HEADER and _rows(stream) == []


# --------------------------------------------------------------------------- refused files


def test_an_empty_workbook_is_refused(tmp_path):
    assert _refusal(_save(_book(title="检查记录"), tmp_path / "e.xlsx"), sheet="检查记录").code == "empty-file"


def test_a_csv_renamed_xlsx_is_refused(tmp_path):
    path = tmp_path / "c.xlsx"
    path.write_text("检查编号,检查日期\nAJ1,2026-07-01\n", encoding="gb18030")
    refusal = _refusal(path, sheet="检查记录")
    assert refusal.code == "wrong-format" and "CSV" in refusal.params["detail"]


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "r.xlsx"
    path.write_bytes(os.urandom(20_000))
    assert _refusal(path).code == "wrong-format"


def test_an_old_xls_renamed_is_refused_with_advice(tmp_path):
    path = tmp_path / "o.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))
    refusal = _refusal(path)
    assert refusal.code == "wrong-format" and ".xls" in refusal.params["detail"]


def test_a_truncated_workbook_is_refused(tmp_path):
    path = _save(_book(HEADER, *[[f"AJ{i}", "单位"] for i in range(200)]), tmp_path / "t.xlsx")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    assert _refusal(path, sheet="检查记录").code == "wrong-format"


def test_a_damaged_sheet_is_refused_not_raised(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(_save(_book(HEADER, *[[f"AJ{i}", f"单位{i}"] for i in range(300)]), tmp_path / "ok.xlsx")) as src, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            out.writestr(info, data.replace(b"</sheetData>", b"<row><c") if info.filename.endswith("sheet1.xml") else data)
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(buf.getvalue())
    assert _refusal(path, sheet="检查记录", hints=HINTS).code == "wrong-format"


def test_a_zip_without_a_workbook_is_refused(tmp_path):
    path = tmp_path / "z.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("report.txt", "hello")
    assert _refusal(path).code == "wrong-format"


def _no_openpyxl(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("openpyxl must not open a refused archive")

    monkeypatch.setattr(openpyxl, "load_workbook", boom)


def test_a_zip_bomb_is_refused_before_openpyxl_opens_it(tmp_path, monkeypatch):
    _no_openpyxl(monkeypatch)
    path = tmp_path / "bomb.xlsx"
    block = b"A" * (1 << 20)  # 60 x 1 MiB of one byte deflates about 1000 to 1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(60):
                member.write(block)
    assert path.stat().st_size < 1 << 20
    refusal = _refusal(path, sheet="检查记录")
    assert refusal.code == "zip-bomb"
    assert re.fullmatch(r"60 MB uncompressed from [0-9.]+ MB", refusal.params["detail"])


def test_a_workbook_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    path = _save(_book(HEADER, ["AJ1"]), tmp_path / "big.xlsx")
    monkeypatch.setenv("KCDATA_XLSX_MAX_BYTES", "1000")
    _no_openpyxl(monkeypatch)
    assert _refusal(path, sheet="检查记录").code == "zip-bomb"
