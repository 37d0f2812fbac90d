"""What each item becomes when it leaves the lake: the treatments of catalog.model as DuckDB SQL.

The entry declares the treatment (or its sensitivity implies one); this module only turns it into
one SELECT expression per item, so the open view stays a single streaming COPY. Pseudonyms are
HMAC-SHA256 of the value's UTF-8 text under the pseudonym key (common.keys): the same value gets
the same pseudonym in every version and every resource, and without the key nobody can go back.
They are computed in an Arrow UDF once per distinct value of each vector DuckDB hands over.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from catalog.model import Item, MaskKind, Period, Resource, Treatment, TreatmentKind
from common.sqltext import ident, literal

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

PSEUDONYM_FUNCTION = "kc_pseudonym"
# Two-character surnames (复姓) kept whole by the name mask: 欧阳娜娜 -> 欧阳*.
COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐",
    "端木", "轩辕", "西门", "独孤", "南宫", "万俟", "闻人", "呼延", "澹台", "公冶", "太史", "申屠", "钟离", "赫连",
)
_CACHE_LIMIT = 100_000  # pseudonyms remembered across vectors (bounded: a 1M-row key column must not fill memory)


def column_sql(item: Item) -> str | None:
    """The SELECT expression (with its alias) of the item's open-view column; None when the item
    is not published (dropped, or nobody declared its sensitivity)."""
    t = item.effective_treatment
    if t is None or item.output_type is None:
        return None
    return f"{_expression(t, ident(item.code))} AS {ident(item.code)}"


def select_list(resource: Resource) -> list[str]:
    """The open view's columns, in catalog order."""
    return [sql for sql in (column_sql(i) for i in resource.items) if sql is not None]


def needs_pseudonym_key(resource: Resource) -> bool:
    return any(i.effective_treatment is not None and i.effective_treatment.kind is TreatmentKind.pseudonymise
               for i in resource.items)


def _expression(t: Treatment, v: str) -> str:
    if t.kind is TreatmentKind.keep:
        return v
    if t.kind is TreatmentKind.pseudonymise:
        return f"{PSEUDONYM_FUNCTION}(CAST({v} AS VARCHAR))"
    if t.kind is TreatmentKind.mask:
        assert t.mask is not None, "the item infers its mask kind when it is loaded"
        return _unless_null(v, MASKS[t.mask](v))
    if t.period is not None:
        return {
            Period.day: f"CAST({v} AS DATE)",
            Period.month: f"strftime({v}, '%Y-%m')",
            Period.year: f"CAST(year({v}) AS BIGINT)",
        }[t.period]
    if t.grid is not None:
        exponent = Decimal(str(t.grid)).normalize().as_tuple().exponent
        assert isinstance(exponent, int), "a grid is a finite number"
        decimals = max(0, -exponent)
        # round first: 113.45 / 0.01 is 11344.999…, which must still fall in cell 11345
        return f"CAST(round(floor(round({v} / {t.grid!r}, 6)) * {t.grid!r}, {decimals}) AS DOUBLE)"
    if t.band is not None:
        low = f"CAST(floor({v} / {t.band}) * {t.band} AS BIGINT)"
        return _unless_null(v, f"CAST({low} AS VARCHAR) || '–' || CAST({low} + {t.band - 1} AS VARCHAR)")
    return f"CASE WHEN {v} < {t.suppress_below} THEN NULL ELSE {v} END"


def _unless_null(v: str, expression: str) -> str:
    return f"CASE WHEN {v} IS NULL THEN NULL ELSE {expression} END"


def _mask_phone(v: str) -> str:
    """The first 3 and the last 4 characters: 13812341234 -> 138****1234."""
    return (f"CASE WHEN length({v}) >= 8 THEN left({v}, 3) || repeat('*', length({v}) - 7) || right({v}, 4) "
            f"ELSE repeat('*', length({v})) END")


def _mask_name(v: str) -> str:
    """The surname and one `*`: 张三丰 -> 张*, 欧阳娜娜 -> 欧阳*."""
    compound = ", ".join(literal(s) for s in COMPOUND_SURNAMES)
    return f"CASE WHEN length({v}) > 2 AND left({v}, 2) IN ({compound}) THEN left({v}, 2) ELSE left({v}, 1) END || '*'"


def _mask_id_card(v: str) -> str:
    """Region (6 digits) and birth year: 440112199003071234 -> 4401121990********; a 15-digit
    number keeps region and its two-digit year."""
    return (f"CASE WHEN length({v}) = 18 THEN left({v}, 10) || repeat('*', 8) "
            f"WHEN length({v}) = 15 THEN left({v}, 8) || repeat('*', 7) ELSE repeat('*', length({v})) END")


def _mask_email(v: str) -> str:
    """The first character and the domain: li.ming@example.cn -> l***@example.cn."""
    at = f"strpos({v}, '@')"
    return f"CASE WHEN {at} > 1 THEN left({v}, 1) || '***' || substr({v}, {at}) ELSE '***' END"


MASKS = {MaskKind.phone: _mask_phone, MaskKind.name: _mask_name, MaskKind.id_card: _mask_id_card,
         MaskKind.email: _mask_email}


class Pseudonyms:
    """HMAC-SHA256 (cryptography) of text values under one key, as 64 hex characters."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives import hashes, hmac

        self._keyed = hmac.HMAC(key, hashes.SHA256())  # copied per value: 5x cheaper than keying each time
        self._known: dict[str, str] = {}

    def of(self, text: str) -> str:
        known = self._known.get(text)
        if known is None:
            mac = self._keyed.copy()
            mac.update(text.encode("utf-8"))
            known = mac.finalize().hex()
            if len(self._known) < _CACHE_LIMIT:
                self._known[text] = known
        return known

    def arrow(self, values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """Each distinct value once, then spread back over the rows (NULL stays NULL)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        distinct = pc.unique(values)
        digests = pa.array([None if v is None else self.of(v) for v in distinct.to_pylist()], pa.string())
        return pc.take(digests, pc.index_in(values, value_set=distinct))


def register(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Make `kc_pseudonym(text)` available on `con`, keyed by `key`."""
    from duckdb.func import ARROW, SPECIAL
    from duckdb.sqltypes import VARCHAR

    pseudonyms = Pseudonyms(key)
    # a lambda: DuckDB evaluates a function's annotations, which name pyarrow only for type checkers
    con.create_function(PSEUDONYM_FUNCTION, lambda values: pseudonyms.arrow(values), [VARCHAR], VARCHAR, type=ARROW,
                        null_handling=SPECIAL, side_effects=False)
