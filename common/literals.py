"""The one grammar of values departments send as text: what reads as a number, a date or yes/no.

Coercion (expectations/coerce.py) types a cell by it, and a cell it does not accept is
quarantined; that is the contract departments rely on. The sample writer (samples/writers.py)
writes a cell as a typed number or date exactly when coercion would accept its text, and the
ingest benchmark's floor (bench/ingest_floor.py) checks cells by it, so the three never drift.

Patterns match a whole cell (DuckDB's `regexp_full_match`, Python's `re.fullmatch`) and are ASCII
only, without spaces: full-width digits or a stray space are problems of their own, never typed.
A text the pattern accepts is then cast (`TRY_CAST`), so 2026-02-30 is still a bad date.
"""
from __future__ import annotations

INTEGER = r"-?[0-9]+"
NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"  # 42, -3.5, 1.5e3
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"  # 2026-05-01
DATETIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?"  # 2026-05-01 08:30[:00], or with a T
TRUE_WORDS = ("是", "true", "1", "y", "yes")  # yes/no items, compared lowercased
FALSE_WORDS = ("否", "false", "0", "n", "no")

# What trimming removes at a cell's edges: ASCII whitespace, Unicode spaces (NBSP, U+2000-U+200A,
# U+3000...) and the invisible zero-width space and BOM.
EDGE_SPACES = " \t\r\n\x0b\x0c\x85\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200C))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
AT_EITHER_END = f"^[{EDGE_SPACES}]|[{EDGE_SPACES}]$"  # a cell that trimming would change
FULL_WIDTH_CHARS = "[０-９Ａ-Ｚａ-ｚ．－＋，]"  # full-width digits, letters and signs (an IME left on)
