"""Check characters of the national identifier codes departments send.

Pure functions shared by the sample generator (to make valid codes) and the GX expectations
(to reject invalid ones), so both sides agree by construction.
"""
from __future__ import annotations

# GB 32100-2015 统一社会信用代码: 18 characters over 31 symbols (no I, O, S, V, Z).
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11643-1999 公民身份号码: 17 digits and a check character (0-9 or X).
ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK_CHARS = "10X98765432"  # by the weighted sum mod 11

# CNIPA application number: 12 digits and a check character, mod 11, X for 10.
_PATENT_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: object) -> bool:
    """True when `code` is 18 characters of the USCC charset with the right check character."""
    if not isinstance(code, str) or len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def uscc_problem(code: str) -> str | None:
    """What is wrong with a unified social credit code (None: nothing), said so that the person
    editing it knows which character to change rather than only that it is invalid."""
    if len(code) != 18:
        return f"has {len(code)} characters, not 18"
    foreign = sorted({c for c in code if c not in _USCC_VALUE})
    if foreign:
        return f"has {', '.join(repr(c) for c in foreign)}, outside {USCC_CHARSET} (no I, O, S, V, Z; capitals only)"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"its check character should be {expected!r}, not {code[17]!r}"
    return None


def id_card_check_char(first17: str) -> str:
    """The 18th character of a citizen identity number whose first 17 digits are given."""
    total = sum(int(c) * w for c, w in zip(first17, ID_CARD_WEIGHTS, strict=True))
    return ID_CARD_CHECK_CHARS[total % 11]


def is_valid_id_card(code: object) -> bool:
    """True when `code` is 17 digits plus the right check character."""
    if not isinstance(code, str) or len(code) != 18 or not code[:17].isascii() or not code[:17].isdigit():
        return False
    return id_card_check_char(code[:17]) == code[17]


def patent_check_char(digits12: str) -> str:
    """The check character after the dot of a 12-digit CNIPA application number."""
    total = sum(int(c) * w for c, w in zip(digits12, _PATENT_WEIGHTS, strict=True))
    r = total % 11
    return "X" if r == 10 else str(r)
