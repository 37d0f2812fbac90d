"""Typed catalog entries, after 《政务信息资源目录编制指南（试行）》 with English keys.

The YAML entry is the single source of truth: connectors map headers with it, expectations
derive the GX suite from it, dbt sources follow it, and the sample generator reads it.
Validation here refuses bad combinations early with a message that says what to change.
"""
from __future__ import annotations

import difflib
import re
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from catalog.licences import DEFAULT_LICENCE
from catalog.licences import licence as _open_licence
from common.codes import uscc_problem


class ItemType(str, Enum):
    """信息项数据类型 (data type of an item)."""

    C = "C"  # 字符型 text
    N = "N"  # 数值型 decimal number
    I = "I"  # 整数型 integer  # noqa: E741
    D = "D"  # 日期型 date (YYYY-MM-DD)
    T = "T"  # 日期时间型 datetime (YYYY-MM-DD HH:MM:SS)
    L = "L"  # 布尔型 boolean (是/否)


# Arrow/DuckDB type each item type is coerced to in the lake.
DUCKDB_TYPES = {
    ItemType.C: "VARCHAR",
    ItemType.N: "DOUBLE",
    ItemType.I: "BIGINT",
    ItemType.D: "DATE",
    ItemType.T: "TIMESTAMP",
    ItemType.L: "BOOLEAN",
}


class Sensitivity(str, Enum):
    """How sensitive one item is; drives the open view in the protection stage."""

    public = "public"  # 公开
    internal = "internal"  # 内部
    personal = "personal"  # 个人信息 (PIPL)
    sensitive_personal = "sensitive_personal"  # 敏感个人信息 (PIPL art. 28)


SENSITIVITY_LABELS = {Sensitivity.public: "公开 public", Sensitivity.internal: "内部 internal",
                      Sensitivity.personal: "个人信息 personal", Sensitivity.sensitive_personal: "敏感个人信息 sensitive personal"}


class MaskKind(str, Enum):
    """What a masked value is, which decides what of it stays readable."""

    phone = "phone"  # 13812341234 -> 138****1234
    name = "name"  # 张三丰 -> 张* (the surname)
    id_card = "id_card"  # 440112199003071234 -> 4401121990******** (region and birth year)
    email = "email"  # li.ming@example.cn -> l***@example.cn


class Period(str, Enum):
    """How coarse a generalised date or timestamp becomes."""

    day = "day"
    month = "month"
    year = "year"


class TreatmentKind(str, Enum):
    keep = "keep"
    drop = "drop"
    mask = "mask"
    generalise = "generalise"
    pseudonymise = "pseudonymise"


# One example per treatment, for labels in the data dictionaries (portal, catalog web, report).
MASK_EXAMPLES = {MaskKind.phone: "138****1234", MaskKind.name: "张*", MaskKind.id_card: "4401121990********",
                 MaskKind.email: "l***@example.cn"}
PERIOD_LABELS = {Period.day: ("日", "2026-03-07"), Period.month: ("月", "2026-03"), Period.year: ("年", "1990")}
_GENERALISE_HOW = "generalise: day, month or year, or {grid: 0.01}, {band: 10} or {suppress_below: 5}"
_TREATMENT_FORMS = f"keep, drop, mask, {{mask: phone|name|id_card|email}}, pseudonymise or {{{_GENERALISE_HOW}}}"


