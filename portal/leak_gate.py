"""The leak gate: personal data that slipped past the catalog's treatments never leaves the bureau.

Before anything of a resource is uploaded, its open view and every file about to be published
are scanned, in DuckDB SQL, for:

- `id_card`: a resident ID number (GB 11643: region 1–8, a real birth date 18xx–20xx, sequence,
  valid check character);
- `mobile`: a mainland mobile number, `1[3-9]` and 9 digits;
- `bank_card`: a card number as issued (issuer prefix and length: UnionPay, Visa, Mastercard,
  Amex, JCB, Discover) that passes the Luhn check and is not shaped like an ID number;
- `email`: an e-mail address;
- `personal_value`: a whole cell equal to a value of one of the resource's own personal items
  (text items, from its current curated rows), so 张伟 is caught but 张伟诊所 is not.

The number rules look at *tokens*, maximal runs of ASCII letters and digits (a decimal's
fraction stays with it): a mobile inside a longer digit run, a 64-hex pseudonym, a USCC, a
timestamp or 13812345678.5 is not a hit; masked values (138****1234, 张*, 4401121990********,
l***@example.cn) are not either. A hit names file, column, rule and the number of cells (a cell
holding three numbers counts once), never the value. A digit run in free text can still be
something else (a land-certificate number 第13021120006号 looks like a mobile number): a
department reviewer answers such a false positive with a time-limited exception for that column
and rule (catalog/gate_records.py), which the publisher applies.

Speed: one query per rule family, one branch per column (Parquet reads only that column), and a
cheap filter first (an 11-digit run, an `@`, a personal value) so the costly checks (check
character, Luhn) only see candidates. A CSV is read once into a scratch Parquet file.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from catalog.model import ItemType, Resource
from common.codes import ID_CARD_CHECK_CHARS, ID_CARD_WEIGHTS
from common.sqltext import ident, literal

RULES = ("id_card", "mobile", "bank_card", "email", "personal_value")
MIN_VALUE_CHARS = 2  # shorter personal values (a one-character anything) are not evidence

_TOKEN = r"[0-9A-Za-z]+(?:\.[0-9]+)*"
_LONG_NUMBER = r"[0-9]{10,18}[0-9Xx]"  # 11–19 characters: what every number rule needs
_MOBILE = r"1[3-9][0-9]{9}"
_ID_SHAPE = r"[1-8][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
# Card numbers as issued (issuer prefix and length): UnionPay 62 (16–19 digits), Visa 4 (13, 16,
# 19), Mastercard 51–55 and 22–27 (16), American Express 34/37 (15), JCB 35 (16–19), Discover
# 6011/65 (16). A long number of another shape is an identifier, not a card.
_CARD = (r"62[0-9]{14,17}|4(?:[0-9]{12}|[0-9]{15}|[0-9]{18})|(?:5[1-5]|2[2-7])[0-9]{14}|3[47][0-9]{13}"
         r"|35[0-9]{14,17}|(?:6011[0-9]{2}|65[0-9]{4})[0-9]{10}")
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_ID_WEIGHTS = str(list(ID_CARD_WEIGHTS))  # GB 11643, as common/codes.py checks it in Python

# Digit i (1-based) of a token t without a cast that could fail: ascii(...) - 48.
_MACROS = f"""
CREATE OR REPLACE TEMP MACRO kc_digit(t, i) AS ascii(substr(t, i, 1)) - 48;
CREATE OR REPLACE TEMP MACRO kc_id_check(t) AS
    substr({literal(ID_CARD_CHECK_CHARS)}, CAST(1 + list_sum(list_transform(range(17),
        lambda i: kc_digit(t, i + 1) * {_ID_WEIGHTS}[i + 1])) % 11 AS BIGINT), 1) = upper(substr(t, 18, 1));
CREATE OR REPLACE TEMP MACRO kc_luhn(t) AS
    list_sum(list_transform(range(length(t)), lambda i:
        CASE WHEN i % 2 = 0 THEN kc_digit(t, length(t) - i)
             WHEN kc_digit(t, length(t) - i) > 4 THEN 2 * kc_digit(t, length(t) - i) - 9
             ELSE 2 * kc_digit(t, length(t) - i) END)) % 10 = 0;
