"""Stable problem codes with bilingual message templates, shared by coercion and GX checks.

A quarantined row carries (rule, column, value); the message a department reads is rendered
from these templates, so the codes can be counted and the words can change.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    zh: str
    en: str


RULES: dict[str, Rule] = {
    r.code: r
    for r in [
        Rule("missing-value", "必填项为空", "required value is missing"),
        Rule("whitespace", "首尾含多余空白字符", "leading or trailing whitespace"),
        Rule("full-width", "含全角数字或字母", "full-width digits or letters"),
        Rule("date-format", "日期格式不规范，应为 YYYY-MM-DD 或 YYYY-MM-DD HH:MM:SS", "date not in YYYY-MM-DD[ HH:MM:SS] form"),
        Rule("type", "不是该信息项类型的有效值", "not a valid value of the item's type"),
        Rule("uscc-check", "统一社会信用代码校验码错误（GB 32100-2015）", "unified social credit code fails its check character"),
        Rule("id-card-check", "公民身份号码校验码错误（GB 11643-1999）", "citizen ID number fails its check character"),
        Rule("out-of-range", "数值超出允许范围", "value outside the allowed range"),
        Rule("not-allowed", "不在允许的取值列表中", "value not in the allowed list"),
        Rule("pattern", "不符合规定格式", "value does not match the required pattern"),
        Rule("duplicate-key", "主键重复（同一主键出现多次）", "duplicate key: the same key appears more than once"),
        Rule("future-date", "日期晚于提交日期", "date lies in the future"),
        Rule("custom", "不符合附加校验规则", "fails an additional expectation"),
        Rule("version-held-back", "退回行占比超过上限，本版本暂不使用", "too many rows quarantined: the version is held back"),
    ]
}


def rule(code: str) -> Rule:
    """The rule for `code`; unknown codes (hand-written extras) render as `custom`."""
    return RULES.get(code, RULES["custom"])