class Treatment(BaseModel):
    """What the open view does with one item, written in the entry as `treatment: mask`,
    `{mask: phone}`, `pseudonymise`, `drop`, `keep`, `{generalise: month}`, `{generalise: {grid: 0.01}}`,
    `{generalise: {band: 10}}` or `{generalise: {suppress_below: 5}}`.

    Declarative only: the SQL lives in governance/treatments.py; the portal and the catalog web
    read labels and output types from here without importing the governance stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TreatmentKind
    mask: MaskKind | None = None  # None only before the item infers it
    period: Period | None = None
    grid: float | None = Field(None, gt=0)  # coordinates floored to cells of this size
    band: int | None = Field(None, ge=2)  # numbers as text bands of this width (30–39)
    suppress_below: int | None = Field(None, ge=1)  # counts below this become NULL

    @model_validator(mode="before")
    @classmethod
    def _from_entry(cls, data: Any) -> Any:
        """The short forms people write in YAML -> fields."""
        if isinstance(data, str):
            if data not in ("keep", "drop", "mask", "pseudonymise"):
                raise ValueError(f"unknown treatment {data!r}; use {_TREATMENT_FORMS}")
            return {"kind": data}
        if not isinstance(data, dict) or "kind" in data:
            return data
        if len(data) != 1:
            raise ValueError(f"a treatment is one of {_TREATMENT_FORMS}, not {sorted(data)}")
        kind, how = next(iter(data.items()))
        if kind == "mask":
            return {"kind": "mask", "mask": how or None}
        if kind != "generalise":
            raise ValueError(f"unknown treatment {kind!r}; use {_TREATMENT_FORMS}")
        if isinstance(how, str):
            return {"kind": "generalise", "period": how}
        if isinstance(how, dict) and len(how) == 1 and next(iter(how)) in ("grid", "band", "suppress_below"):
            return {"kind": "generalise", **how}
        raise ValueError(f"say how to generalise: {_GENERALISE_HOW}")

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Treatment:
        given = [f for f in ("mask", "period", "grid", "band", "suppress_below") if getattr(self, f) is not None]
        if self.kind is TreatmentKind.generalise and len(given) != 1:
            raise ValueError(f"say how to generalise: {_GENERALISE_HOW}")
        if self.kind is not TreatmentKind.generalise and set(given) - {"mask"}:
            raise ValueError(f"{', '.join(given)} only apply to generalise")
        if self.kind is not TreatmentKind.mask and self.mask is not None:
            raise ValueError("a mask kind only applies to mask")
        return self

    @property
    def spec(self) -> str:
        """A short stable text: `mask:phone`, `generalise:grid=0.01` (for signatures and reports)."""
        if self.kind is TreatmentKind.mask:
            return f"mask:{self.mask.value if self.mask else '?'}"
        if self.kind is TreatmentKind.generalise:
            if self.period is not None:
                return f"generalise:{self.period.value}"
            field, value = next((f, getattr(self, f)) for f in ("grid", "band", "suppress_below") if getattr(self, f) is not None)
            return f"generalise:{field}={_number_text(value)}"
        return str(self.kind.value)

    @property
    def label(self) -> str:
        """How the treatment reads in a data dictionary: `掩码 mask (138****1234)`."""
        if self.kind is TreatmentKind.keep:
            return "原样公开 keep"
        if self.kind is TreatmentKind.drop:
            return "不公开 drop (withheld)"
        if self.kind is TreatmentKind.pseudonymise:
            return "假名化 pseudonymise (HMAC-SHA256, 同值同码 same value, same code)"
        if self.kind is TreatmentKind.mask:
            return f"掩码 mask ({MASK_EXAMPLES[self.mask]})" if self.mask else "掩码 mask"
        if self.period is not None:
            zh, example = PERIOD_LABELS[self.period]
            return f"泛化到{zh} generalise to {self.period.value} ({example})"
        if self.grid is not None:
            return f"泛化到 {_number_text(self.grid)} 网格 generalise to a {_number_text(self.grid)} grid"
        if self.band is not None:
            return f"分段 generalise to bands of {self.band} (30–{30 + self.band - 1})"
        return f"小于 {self.suppress_below} 不公开 suppressed below {self.suppress_below} (留空 blank)"

    def fits(self, item_type: ItemType) -> bool:
        """Whether this treatment can apply to an item of `item_type`."""
        if self.kind is TreatmentKind.mask:
            return item_type is ItemType.C
        if self.kind is TreatmentKind.pseudonymise:
            return item_type in (ItemType.C, ItemType.I)
        if self.kind is not TreatmentKind.generalise:
            return True
        if self.period is not None:
            return item_type is ItemType.T if self.period is Period.day else item_type in (ItemType.D, ItemType.T)
        if self.grid is not None:
            return item_type is ItemType.N
        if self.band is not None:
            return item_type in (ItemType.I, ItemType.N)
        return item_type is ItemType.I

    def output_type(self, item_type: ItemType) -> ItemType | None:
        """The type of the published column (None: not published): a band is text, a month is
        text (2026-03), a year an integer, a day a date, a mask or a pseudonym text."""
        if self.kind is TreatmentKind.drop:
            return None
        if self.kind in (TreatmentKind.mask, TreatmentKind.pseudonymise):
            return ItemType.C
        if self.kind is TreatmentKind.generalise:
            if self.period is not None:
                return {Period.day: ItemType.D, Period.month: ItemType.C, Period.year: ItemType.I}[self.period]
            if self.band is not None:
                return ItemType.C
        return item_type


KEEP = Treatment(kind=TreatmentKind.keep)
DROP = Treatment(kind=TreatmentKind.drop)
UNDECLARED_LABEL = "未声明敏感性，不可发布 no sensitivity declared: cannot be published"


class ShareType(str, Enum):
    unconditional = "无条件共享"
    conditional = "有条件共享"
    none = "不予共享"


class OpenType(str, Enum):
    unconditional = "无条件开放"
    conditional = "有条件开放"
    none = "不予开放"


class UpdateCycle(str, Enum):
    realtime = "实时"
    daily = "每日"
    weekly = "每周"
    monthly = "每月"
    quarterly = "每季度"
    half_yearly = "每半年"
    yearly = "每年"
    irregular = "不定时"


class Grade(str, Enum):
    """数据分级 per GB/T 43697-2024."""

    core = "核心"
    important = "重要"
    general = "一般"


class Item(BaseModel):
    """信息项: one column of the resource."""

    model_config = ConfigDict(extra="forbid")

    name: str  # 中文 header as departments send it
    code: str  # column name in the lake
    type: ItemType
    required: bool = False
    unique: bool = False
    pattern: str | None = None  # a regex, or a named check: "uscc", "id_card"
    range: tuple[float | None, float | None] | None = None
    allowed: list[str] | None = None
    unit: str | None = None
    description: str = ""
    # Declared or unknown: an item without one loads (drafts work) but its resource cannot be published.
    sensitivity: Sensitivity | None = None
    # What the open view does with it; default by sensitivity: public -> keep, anything else -> drop.
    treatment: Treatment | None = None
    aliases: list[str] = Field(default_factory=list)  # other headers departments use
    sample: dict[str, Any] = Field(default_factory=dict)  # how `kcdata sample` generates it
    # A DuckDB SQL expression over other items' codes: the item is computed in staging, not sent
    # (e.g. `make_timestamp(year, month, day, hour, 0, 0)` for files that split a timestamp).
    derived: str | None = None
    # The code of a related resource whose (single-column) key this item holds; dbt tests it.
    references: str | None = None
    # What this item's cells write for "no value" (overrides the resource's `missing_values`).
    missing_values: list[str] | None = None
    # Trim edge whitespace (ASCII and Unicode: U+3000, NBSP...) before checking; None: the entry's `trim`.
    trim: bool | None = None

    @field_validator("code")
    @classmethod
    def _code_is_identifier(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", v):
            raise ValueError(f"item code {v!r} must be snake_case ASCII, at most 63 characters")
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern_is_check_or_regex(cls, v: str | None, info: ValidationInfo) -> str | None:
        """A named check in any case (USCC -> uscc), else a regex that compiles; a bare word is a
        misspelt named check far more often than a regex meant to match that word."""
        if v is None:
            return v
        where = f"item {info.data.get('code', '?')} ({info.data.get('name', '?')}): pattern"
        if v.lower() in NAMED_PATTERNS:
            return v.lower()
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            close = difflib.get_close_matches(v.lower(), sorted(NAMED_PATTERNS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(
                f"{where} {v!r} is not a named check ({', '.join(sorted(NAMED_PATTERNS))}); {hint}"
                f"a regex that matches this word itself is written ^{v}$"
            )
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"{where} {v!r} is not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _range_needs_number(self) -> Item:
        if self.range is not None and self.type not in (ItemType.N, ItemType.I):
            raise ValueError(f"item {self.code}: range only applies to N or I items, not {self.type.value}")
        if self.pattern and self.type is not ItemType.C:
            raise ValueError(f"item {self.code}: pattern only applies to C items")
        if self.derived is not None:
            sent_only = [f for f in ("required", "unique", "pattern", "range", "allowed", "aliases", "sample") if getattr(self, f)]
            if sent_only:
                raise ValueError(
                    f"item {self.code}: a derived item is computed, not sent, so it cannot have {', '.join(sent_only)}"
                )
            if not self.derived.strip() or ";" in self.derived:
                raise ValueError(f"item {self.code}: derived must be one SQL expression over other items' codes")
        self._check_treatment()
        return self

    def _check_treatment(self) -> None:
        """A declared treatment must fit the item's type, know what it masks, and never keep a
        personal value as it is."""
        t = self.treatment
        if t is None:
            return
        if t.kind is TreatmentKind.mask and t.mask is None:
            kind = _inferred_mask(self)
            if kind is None:
                raise ValueError(
                    f"item {self.code}: treatment mask: cannot tell what to mask; say {{mask: phone|name|id_card|email}}"
                )
            self.treatment = t = Treatment(kind=TreatmentKind.mask, mask=kind)
        if not t.fits(self.type):
            raise ValueError(f"item {self.code}: treatment {t.spec} does not apply to a {self.type.value} item")
        if t.kind is TreatmentKind.keep and self.personal and self.sensitivity is not None:
            raise ValueError(
                f"item {self.code}: a {self.sensitivity.value} item cannot be kept as it is; "
                "mask, generalise, pseudonymise or drop it"
            )

    @property
    def personal(self) -> bool:
        return self.sensitivity in (Sensitivity.personal, Sensitivity.sensitive_personal)

    @property
    def maybe_personal(self) -> bool:
        """Personal, or nobody said: both are withheld wherever rows are shown."""
        return self.sensitivity is None or self.personal

    @property
    def effective_treatment(self) -> Treatment | None:
        """The declared treatment, else the default of the sensitivity (public: keep, any other:
        drop); None while the sensitivity is undeclared, whatever the treatment says (the
        resource cannot be published)."""
        if self.sensitivity is None:
            return None
        if self.treatment is not None:
            return self.treatment
        return KEEP if self.sensitivity is Sensitivity.public else DROP

    @property
    def sensitivity_label(self) -> str:
        """`个人信息 personal`, or `未声明 undeclared`."""
        return SENSITIVITY_LABELS[self.sensitivity] if self.sensitivity is not None else "未声明 undeclared"

    @property
    def treatment_label(self) -> str:
        t = self.effective_treatment
        return t.label if t is not None else UNDECLARED_LABEL

    @property
    def output_type(self) -> ItemType | None:
        """The type of the item's column in the open view and everything published from it
        (None: not published)."""
        t = self.effective_treatment
        return None if t is None else t.output_type(self.type)

    @property
    def published_type(self) -> ItemType:
        """The type the public sees: the treatment's output (a band is text), else the item's own."""
        return self.output_type or self.type

    @property
    def range_text(self) -> str:
        """The allowed range as people write it, for data dictionaries: "2013–2017", "≥ 0",
        "≤ 100" (never "[2013.0, 2017.0]"); "" without a range."""
        low, high = self.range or (None, None)
        if low is not None and high is not None:
            return f"{_number_text(low)}–{_number_text(high)}"
        if low is not None:
            return f"≥ {_number_text(low)}"
        return f"≤ {_number_text(high)}" if high is not None else ""


def _number_text(value: float) -> str:
    """2013.0 -> "2013", 0.5 -> "0.5": a bound read as people write it."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _inferred_mask(item: Item) -> MaskKind | None:
    """What `treatment: mask` masks when the entry does not say: from the named check, the
    sample generator, or a pattern that accepts a mobile number."""
    gen = item.sample.get("gen")
    if item.pattern == "id_card" or gen == "id_card":
        return MaskKind.id_card
    if gen == "person_name":
        return MaskKind.name
    if gen == "email":
        return MaskKind.email
    if gen == "phone":
        return MaskKind.phone
    if item.pattern and item.pattern not in NAMED_PATTERNS:
        accepts = re.compile(item.pattern).fullmatch
        if accepts("13812341234") and not accepts("x"):
            return MaskKind.phone
    return None


