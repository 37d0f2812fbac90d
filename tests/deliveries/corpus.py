"""A corpus of broken deliveries, of the kinds departments really send, made by code (nothing
large is committed). Each case writes its file and says how it must end: refused as a whole with
a code, or landed with some rows quarantined with a code (and at which row), or landed clean
with warnings. `rows_sent` is counted here, independently of the connector.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook

from common.codes import uscc_check_char

ENTERPRISES = "KC-SCJG-001"  # CSV, GB18030 as sent by market supervision
INSPECTIONS = "KC-YJGL-001"  # XLSX, sheet 检查记录
CLINICS = "KC-WSJK-001"  # JSON

HEADERS = ["统一社会信用代码", "企业名称", "企业类型", "行业门类", "注册资本（万元）", "成立日期", "所在街道", "法定代表人", "联系电话"]


def uscc(n: int) -> str:
    body = f"91440112MA5D{n:05d}"
    return body + uscc_check_char(body)


def enterprise(n: int, capital: str = "100.5") -> list[str]:
    return [uscc(n), f"广州知识城{n}号科技有限公司", "有限责任公司", "制造业", capital, "2024-01-05", "九佛街道", "张三", "13800138000"]


NO_SEPARATOR = bytes(c for c in range(0x21, 0x7f) if c not in b",;|")  # printable noise a header cannot be


def csv_text(rows: list[list[str]], headers: list[str] = HEADERS, eol: str = "\n") -> str:
    return eol.join(",".join(r) for r in [headers, *rows]) + eol


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]  # writes the delivery into the folder given, returns its path
    outcome: str  # "refused" | "landed"
    codes: frozenset[str] = frozenset()  # refused: acceptable codes; landed: codes of quarantined rows
    resource: str = ENTERPRISES
    rows_sent: int | None = None  # landed: data rows in the file, counted by the corpus
    bad_rows: dict[int, str] = field(default_factory=dict)  # landed: data row -> code it must carry
    warnings: frozenset[str] = frozenset()  # landed: delivery-level warnings expected


def _write(name: str, data: bytes | str, encoding: str = "gb18030") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
        return path

    return make


def _good(n: int) -> list[list[str]]:
    return [enterprise(i) for i in range(n)]


def _ragged(folder: Path, name: str, where: int, fields: list[str]) -> Path:
    rows = [",".join(r) for r in _good(10)]
    rows[where - 1] = ",".join(fields)
    return _write(name, "\n".join([",".join(HEADERS), *rows]) + "\n")(folder)


def _truncated_last_row(folder: Path) -> Path:
    text = csv_text(_good(100))
    cut = text.rstrip("\n").rsplit(",", 5)[0]  # the file ends in the middle of row 100
    return _write("cut_off.csv", cut)(folder)


def _broken_multibyte(folder: Path) -> Path:
    lines = csv_text(_good(6)).encode("utf-8").split(b"\n")
    lines[5] = lines[5][:30] + "知".encode("utf-8")[:2] + lines[5][30:]  # row 5 loses a byte of a character
    return _write("truncated_char.csv", b"\n".join(lines))(folder)


def _mixed_encoding(folder: Path) -> Path:
    lines = [line.encode("utf-8") for line in csv_text(_good(8)).split("\n")]
    lines[3] = ",".join(enterprise(99)).encode("gb18030")  # row 3 typed in a GBK editor
    return _write("mixed_encoding.csv", b"\n".join(lines))(folder)


def _bad_quote(folder: Path) -> Path:
    rows = [",".join(r) for r in _good(10)]
    rows[3] = rows[3].replace("广州知识城3号", '"广州知识城3号', 1)  # a quote that never closes
    return _write("bad_quote.csv", "\n".join([",".join(HEADERS), *rows]) + "\n")(folder)


def _huge_field(folder: Path) -> Path:
    rows = _good(5)
    rows[2][1] = "大" * (1 << 20 + 1)  # a 2-million-character company name
    return _write("huge_field.csv", csv_text(rows), "utf-8")(folder)


def _wide_drift(folder: Path) -> Path:
    extra = [f"备注{i}" for i in range(10_000)]
    rows = [r + ["x"] * len(extra) for r in _good(3)]
    return _write("ten_thousand_columns.csv", csv_text(rows, HEADERS + extra), "utf-8")(folder)


def _workbook(folder: Path, name: str, sheets: dict[str, list[list]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    path = folder / name
    wb.save(path)
    return path


INSPECTION_HEADERS = ["检查编号", "被检查单位统一社会信用代码", "被检查单位名称", "检查日期", "检查人员", "发现隐患数",
                      "隐患等级", "整改情况"]


def _truncated_xlsx(folder: Path) -> Path:
    path = _workbook(folder, "truncated.xlsx", {"检查记录": [INSPECTION_HEADERS]})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _zip_bomb(folder: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (120 << 20))  # 120 MB of zeros, about 120 kB packed
    return _write("bomb.xlsx", buffer.getvalue())(folder)


def _link_outside(folder: Path) -> Path:
    outside = folder.parent / "secret.csv"
    outside.write_text("统一社会信用代码,企业名称\nsecret,secret\n", encoding="utf-8")
    link = folder / "link_outside.csv"
    os.symlink(outside, link)
    return link


def clinic(n: int) -> dict[str, str]:
    return {"医疗机构登记号": f"PDY{n:08d}", "机构名称": f"知识城第{n}诊所", "机构类别": "诊所", "地址": "广州市黄埔区九佛街道",
            "许可证有效期至": "2030-12-31"}


def _wrapped_json(folder: Path) -> Path:
    """Records inside an object, as many systems export them; the entry names no records_path."""
    data = {"code": 200, "total": 3, "erDataList": [clinic(i) for i in range(3)]}
    return _write("wrapped.json", json.dumps(data, ensure_ascii=False), "utf-8")(folder)


XLS_FIXTURE = Path(__file__).parents[1] / "connectors" / "fixtures" / "inspections.xls"  # Excel 97-2003, 4 rows


def _xls(folder: Path) -> Path:
    return Path(shutil.copyfile(XLS_FIXTURE, folder / "检查记录 2003.xls"))


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.csv"
    os.mkfifo(path)
    return path


REFUSED = [
    Case("empty file", _write("empty.csv", b""), "refused", frozenset({"empty-file"})),
    Case("only blanks", _write("blank.csv", "\n\n   \n"), "refused", frozenset({"empty-file"})),
    Case("header only", _write("header_only.csv", csv_text([])), "refused", frozenset({"no-data-rows"})),
    Case("binary garbage", _write("garbage.csv", bytes(range(256)) * 64), "refused", frozenset({"wrong-format"})),
    Case("no encoding fits", _write("latin.csv", bytes(range(0x80, 0x100)) * 40), "refused",
         frozenset({"unreadable-encoding", "missing-required-column", "wrong-format"})),
    Case("required column missing", _write("no_uscc.csv", csv_text([r[1:] for r in _good(3)], HEADERS[1:])), "refused",
         frozenset({"missing-required-column"})),
    Case("two headers for one item", _write("dup_header.csv", csv_text([r + [r[0]] for r in _good(3)], HEADERS + ["统一社会信用代码"])),
         "refused", frozenset({"duplicate-header"})),
    Case("text file", _write("notes.txt", "hello"), "refused", frozenset({"unsupported-file-type"})),
    Case("word document", _write("report.doc", b"\xd0\xcf\x11\xe0" + b"\x00" * 500), "refused", frozenset({"unsupported-file-type"})),
    Case("CSV renamed .xlsx", _write("renamed.xlsx", csv_text(_good(3))), "refused", frozenset({"wrong-format"}), INSPECTIONS),
    Case("random bytes .xlsx", _write("random.xlsx", os.urandom(4096)), "refused", frozenset({"wrong-format"}), INSPECTIONS),
    Case("truncated .xlsx", _truncated_xlsx, "refused", frozenset({"wrong-format"}), INSPECTIONS),
    Case("zip bomb .xlsx", _zip_bomb, "refused", frozenset({"zip-bomb"}), INSPECTIONS),
    Case("empty workbook", lambda f: _workbook(f, "empty.xlsx", {"检查记录": []}), "refused", frozenset({"empty-file"}), INSPECTIONS),
    Case("sheet not found", lambda f: _workbook(f, "sheets.xlsx", {"封面": [["说明"]], "其他": [INSPECTION_HEADERS]}), "refused",
         frozenset({"sheet-not-found"}), INSPECTIONS),
    Case("not JSON", _write("broken.json", "{\"a\": [1, 2", "utf-8"), "refused", frozenset({"wrong-format"}), CLINICS),
    Case("JSON scalar", _write("number.json", "42", "utf-8"), "refused", frozenset({"not-a-list-of-records"}), CLINICS),
    Case("JSON records wrapped in an object", _wrapped_json, "refused", frozenset({"not-a-list-of-records"}), CLINICS),
    Case("random bytes .json", _write("random.json", os.urandom(4096)), "refused", frozenset({"wrong-format"}), CLINICS),
    Case("semicolon-separated CSV", _write("semicolons.csv", csv_text(_good(3)).replace(",", ";")), "refused",
         frozenset({"wrong-delimiter"})),
    Case("tab-separated CSV", _write("tabs.csv", csv_text(_good(3)).replace(",", "\t")), "refused", frozenset({"wrong-delimiter"})),
    Case("random printable bytes", _write("printable.csv", NO_SEPARATOR * 50), "refused", frozenset({"wrong-format"})),
    Case("HTML page saved as .xls", _write("export.xls", "<html><table><tr><td>检查编号</td></tr></table></html>", "utf-8"),
         "refused", frozenset({"wrong-format"}), INSPECTIONS),
    Case("damaged .xls", _write("damaged.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(2048)), "refused",
         frozenset({"wrong-format"}), INSPECTIONS),
    Case("empty JSON array", _write("empty.json", "[]", "utf-8"), "refused",
         frozenset({"no-data-rows", "wrong-format", "missing-required-column"}), CLINICS),
    Case("symlink to a file outside the inbox", _link_outside, "refused", frozenset({"not-a-regular-file"})),
    Case("named pipe", _fifo, "refused", frozenset({"not-a-regular-file"})),
]

LANDED = [
    Case("ragged row, too few fields", lambda f: _ragged(f, "few.csv", 3, ["x", "y"]), "landed", frozenset({"ragged-row"}),
         rows_sent=10, bad_rows={3: "ragged-row"}),
    Case("ragged row, too many fields", lambda f: _ragged(f, "many.csv", 7, enterprise(7) + ["extra", "more"]), "landed",
         frozenset({"ragged-row"}), rows_sent=10, bad_rows={7: "ragged-row"}),
    Case("last row cut off", _truncated_last_row, "landed", frozenset({"ragged-row"}), rows_sent=100, bad_rows={100: "ragged-row"}),
    Case("quote never closed", _bad_quote, "landed", frozenset({"bad-quoting"}), rows_sent=10, bad_rows={4: "bad-quoting"}),
    Case("character cut in half", _broken_multibyte, "landed", frozenset({"bad-encoding"}), rows_sent=6, bad_rows={5: "bad-encoding"}),
    Case("one row in another encoding", _mixed_encoding, "landed", frozenset({"bad-encoding"}), rows_sent=8,
         bad_rows={3: "bad-encoding"}),
    Case("field of two million characters", _huge_field, "landed", frozenset({"oversized-field"}), rows_sent=5,
         bad_rows={3: "oversized-field"}),
    Case("old Mac line ends (CR)", _write("mac.csv", csv_text(_good(5), eol="\r")), "landed", rows_sent=5),
    Case("Windows line ends (CRLF)", _write("windows.csv", csv_text(_good(5), eol="\r\n")), "landed", rows_sent=5),
    Case("blank lines between rows", _write("blank_lines.csv", csv_text(_good(4)).replace("\n", "\n\n", 2)), "landed", rows_sent=4),
    Case("an unknown extra column", _write("extra.csv", csv_text([r + ["备注"] for r in _good(3)], HEADERS + ["内部备注"])), "landed",
         rows_sent=3, warnings=frozenset({"unknown-column"})),
    Case("ten thousand unknown columns", _wide_drift, "landed", rows_sent=3, warnings=frozenset({"unknown-columns"})),
    Case("optional column missing", _write("no_street.csv", csv_text([r[:6] + r[7:] for r in _good(3)], HEADERS[:6] + HEADERS[7:])),
         "landed", rows_sent=3, warnings=frozenset({"missing-optional-column"})),
    Case("Excel 97-2003 workbook (.xls)", _xls, "landed", rows_sent=4, resource=INSPECTIONS),
    Case("NA for a missing optional value", _write("na.csv", csv_text([r[:6] + ["NA"] + r[7:] for r in _good(3)])), "landed", rows_sent=3),
    Case("1e40 sent as capital", _write("huge_capital.csv", csv_text([enterprise(0), enterprise(1, "1e40")])), "landed",
         frozenset({"out-of-range"}), rows_sent=2, bad_rows={2: "out-of-range"}),
]

CASES = REFUSED + LANDED