"""

# One token -> its rule (NULL: none); CASE evaluates each check only where the shape matched.
_CLASSIFY = f"""CASE
    WHEN regexp_full_match(t, {literal(_MOBILE)}) THEN 'mobile'
    WHEN regexp_full_match(t, {literal(_ID_SHAPE)}) THEN CASE WHEN kc_id_check(t) THEN 'id_card' END
    WHEN regexp_full_match(t, {literal(_CARD)}) THEN CASE WHEN kc_luhn(t) THEN 'bank_card' END
END"""


@dataclass(frozen=True)
class Hit:
    """Cells of one column of one file that one rule matched (never the values themselves)."""

    file: str
    column: str  # as the file names it: `contact_phone`, or `联系电话 (contact_phone)` for a CSV header
    rule: str
    count: int  # cells, however many matching tokens each holds
    item: str = field(default="", compare=False)  # the item code (what an exception names), else the column

    def text(self, code: str) -> str:
        return f"{code}: leak gate: {self.file} column {self.column}: {self.rule} in {self.count:,} cell(s)"


def personal_values(resource: Resource, curated: Path | None) -> list[str]:
    """Item codes whose values are evidence: the resource's personal text items present in its
    curated rows (values of an allowed list, like 男/女, say nothing about a person)."""
    if curated is None or not curated.exists():
        return []
    import pyarrow.parquet as pq

    present = set(pq.read_schema(str(curated)).names)
    return [i.code for i in resource.items if i.personal and i.type is ItemType.C and not i.allowed and i.code in present]


class LeakScanner:
    """One DuckDB connection (and a scratch folder) scanning the files of one resource."""

    def __init__(self, resource: Resource, curated: Path | None) -> None:
        from common.lake_store import connect as lake_connection

        self.resource = resource
        self.scratch = tempfile.TemporaryDirectory(prefix="kcdata-leak-gate-")
        self.con = lake_connection()
        self.con.execute(_MACROS)
        codes = personal_values(resource, curated)
        self.value_lengths: tuple[int, int] | None = None  # shortest and longest personal value
        if codes:
            src = f"read_parquet({literal(str(curated))})"
            union = " UNION ALL ".join(f"SELECT trim(CAST({ident(c)} AS VARCHAR)) AS v FROM {src}" for c in codes)
            self.con.execute(f"CREATE TEMP TABLE kc_personal AS SELECT v FROM ({union}) WHERE length(v) >= {MIN_VALUE_CHARS}")
            low, high = self.con.execute("SELECT min(length(v)), max(length(v)) FROM kc_personal").fetchall()[0]
            self.value_lengths = (low, high) if low is not None else None

    def close(self) -> None:
        self.con.close()
        self.scratch.cleanup()

    def __enter__(self) -> LeakScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scan_parquet(self, path: Path, label: str) -> list[Hit]:
        return self._scan(f"read_parquet({literal(str(path))}, hive_partitioning = false)", label)

    def scan_csv(self, path: Path, label: str) -> list[Hit]:
        """Every cell as text (the header row names the columns)."""
        copy = Path(self.scratch.name) / f"{len(list(Path(self.scratch.name).iterdir()))}.parquet"
        self.con.execute(
            f"COPY (SELECT * FROM read_csv({literal(str(path))}, header = true, all_varchar = true, delim = ',', "
            f"quote = '\"', escape = '\"')) TO {literal(str(copy))} (FORMAT parquet)"
        )
        return self._scan(f"read_parquet({literal(str(copy))})", label)

    def scan_text(self, path: Path, label: str) -> list[Hit]:
        """A whole small file as one cell (a JSON manifest): pattern rules only."""
        return self._scan(f"(SELECT content AS text FROM read_text({literal(str(path))}))", label, values=False)

    def _scan(self, source: str, label: str, values: bool = True) -> list[Hit]:
        types = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        text = [c for c, t in types.items() if t == "VARCHAR"]
        counts: list[tuple[str, str, int]] = []
        branches = [b for c, t in types.items() if (b := _number_branch(source, c, t))]
        if branches:
            counts += self.con.execute(  # a cell counts once per rule, however many tokens it holds
                f"SELECT col, rule, count(DISTINCT cell) FROM (SELECT col, cell, {_CLASSIFY} AS rule FROM "
                f"({' UNION ALL '.join(branches)}) WHERE length(t) BETWEEN 11 AND 19 "
                f"AND regexp_full_match(t, {literal(_LONG_NUMBER)})) WHERE rule IS NOT NULL GROUP BY col, rule"
            ).fetchall()
        if text:
            counts += self._per_column(source, text, "email", "contains({c}, '@') AND regexp_matches({c}, " + literal(_EMAIL) + ")")
        if text and values and self.value_lengths:
            low, high = self.value_lengths  # a cheap filter before the lookup (a few spaces around allowed)
            counts += self._per_column(
                source, text, "personal_value",
                f"length({{c}}) BETWEEN {low} AND {high + 8} AND trim({{c}}) IN (SELECT v FROM kc_personal)",
            )
        order = {c: n for n, c in enumerate(types)}
        counts.sort(key=lambda x: (order[x[0]], RULES.index(x[1])))
        return [Hit(label, self._column_label(column), rule, count, self._item_code(column))
                for column, rule, count in counts if count]

    def _per_column(self, source: str, columns: list[str], rule: str, condition: str) -> list[tuple[str, str, int]]:
        """Cells per column meeting `condition` ({c} is the column)."""
        branches = " UNION ALL ".join(
            f"SELECT {literal(c)}, {literal(rule)}, count(*) FROM {source} WHERE {condition.replace('{c}', ident(c))}"
            for c in columns
        )
        return self.con.execute(branches).fetchall()

    def _item_code(self, column: str) -> str:
        item = next((i for i in self.resource.items if column in (i.code, i.name)), None)
        return item.code if item else column

    def _column_label(self, column: str) -> str:
        """`contact_phone` for an item code, `联系电话 (contact_phone)` for a CSV header."""
        item = next((i for i in self.resource.items if i.name == column and i.code != column), None)
        return f"{column} ({item.code})" if item else column


_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}


def _number_branch(source: str, column: str, column_type: str) -> str | None:
    """The long tokens of one column, as (col, cell, t) rows (`cell` tells one cell from another):
    text cells with an 11-digit run split into tokens; whole numbers of 11 or more digits as their
    digits; other types hold none."""
    c, name = ident(column), literal(column)
    if column_type == "VARCHAR":
        return (f"SELECT col, cell, unnest(regexp_extract_all(v, {literal(_TOKEN)})) AS t FROM "
                f"(SELECT {name} AS col, row_number() OVER () AS cell, {c} AS v FROM {source} "
                f"WHERE regexp_matches({c}, '[0-9]{{11}}'))")
    if column_type in _INTEGERS:
        return (f"SELECT {name} AS col, row_number() OVER () AS cell, CAST(abs({c}) AS VARCHAR) AS t FROM {source} "
                f"WHERE abs({c}) >= 10000000000")
    if column_type in ("DOUBLE", "FLOAT") or column_type.startswith("DECIMAL"):  # a whole number written as one
        return (f"SELECT {name} AS col, row_number() OVER () AS cell, CAST(CAST(abs({c}) AS HUGEINT) AS VARCHAR) AS t "
                f"FROM {source} WHERE abs({c}) >= 1e10 AND abs({c}) < 1e20 AND {c} = trunc({c})")
    return None


def scan_files(resource: Resource, curated: Path | None, files: list[tuple[str, Path, str]]) -> list[Hit]:
    """Scan each (label, path, format): Parquet, CSV, or anything else as text."""
    hits: list[Hit] = []
    with LeakScanner(resource, curated) as scanner:
        for label, path, file_format in files:
            if file_format == "Parquet":
                hits += scanner.scan_parquet(path, label)
            elif file_format == "CSV":
                hits += scanner.scan_csv(path, label)
            else:
                hits += scanner.scan_text(path, label)
    return hits