NAMED_PATTERNS = {"uscc", "id_card"}

# What data exports commonly write for "no value"; an entry may replace the list (or set []).
DEFAULT_MISSING_VALUES = ("NA", "N/A", "n/a", "NULL", "null", "#N/A", "NaN")


def _email_address(value: str) -> str:
    """Catch a typo before the first notification bounces (a light check, not RFC 5322)."""
    if not re.fullmatch(r"[^@\s<>,;\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value):
        raise ValueError(f"{value!r} is not an e-mail address (name@domain)")
    return value


Email = Annotated[str, AfterValidator(_email_address)]


class Contact(BaseModel):
    """Who at a department hears about its refused, held-back and overdue deliveries (e-mail).

    An office or a role rather than a person's name: the catalog is shared widely."""

    model_config = ConfigDict(extra="forbid")

    name: str
    email: Email


class Bureau(BaseModel):
    """The data bureau itself (catalog/resources/bureau.yaml): it receives every notification."""

    model_config = ConfigDict(extra="forbid")

    name: str
    name_en: str
    email: Email


class Provider(BaseModel):
    """信息资源提供方: the department, declared once in catalog/resources/departments.yaml.

    Entries name it by slug (`provider: market_supervision`); the loader puts this record in.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    name_en: str
    code: str  # 提供方代码: the department's unified social credit code (GB 32100-2015, check character verified)
    slug: str  # key in departments.yaml, folder name under catalog/resources, organisation name on the portal
    # Where its notifications go; a department without one is reached through the bureau only.
    contact: Contact | None = None

    @field_validator("slug")
    @classmethod
    def _slug_is_folder_name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,62}", v):
            raise ValueError(f"department slug {v!r} must be snake_case ASCII (it names a folder and a portal organisation)")
        return v

    @field_validator("code")
    @classmethod
    def _code_is_uscc(cls, v: str) -> str:
        """A department's code is its unified social credit code; a typo would be published as it is."""
        problem = uscc_problem(v)
        if problem:
            raise ValueError(f"code {v!r} is not a unified social credit code (GB 32100-2015): {problem}")
        return v


class Share(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ShareType
    condition: str | None = None
    method: str = "共享平台"

    @model_validator(mode="after")
    def _condition_unless_unconditional(self) -> Share:
        if self.type is not ShareType.unconditional and not self.condition:
            raise ValueError(f"share.condition is required when share.type is {self.type.value}")
        return self


class Open(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: OpenType
    condition: str | None = None

    @model_validator(mode="after")
    def _condition_if_conditional(self) -> Open:
        if self.type is OpenType.conditional and not self.condition:
            raise ValueError("open.condition is required when open.type is 有条件开放")
        return self


class SourceFormat(str, Enum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


SourceKind = Literal["file_drop", "http_api", "database"]
PULLED_KINDS = ("http_api", "database")
_IDENTIFIER = re.compile(r"[^\W\d]\w*", re.UNICODE)  # a column or table name (Unicode letters allowed)
_CONN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}")


def _identifier(v: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(v):
        raise ValueError(f"{what} {v!r} must be a plain column or table name (letters, digits, _)")
    return v


class NoPagination(BaseModel):
    """The whole answer comes in one response."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["none"] = "none"


class PagePagination(BaseModel):
    """`?page=1&page_size=100`, then page 2...; a short page is the last."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["page"]
    page_param: str = "page"
    size_param: str = "page_size"
    size: int = Field(100, ge=1, le=100_000)
    first_page: int = Field(1, ge=0)


class OffsetPagination(BaseModel):
    """`?offset=0&limit=100`, then offset 100...; a short page is the last."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1, le=100_000)


class CursorPagination(BaseModel):
    """The response names the next page: a cursor value sent back as `cursor_param`
    (`cursor_path`, e.g. `meta.next_cursor`), or a whole `next` URL (`next_url_path`, e.g.
    `links.next`). No cursor / no next URL: the last page."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str | None = None
    next_url_path: str | None = None

    @model_validator(mode="after")
    def _one_way_to_the_next_page(self) -> CursorPagination:
        if (self.cursor_path is None) == (self.next_url_path is None):
            raise ValueError("pagination: give exactly one of cursor_path (a cursor field) or next_url_path (a next-page URL field)")
        return self


Pagination = Annotated[NoPagination | PagePagination | OffsetPagination | CursorPagination, Field(discriminator="style")]


class HttpAuth(BaseModel):
    """Where the secret (the connection's password) goes: `Authorization: Bearer <secret>`,
    a named header (`X-API-Key: <secret>`) or a named query parameter (`?api_key=<secret>`)."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["bearer", "header", "query"]
    name: str | None = None  # header or query parameter name; bearer always uses Authorization

    @model_validator(mode="after")
    def _name_when_named(self) -> HttpAuth:
        if self.style != "bearer" and not self.name:
            raise ValueError(f"auth.name is required for auth.style {self.style} (the header or query parameter that carries the secret)")
        if self.style == "bearer" and self.name not in (None, "Authorization"):
            raise ValueError("auth.name: bearer auth always uses the Authorization header; use style header for another name")
        return self


# Settings that belong to one kind only; giving them to another kind is a mistake worth naming.
_KIND_FIELDS = {
    "file_drop": {"encoding", "sheet", "delimiter", "records_path"},
    "http_api": {"url", "records_path", "params", "pagination", "auth", "timeout_s", "attempts", "backoff_s", "max_pages"},
    "database": {"dialect", "table", "query", "mode", "watermark", "order_by", "chunk_rows", "timezone"},
}


class Source(BaseModel):
    """How the resource reaches us: `file_drop` files land in inbox/<table>/; `http_api` and
    `database` are pulled (connectors/pull/) into a JSON-lines delivery landed the same way.

    Pulled kinds take their secrets from the Airflow connection named by `connection`; the
    entry itself never holds a secret."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind = "file_drop"
    format: SourceFormat  # required for file_drop; pulled kinds default to (and must be) json
    encoding: str = "auto"  # what the department sends; the connector detects it anyway
    sheet: str | None = None
    delimiter: str = ","  # CSV: the one character between fields (`;`, `|`, or `tab`)
    sample_rows: int = 10_000  # default size of `kcdata sample`
    connection: str | None = None  # Airflow connection id holding host, login and secret
    # http_api
    url: str | None = None  # absolute, or a path (`/v1/items`) on the connection's host
    records_path: str = ""  # dotted path of the records list in each response or JSON file (`data.items`); "" = the top level
    params: dict[str, str] = Field(default_factory=dict)  # fixed query parameters
    pagination: Pagination = Field(default_factory=NoPagination)
    auth: HttpAuth | None = None
    timeout_s: float = Field(30.0, gt=0, le=600)
    attempts: int = Field(5, ge=1, le=20)  # tries per request on 429 / 5xx / timeouts
    backoff_s: float = Field(1.0, ge=0, le=60)  # first retry wait; doubles each try (Retry-After wins)
    max_pages: int = Field(1000, ge=1, le=1_000_000)  # safety cap: more pages than this is an error
    # database
    dialect: Literal["postgresql", "mysql"] | None = None  # default: from the connection's type
    table: str | None = None  # `table` or `schema.table`
    query: str | None = None  # one SELECT, instead of `table`
    mode: Literal["full", "incremental"] = "full"
    watermark: str | None = None  # column; incremental pulls take rows above the last committed value
    order_by: list[str] = Field(default_factory=list)  # stable row order (identical bytes when unchanged)
    chunk_rows: int = Field(10_000, ge=1, le=1_000_000)  # rows fetched and written per round trip
    timezone: str = "Asia/Shanghai"  # zone that timezone-aware timestamps are written in

    @model_validator(mode="before")
    @classmethod
    def _pulled_default_json(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") in PULLED_KINDS and data.get("format") is None:
            data = {**data, "format": SourceFormat.json.value}
        return data

    @model_validator(mode="after")
    def _settings_fit_kind(self) -> Source:
        own = _KIND_FIELDS[self.kind]
        foreign = sorted({f for k, names in _KIND_FIELDS.items() if k != self.kind for f in (names - own) & self.model_fields_set})
        if foreign:
            raise ValueError(f"source.{foreign[0]} does not apply to kind {self.kind} (settings given: {', '.join(foreign)})")
        if self.kind in PULLED_KINDS and self.format is not SourceFormat.json:
            raise ValueError(f"source.format: a pulled source ({self.kind}) is delivered as JSON lines; omit format or say json")
        if self.connection is not None and not _CONN_ID.fullmatch(self.connection):
            raise ValueError(f"source.connection {self.connection!r} is not an Airflow connection id (letters, digits, _ . -)")
        if self.kind == "file_drop" and self.connection is not None:
            raise ValueError("source.connection does not apply to kind file_drop (departments drop files; nothing is pulled)")
        if any(not p for p in self.records_path.split(".")) and self.records_path:
            raise ValueError(f"source.records_path {self.records_path!r} must be dotted field names, e.g. data.items")
        if self.kind == "file_drop":
            self._check_file_drop()
        if self.kind == "http_api":
            self._check_http()
        if self.kind == "database":
            self._check_database()
        return self

    @field_validator("delimiter", mode="before")
    @classmethod
    def _one_character(cls, v: Any) -> Any:
        """`tab` and the two characters `\\t` (YAML's single quotes keep them) both mean a tab."""
        v = "\t" if isinstance(v, str) and v.strip().lower() in ("tab", "\\t") else v
        if not isinstance(v, str) or len(v) != 1 or v in "\"\r\n":
            raise ValueError(f"source.delimiter {v!r} must be one character other than a quote or a line end (`;`, `|`, or `tab`)")
        return v

    def _check_file_drop(self) -> None:
        if "delimiter" in self.model_fields_set and self.format is not SourceFormat.csv:
            raise ValueError(f"source.delimiter applies to CSV deliveries, not {self.format.value}")
        if self.records_path and self.format is not SourceFormat.json:
            raise ValueError(f"source.records_path applies to JSON deliveries, not {self.format.value}")

    def _check_http(self) -> None:
        if not self.url:
            raise ValueError("source.url is required for kind http_api (https://host/path, or /path on the connection's host)")
        parts = urlsplit(self.url)
        if self.url.startswith("/"):
            if not self.connection:
                raise ValueError(f"source.url {self.url!r} is a path: give source.connection (its host) or an absolute URL")
        elif parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"source.url {self.url!r} must be an http(s) URL or a path starting with /")
        if parts.username or parts.password:
            raise ValueError("source.url must not carry a login or password; put them in the Airflow connection")
        if self.auth is not None and not self.connection:
            raise ValueError("source.auth needs source.connection: the secret comes from that Airflow connection")

    def _check_database(self) -> None:
        if not self.connection:
            raise ValueError("source.connection is required for kind database (the Airflow connection of the database)")
        if (self.table is None) == (self.query is None):
            raise ValueError("source: give exactly one of source.table or source.query for kind database")
        if self.table is not None:
            for part in self.table.split("."):
                _identifier(part, "source.table")
            if self.table.count(".") > 1:
                raise ValueError(f"source.table {self.table!r}: at most schema.table")
        if self.query is not None:
            body = self.query.strip().rstrip(";").strip()
            if not re.match(r"(?is)^(select|with)\b", body) or ";" in body:
                raise ValueError("source.query must be one SELECT (or WITH ... SELECT) statement")
        if self.mode == "incremental" and not self.watermark:
            raise ValueError("source.watermark is required when source.mode is incremental (the column that only grows)")
        if self.watermark is not None:
            _identifier(self.watermark, "source.watermark")
        for column in self.order_by:
            _identifier(column, "source.order_by")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"source.timezone {self.timezone!r} is not a known time zone (e.g. Asia/Shanghai)") from exc

    @property
    def pulled(self) -> bool:
        """Whether kcdata fetches the data itself (http_api, database) rather than waiting for a file."""
        return self.kind in PULLED_KINDS

    @property
    def connection_id(self) -> str | None:
        """The Airflow connection id whose credentials a pull uses (None: no secret needed)."""
        return self.connection if self.pulled else None


# Bare words a DuckDB expression may hold that are syntax, not column names (lowercased). Type
# names, interval units, extract() parts and typed literals are told apart by where they stand
# (see _expression_names), so `year` or `date` stay usable as item codes.
_SQL_WORDS = frozenset("""
    all and any array as asc asymmetric at between both by case collate current current_date current_time
    current_timestamp desc distinct else end escape exclude exists false filter first following from glob
    group groups ignore ilike in interval is isnull lambda last like localtime localtimestamp map no not
    notnull null nulls or order others over partition preceding precision range respect row rows similar
    some symmetric then ties time to true unbounded varying when where with within without zone
""".split())
_SQL_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|[^\W\d]\w*|\d[\w.]*|::|:=|->|\S""", re.S)


def _lambda_params(tokens: list[str]) -> set[str]:
    """Names bound by lambdas (`x -> x + 1`, `(k, v) -> ...`, `lambda x: ...`): not columns."""
    params: set[str] = set()
    for n, tok in enumerate(tokens):
        if tok == "->" and n and tokens[n - 1] == ")":
            start = max((k for k in range(n) if tokens[k] == "("), default=n)
            params.update(w.lower() for w in tokens[start + 1 : n - 1] if w != ",")
        elif tok == "->" and n:
            params.add(tokens[n - 1].lower())
        elif tok.lower() == "lambda":
            end = tokens.index(":", n) if ":" in tokens[n:] else n
            params.update(w.lower() for w in tokens[n + 1 : end] if w != ",")
    return params


def _is_column(tokens: list[str], n: int) -> bool:
    """Whether the bare word at `n` is a column reference, judged by its neighbours."""
    word, prev, nxt = tokens[n].lower(), tokens[n - 1].lower() if n else "", tokens[n + 1] if n + 1 < len(tokens) else ""
    before_prev = tokens[n - 2].lower() if n > 1 else ""
    if word in _SQL_WORDS or prev in (".", "::", "as", "collate") or nxt in ("(", ":=") or nxt.startswith("'"):
        return False  # syntax, a struct field, a type, a collation, a function, a named argument or a typed literal
    if before_prev == "interval" and (prev[:1].isdigit() or prev.startswith("'")):
        return False  # the unit of `interval 1 day`
    return not (prev == "(" and before_prev == "extract")  # extract(year from ...)


def _expression_names(expression: str) -> set[str]:
    """The column names a DuckDB SQL expression uses (lowercased, as DuckDB matches them):
    bare or "quoted" identifiers that are not functions, keywords, types, units or lambda names."""
    tokens = [t for t in _SQL_TOKEN.findall(expression) if not t.startswith(("--", "/*"))]
    params = _lambda_params(tokens)
    names = set()
    for n, tok in enumerate(tokens):
        if tok.startswith('"') and not (n and tokens[n - 1] == "."):
            names.add(tok[1:-1].replace('""', '"').lower())
        elif (tok[0].isalpha() or tok[0] == "_") and _is_column(tokens, n):
            names.add(tok.lower())
    return names - params


def _check_derived_names(item: Item, codes: set[str], sent: set[str]) -> None:
    """A derived expression names sent items only: not other derived items, not unknown names."""
    names = _expression_names(item.derived or "")
    chained = sorted(names & (codes - sent))
    if chained:
        raise ValueError(f"item {item.code}: derived from other derived items {chained}; derive from sent items only")
    unknown = sorted(names - codes)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(sent), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(
            f"item {item.code} ({item.name}): derived names {', '.join(map(repr, unknown))}, not an item of this entry{hint}; "
            f"derive from the sent items: {', '.join(sorted(sent))}"
        )


class Resource(BaseModel):
    """One data resource (信息资源) of the catalog."""

    model_config = ConfigDict(extra="forbid")

    code: str  # 信息资源代码
    table: str  # snake_case name used by dbt and the lake
    name: str
    name_en: str
    category: str  # 类/项/目/细目 path
    provider: Provider
    summary: str
    format: str  # 信息资源格式
    items: list[Item]
    key: list[str] = Field(default_factory=list)  # compound primary key, item codes
    share: Share
    open: Open
    update_cycle: UpdateCycle
    published_at: date
    related: list[str] = Field(default_factory=list)
    grade: Grade
    source: Source
    max_bad_share: float = Field(0.05, ge=0, le=1)  # quarantined share above which a batch fails
    # Cell texts that mean "no value" for every item (an item's own `missing_values` wins).
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    # Trim edge whitespace of every cell before checking, counted as a warning (false: quarantine it).
    trim: bool = True
    # 开放许可: SPDX id of an open licence in catalog/licences.py (the portal shows nothing closed).
    licence: str = DEFAULT_LICENCE
    # 署名: the text users must show when they reuse the data; None = "来源：<provider>".
    attribution: str | None = None
    origin: str = ""  # 数据来源: how and where the department collects the data
    keywords: list[str] = Field(default_factory=list)  # 关键词 beyond the defaults (see all_keywords)
    # The entry's file as people name it (set by catalog.entries), for messages that say what to edit.
    _entry_file: str | None = PrivateAttr(default=None)

    @field_validator("licence")
    @classmethod
    def _open_licence(cls, v: str) -> str:
        return _open_licence(v).spdx

    @field_validator("keywords")
    @classmethod
    def _keywords_not_blank(cls, v: list[str]) -> list[str]:
        if any(not k.strip() for k in v):
            raise ValueError("keywords must not contain empty words")
        return [k.strip() for k in v]

    @field_validator("table")
    @classmethod
    def _table_is_identifier(cls, v: str) -> str:
        """The table names a dbt model, a lake folder and an inbox folder: one plain identifier."""
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,47}", v):
            raise ValueError(
                f"table {v!r} must be snake_case: lowercase ASCII letters, digits and _, starting with a letter, "
                "at most 48 characters (it names a dbt model, a lake folder and an inbox folder)"
            )
        return v

    @field_validator("code")
    @classmethod
    def _code_format(cls, v: str) -> str:
        if not re.fullmatch(r"KC-[A-Z]{2,6}-\d{3}", v):
            raise ValueError(f"resource code {v!r} must look like KC-SCJG-001")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Resource:
        codes = [i.code for i in self.items]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"duplicate item codes: {sorted(dupes)}")
        headers = [h for i in self.items for h in (i.name, *i.aliases)]
        dup_headers = {h for h in headers if headers.count(h) > 1}
        if dup_headers:
            raise ValueError(f"a header maps to two items: {sorted(dup_headers)}")
        missing = [k for k in self.key if k not in codes]
        if missing:
            raise ValueError(f"key names unknown items: {missing}")
        self._check_derived(codes)
        for i in self.items:
            if i.references and i.references not in self.related:
                raise ValueError(f"item {i.code} references {i.references}, which is not in `related`")
        if self.open.type is not OpenType.none and self.grade is Grade.core:
            raise ValueError(
                f"core data (核心数据) never leaves the lake, so it cannot be {self.open.type.value}; set open.type to 不予开放"
            )
        for i in self.items:
            if self.grade is Grade.important and i.sensitivity is Sensitivity.internal and i.treatment == KEEP:
                raise ValueError(
                    f"item {i.code}: an internal item of an important (重要) resource cannot be kept as it is; "
                    "drop, mask, generalise or pseudonymise it"
                )
            if i.code in self.key and i.treatment is not None and i.treatment.kind in (TreatmentKind.mask, TreatmentKind.generalise):
                raise ValueError(
                    f"item {i.code}: a key item cannot be masked or generalised (rows would no longer be told apart); "
                    "keep, pseudonymise or drop it"
                )
        return self

    def _check_derived(self, codes: list[str]) -> None:
        """A derived item may only use items that are sent (no chains, no unknown names)."""
        sent = {i.code for i in self.items if not i.derived}
        if not sent:
            raise ValueError("every item is derived: at least one item must be sent by the department")
        derived_keys = [k for k in self.key if k not in sent]
        if derived_keys:
            raise ValueError(f"key item(s) {derived_keys} are derived; key on the sent items they are computed from")
        for i in self.items:
            if i.derived:
                _check_derived_names(i, set(codes), sent)

    def item(self, code: str) -> Item:
        return next(i for i in self.items if i.code == code)

    def missing_tokens(self, item: Item) -> list[str]:
        """The cell texts that are missing values for `item` (the empty cell always is)."""
        return [t for t in (item.missing_values if item.missing_values is not None else self.missing_values) if t != ""]

    def trims(self, item: Item) -> bool:
        """Whether `item`'s cells are trimmed of edge whitespace (the item's `trim`, else the entry's)."""
        return self.trim if item.trim is None else item.trim

    @property
    def source_items(self) -> list[Item]:
        """The items departments send (everything but derived items), in catalog order."""
        return [i for i in self.items if not i.derived]

    @property
    def has_personal_items(self) -> bool:
        return any(i.personal for i in self.items)

    @property
    def entry_file(self) -> str:
        """The entry's YAML file (as the loader found it; else where it would live)."""
        return self._entry_file or f"catalog/resources/{self.provider.slug}/{self.table}.yaml"

    def publication_problems(self) -> list[str]:
        """Why nothing of this resource may leave the lake, whatever a reviewer says ([] if
        none): core data, or items whose sensitivity nobody declared."""
        problems = []
        if self.grade is Grade.core:
            problems.append(f"{self.code}: core data (核心数据) never leaves the lake")
        problems += [
            f"{self.entry_file}: item {i.code} has no sensitivity; declare public, internal, personal or sensitive_personal"
            for i in self.items
            if i.sensitivity is None
        ]
        return problems

    @property
    def treatments(self) -> list[tuple[str, str]]:
        """(item code, effective treatment spec or `undeclared`) for every item: part of the
        rules signature, so a changed treatment makes a new open view instead of reusing one."""
        return [(i.code, i.effective_treatment.spec if i.effective_treatment else "undeclared")
                for i in self.items]

    @property
    def published_items(self) -> list[Item]:
        """The items whose (treated) column is in the open view, in catalog order."""
        return [i for i in self.items if i.output_type is not None]

    @property
    def attribution_text(self) -> str:
        """署名: what a reuser must show; defaults to naming the providing department."""
        if self.attribution:
            return self.attribution
        return f"来源：{self.provider.name}（{self.provider.name_en}）"

    @property
    def all_keywords(self) -> list[str]:
        """关键词 for search: the entry's own, then the provider's short name and the category parts.

        Defaults mean every resource is findable by department and category without an entry
        having to repeat them; order is kept and duplicates dropped."""
        short = re.sub(r"^(广州市|黄埔区)", "", self.provider.name)
        words = [*self.keywords, short, *self.category.split("/")[1:]]  # not the 类 (基础/主题信息资源)
        return list(dict.fromkeys(w.strip() for w in words if w.strip()))
