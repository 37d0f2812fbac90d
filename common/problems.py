"""The one registry of problems a delivery can have: stable codes, levels, severities, messages.

Every stage reports problems by these codes only (an unknown code is an error), and every
message a department or the bureau reads is rendered from these templates, in Chinese and
English, with the problem's parameters (the range, the pattern, the limit...). The docs'
table of problems is generated from this registry (`kcdata problems --markdown`).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from enum import Enum
from typing import Any

from common.errors import KcdataError


class Level(str, Enum):
    """Where a problem sits: the whole delivery, its header, one row, or one cell."""

    delivery = "delivery"
    header = "header"
    row = "row"
    cell = "cell"


class Severity(str, Enum):
    """What it does: `refused` (the delivery or the row goes back) or `warning` (reported, kept)."""

    refused = "refused"
    warning = "warning"


@dataclass(frozen=True)
class ProblemType:
    code: str
    level: Level
    severity: Severity
    zh: str  # message template, str.format fields are the parameters
    en: str

    @property
    def params(self) -> list[str]:
        """The parameters the templates use, in order of first use."""
        names: list[str] = []
        for template in (self.zh, self.en):
            for _, name, _, _ in string.Formatter().parse(template):
                if name and name not in names:
                    names.append(name)
        return names

    def render(self, lang: str = "zh", **params: object) -> str:
        """The message with its parameters filled in; a missing parameter reads as `?`. Messages
        are read by departments: a parameter never shows a server path (only the file's name) and
        none makes the message longer than MESSAGE_CHARS (a 300-column header, a long detail)."""
        template = self.zh if lang == "zh" else self.en
        return clip(template.format_map(_Lenient({k: _show(v) for k, v in params.items()})), MESSAGE_CHARS)


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


PARAM_CHARS = 120  # one parameter's text in a message (a list of headers, an exception's detail)
MESSAGE_CHARS = 300  # a whole rendered message
# An absolute path standing alone (after a space, a quote, a bracket or the start): /a/b/file.csv
_PATH = re.compile(r"""(?<![^\s'"(（=：])(?:/[^\s/'"“”()（），,;；、]+)+/([^\s/'"“”()（），,;；、]+)""")


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with `…`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hide_paths(text: str) -> str:
    """`text` with every absolute server path replaced by its file name: departments never see
    the server's folders (an inbox file is archived away from them anyway)."""
    return _PATH.sub(r"\1", text)


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        text = "、".join(map(str, value))
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return clip(hide_paths(text), PARAM_CHARS)


D, H, R, C = Level.delivery, Level.header, Level.row, Level.cell
REFUSED, WARNING = Severity.refused, Severity.warning

PROBLEMS: dict[str, ProblemType] = {
    p.code: p
    for p in [
        # the whole delivery is refused: nothing of it lands
        ProblemType("empty-file", D, REFUSED, "文件为空（没有任何内容）", "the file is empty"),
        ProblemType("no-data-rows", D, REFUSED, "文件只有表头，没有数据行", "the file has a header but no data rows"),
        ProblemType("unsupported-file-type", D, REFUSED, "不支持的文件类型 {suffix}，请提交 CSV、XLSX 或 JSON",
                    "unsupported file type {suffix}; send CSV, XLSX or JSON"),
        ProblemType("wrong-format", D, REFUSED, "文件内容不是 {format} 格式：{detail}", "the file is not a valid {format} file: {detail}"),
        ProblemType("not-a-list-of-records", D, REFUSED, "不是记录列表：{found}{hint}", "not a list of records: {found}{hint}"),
        ProblemType("unreadable-encoding", D, REFUSED, "无法识别文件的文字编码（不是 UTF-8 或 GB18030）：{detail}",
                    "cannot tell the file's text encoding (not UTF-8 or GB18030): {detail}"),
        ProblemType("too-large", D, REFUSED, "文件大小 {size} 超过上限 {limit}", "the file's size {size} exceeds the limit of {limit}"),
        ProblemType("zip-bomb", D, REFUSED, "电子表格解压后过大（{detail}），疑似压缩炸弹，已拒收",
                    "the spreadsheet expands too much ({detail}); refused as a possible zip bomb"),
        ProblemType("sheet-not-found", D, REFUSED, "找不到名为“{sheet}”的工作表；现有工作表：{sheets}",
                    "no sheet named {sheet!r}; the sheets are {sheets}"),
        ProblemType("not-a-regular-file", D, REFUSED, "不是收件箱中的普通文件（{detail}），未读取",
                    "not a regular file inside the inbox ({detail}); not read"),
        ProblemType("version-held-back", D, WARNING,
                    "暂不使用：退回行占比 {share} 超过上限 {limit}，本版本不进入整理层和开放数据，"
                    "仍使用上一个通过校验的版本；请修正后重新提交",
                    "held back: {share} of rows quarantined exceeds the limit of {limit}; the curated marts and the "
                    "open view keep the last passing version"),
        # the header
        ProblemType("missing-required-column", H, REFUSED, "表头缺少必填列：{columns}；收到的表头：{headers}",
                    "the header lacks required column(s) {columns}; headers found: {headers}"),
        ProblemType("wrong-delimiter", H, REFUSED,
                    "文件似乎以 {found} 分隔，而不是 {expected}：请在目录条目中声明 source.delimiter: {found}，"
                    "或改用 {expected} 分隔后重新提交",
                    "the file looks {found}-separated, not {expected}-separated: declare source.delimiter: {found} in the "
                    "catalog entry, or send the file {expected}-separated"),
        ProblemType("duplicate-header", H, REFUSED, "第 {position} 列“{header}”与前面的列对应同一信息项 {item}",
                    "column {position} ({header!r}) repeats item {item}"),
        ProblemType("unknown-column", H, WARNING, "未在目录中登记的列“{header}”（第 {position} 列），已单独保存，未使用",
                    "column {position} ({header!r}) is not in the catalog entry: kept aside, not used"),
        ProblemType("unknown-columns", H, WARNING, "{count} 列未在目录中登记，已单独保存，未使用：{headers} …（另有 {more} 列）",
                    "{count} columns not in the catalog entry, kept aside, not used: {headers} … (and {more} more)"),
        ProblemType("missing-optional-column", H, WARNING, "缺少选填列：{column}（{item}）",
                    "optional column {column} ({item}) is missing"),
        # one row: it goes to quarantine, the other rows still land
        ProblemType("ragged-row", R, REFUSED, "该行有 {actual} 个字段，表头有 {expected} 个",
                    "the row has {actual} fields; the header has {expected}"),
        ProblemType("bad-quoting", R, REFUSED, "该行引号不配对，无法解析", "the row's quotes do not pair up; it cannot be parsed"),
        ProblemType("bad-encoding", R, REFUSED, "该行含有无法按 {encoding} 解码的字节（可能被截断的汉字）",
                    "the row has bytes that are not valid {encoding} (a character cut short?)"),
        ProblemType("oversized-field", R, REFUSED, "该行有字段超过 {limit} 字节", "a field of the row is over {limit} bytes"),
        ProblemType("duplicate-key", R, REFUSED, "主键重复（同一主键出现多次）", "duplicate key: the same key appears more than once"),
        ProblemType("shifted-columns", R, REFUSED,
                    "该行有 {count} 个信息项同时不符合类型或格式（{columns}），疑似列错位（某处多了或少了一个值）",
                    "{count} items of the row fail their type or shape at once ({columns}): the row's columns look shifted "
                    "(a value added or left out somewhere)"),
        # one cell
        ProblemType("missing-value", C, REFUSED, "必填项为空", "required value is missing"),
        ProblemType("whitespace", C, REFUSED, "首尾含多余空白字符", "leading or trailing whitespace"),
        ProblemType("trimmed-whitespace", C, WARNING, "{count} 个单元格首尾带空白字符（如全角空格），已去除后校验，未退回",
                    "{count} cell(s) had leading or trailing whitespace (e.g. a full-width space): trimmed before checking, "
                    "not quarantined"),
        ProblemType("full-width", C, REFUSED, "含全角数字或字母", "full-width digits or letters"),
        ProblemType("date-format", C, REFUSED, "日期格式不规范，应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM:SS",
                    "date not in YYYY-MM-DD[ HH:MM:SS] form"),
        ProblemType("type", C, REFUSED, "不是{type_zh}类型的有效值", "not a valid {type_en}"),
        ProblemType("uscc-check", C, REFUSED, "统一社会信用代码校验码错误（GB 32100-2015）",
                    "unified social credit code fails its check character"),
        ProblemType("not-uscc", C, REFUSED, "不是统一社会信用代码（收到的是{got_zh}；应为 18 位数字或大写字母）",
                    "not a unified social credit code at all (got {got_en}; a USCC is 18 digits or capital letters)"),
        ProblemType("id-card-check", C, REFUSED, "公民身份号码校验码错误（GB 11643-1999）", "citizen ID number fails its check character"),
        ProblemType("not-id-card", C, REFUSED, "不是公民身份号码（收到的是{got_zh}；应为 17 位数字加 1 位数字或 X）",
                    "not a citizen ID number at all (got {got_en}; it is 17 digits and a digit or X)"),
        ProblemType("out-of-range", C, REFUSED, "数值超出允许范围 [{min}, {max}]", "value outside the allowed range [{min}, {max}]"),
        ProblemType("not-allowed", C, REFUSED, "不在允许的取值中：{allowed}", "value not in the allowed list: {allowed}"),
        ProblemType("pattern", C, REFUSED, "不符合规定格式 {pattern}", "value does not match the required pattern {pattern}"),
        ProblemType("future-date", C, REFUSED, "日期晚于提交日期", "date lies in the future"),
        ProblemType("custom", C, REFUSED, "不符合附加校验规则", "fails an additional expectation"),
    ]
}


EXCERPT_CHARS = 80  # of anything a message quotes from a file


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable piece of what a file holds, for a message: unprintable characters
    escaped (`\\x07`, `\\u3000`) so random bytes cannot garble a terminal or a CSV, cut to `limit`
    characters with `…`."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[: limit + 1])
    return shown if len(shown) <= limit and len(text) <= limit else shown[: limit - 1] + "…"


UNKNOWN_SHOWN = 5  # columns no item claims, named one warning each; more are summed up in one


def unknown_column_problems(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The warnings for the columns no catalog item claims (`{position, header}` each): one per
    column, or past UNKNOWN_SHOWN one naming the first few, so a file of 10,000 stray columns
    reads as one line, not 10,000."""
    if len(columns) <= UNKNOWN_SHOWN:
        return [{"code": "unknown-column", "position": c["position"], "header": c["header"]} for c in columns]
    return [{
        "code": "unknown-columns", "position": f"{columns[0]['position']}–{columns[-1]['position']}", "count": f"{len(columns):,}",
        "headers": [excerpt(c["header"], 40) for c in columns[:UNKNOWN_SHOWN]], "more": f"{len(columns) - UNKNOWN_SHOWN:,}",
    }]


def problem(code: str) -> ProblemType:
    """The registered problem `code`; anything else is a programming or configuration error."""
    try:
        return PROBLEMS[code]
    except KeyError:
        raise KcdataError(f"unknown problem code {code!r}: register it in common/problems.py") from None


def markdown_table() -> str:
    """The docs' table of problems, generated from the registry."""
    lines = ["| code | level | severity | 问题说明 | description |", "|---|---|---|---|---|"]
    for p in PROBLEMS.values():
        lines.append(f"| `{p.code}` | {p.level.value} | {p.severity.value} | {p.zh} | {p.en} |")
    return "\n".join(lines)


class Refusal(KcdataError):
    """A delivery refused as a whole: the file, its problem code and the problem's parameters.

    The message is one paragraph in English and Chinese; `row` and `column` say where, when the
    problem has a place."""

    def __init__(self, source: str, code: str, row: int | None = None, column: str | None = None, **params: object) -> None:
        self.source, self.code, self.row, self.column, self.params = source, code, row, column, params
        self.problem = problem(code)
        where = "".join(f", {label} {value}" for label, value in (("row", row), ("column", column)) if value is not None)
        super().__init__(
            f"{source}{where}: refused [{code}]: {self.problem.render('en', **params)} / {self.problem.render('zh', **params)}"
        )
