"""Column generators named by the `sample: {gen: ...}` block of each catalog item.

Each generator turns one chunk of rows [start, start + n) into a pyarrow string array with
numpy and pyarrow.compute, so 10 million rows stay fast and bounded in memory. Values are
text exactly as a department would send them; the writers decide numeric/date cell types.
Codes with check characters go through common.codes so samples and expectations agree.
"""
from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.model import NAMED_PATTERNS, Item, ItemType, Resource
from common.codes import USCC_CHARSET, id_card_check_char, patent_check_char, uscc_check_char


class SampleSpecError(ValueError):
    """A `sample:` block that cannot produce values satisfying its item's own rules."""


@dataclass
class Chunk:
    """What a generator sees: rows [start, start + n) of one item of one resource."""

    resource: Resource
    item: Item
    params: dict[str, Any]
    start: int
    n: int
    rng: np.random.Generator
    seed: int  # run seed: uscc/company_name depend on it and the row only, so resources join
    state: dict[str, Any] = field(default_factory=dict)  # kept across chunks (counters)
    columns: dict[str, pa.Array] = field(default_factory=dict)  # this chunk, already generated

    @property
    def index(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.n, dtype=np.int64)


Generator = Callable[[Chunk], pa.Array]

# ----------------------------------------------------------------------------- helpers


def _strings(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string())


def _take(values: list[str], idx: np.ndarray) -> pa.Array:
    return _strings(values).take(pa.array(idx, pa.int64()))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _digits(nums: np.ndarray, width: int = 0) -> pa.Array:
    text = pc.cast(pa.array(nums, pa.int64()), pa.string())
    return pc.utf8_lpad(text, width, "0") if width else text


def _ascii_matrix(mat: np.ndarray) -> pa.Array:
    """Rows of an (n, width) uint8 matrix of ASCII codes as one string array, zero-copy."""
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(mat, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _mix(seed: int, index: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of (seed, salt, row): a value per row that does not depend on the resource."""
    offset = np.uint64((seed * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) % 2**64)
    z = index.astype(np.uint64) + offset
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _pick(rng: np.random.Generator, n: int, weights: list[float]) -> np.ndarray:
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    return np.searchsorted(cum / cum[-1], rng.random(n), side="right").clip(0, len(weights) - 1)


def _ranks(keys: np.ndarray, counts: dict[int, int]) -> np.ndarray:
    """Occurrence number of each key over all chunks so far (0 for the first one); updates counts."""
    uniq, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.arange(len(keys)) - np.repeat(starts, sizes)
    base = np.array([counts.get(int(k), 0) for k in uniq], dtype=np.int64)
    for k, s in zip(uniq.tolist(), sizes.tolist(), strict=True):
        counts[k] = counts.get(k, 0) + s
    return ranks + base[inverse]


def _with_check(first: pa.Array, check: Callable[[str], str], between: str = "") -> pa.Array:
    """Append the check character computed by common.codes (Python per value, by design)."""
    return _strings([s + between + check(s) for s in first.to_pylist()])


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


_EPOCH = datetime(1970, 1, 1)


def _days(d: date) -> int:
    return (d - _EPOCH.date()).days


def _seconds(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds())


def _date_text(days: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(days.astype("datetime64[D]")), pa.string())


def _datetime_text(seconds: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(seconds.astype("datetime64[s]")), pa.string())


def _bounds(ctx: Chunk, lo_key: str, hi_key: str) -> tuple[float, float]:
    """Sample min/max, defaulting to and clipped by the item's range."""
    rlo, rhi = ctx.item.range or (None, None)
    lo = ctx.params.get(lo_key, rlo)
    hi = ctx.params.get(hi_key, rhi)
    if lo is None or hi is None:
        raise SampleSpecError(f"item {ctx.item.code}: gen {ctx.params['gen']} needs min and max (or a range)")
    lo = lo if rlo is None else max(lo, rlo)
    hi = hi if rhi is None else min(hi, rhi)
    if lo > hi:
        raise SampleSpecError(f"item {ctx.item.code}: sample min/max do not overlap the item's range")
    return lo, hi


def _find_item(resource: Resource, test: Callable[[Item], bool]) -> str | None:
    return next((i.code for i in resource.source_items if test(i)), None)


# ----------------------------------------------------------------------------- word lists

_SURNAMES = (
    "陈 李 黄 张 梁 林 刘 吴 罗 杨 何 郑 王 周 谢 赵 徐 朱 胡 郭 叶 曾 冯 邓 彭 苏 许 蔡 卢 钟 "
    "潘 杜 袁 温 余 邱 廖 马 孙 高 唐 宋 韩 曹 方 江 沈 汤 姚 丁 欧阳 莫 董 程 邹 范 石 陆 魏 龙"
).split()
_SURNAME_WEIGHTS = [1.0 / (r + 4) for r in range(len(_SURNAMES))]
_GIVEN = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 华 建 国 志 文 红 玲 辉 斌 鹏 "
    "宇 浩 俊 婷 雪 琳 晨 欣 怡 佳 嘉 子 梓 思 雨 晓 海 峰 颖 慧 倩 秀 英 兰 桂 凤 春 云 荣 新 "
    "亮 健 飞 彬 鑫 博 帆 然 轩 睿 泽 宏 家 永 德 振 兴 立 成 锦 豪 诗 琪 萱 悦 瑶 妍 梦 蕾 薇 "
    "炜 毅 航 伦 坤 彤 莉 珊 燕 晴 泳 锋 铭 昊 逸 宁 安 达 耀 森"
).split()
_TRADE_CHARS = (
    "华 创 智 联 科 瑞 康 恒 达 信 源 泰 丰 盛 通 鼎 博 凯 立 新 天 弘 睿 宏 宇 航 晟 鑫 卓 越 "
    "汇 嘉 益 诚 拓 远 光 明 德 辰 安 正 和 易 迅 捷 领 优 芯 微 云 数 璟 峰 湾 岭 粤 穗 禾 屹"
).split()
_INDUSTRY_WORDS = (
    "科技 生物科技 信息技术 智能科技 电子科技 新材料科技 医药科技 半导体 软件 网络科技 智能装备 "
    "检测技术 环保科技 贸易 供应链管理 企业管理咨询 建设工程 实业 文化传播 生物医药 精密机械 "
    "新能源科技 数据科技 人工智能科技 光电科技 医疗器械 自动化设备"
).split()
_ROADS = (
    "知识大道 九佛西路 九佛东路 凤凰三路 凤凰五路 开泰大道 科学大道 开创大道 九龙大道 龙湖大道 "
    "新龙大道 亨元路 知明路 迳下路 萝岗大道 香雪大道 开源大道 水西路 崇德路 知慧路 永和大道 禾丰路"
).split()
_ADDRESS_TAILS = ["", "", "", "", "之一", "A栋", "B栋", "1栋101房", "2栋3楼", "首层", "自编1号"]
_STREETS = "九佛街 龙湖街 新龙镇 永和街 萝岗街 长岭街 联和街 东区街 夏港街 云埔街".split()
_SPECIALTIES = "眼科 口腔 妇产 儿童 骨科 皮肤病 康复 肿瘤 耳鼻喉 心血管病".split()
_MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 147 150 151 152 153 155 156 157 158 159 166 172 173 "
    "175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199"
).split()
_TECH = "深度学习 人工智能 区块链 图神经网络 机器视觉 多模态大模型 边缘计算 联邦学习 数字孪生 物联网 激光雷达 强化学习 知识图谱".split()
_TASKS = (
    "图像识别 语音增强 缺陷检测 交通流量预测 电池健康状态估计 医学影像分割 药物分子筛选 "
    "用户行为分析 设备故障诊断 路径规划 蛋白质结构预测 空气质量预测"
).split()
_METHOD_TAILS = ["方法", "方法及系统", "方法、装置及存储介质", "方法及电子设备"]
_ADJECTIVES = "高强度 耐高温 可降解 高导热 低介电 抗菌 柔性 高纯度 纳米 自修复".split()
_MATERIALS = (
    "聚酰亚胺薄膜 锂电池隔膜 陶瓷基复合材料 碳纤维复合材料 水凝胶 抗体偶联药物 石墨烯涂层 "
    "固态电解质 光刻胶 生物活性玻璃"
).split()
_DEVICES = (
    "晶圆清洗装置 智能巡检机器人 自动化上下料机构 细胞培养装置 散热结构 传感器封装结构 "
    "检测夹具 电池模组 移液装置 无人机起落架 光伏支架 充电桩散热装置"
).split()
_PRODUCTS = "智能音箱 车载充电器 无人机 服务机器人 手机保护壳 智能手表 空气净化器 医用监护仪 电动牙刷 扫地机器人".split()
_PRODUCT_TAILS = ["", "", "（A款）", "（B款）", "（Pro）", "（一）", "（二）"]
_PATENT_TYPES = {"发明": 1, "实用新型": 2, "外观设计": 3}
_ID_REGIONS = "440112 440106 440111 440104 440105 440103 440113 440114 440115 440117 440118".split()
_USCC_DIVISIONS = ["440101", "440112", "440116"]

# ----------------------------------------------------------------------------- simple generators


def gen_seq(ctx: Chunk) -> pa.Array:
    """format.format(i + 1), or of (i % modulo) + 1; vectorised for '<prefix>{:0Nd}<suffix>'."""
    fmt = str(ctx.params.get("format", "{}"))
    modulo = ctx.params.get("modulo")
    nums = (ctx.index % int(modulo) if modulo else ctx.index) + 1
    parts = list(string.Formatter().parse(fmt))
    fields = [p for p in parts if p[1] is not None]
    spec = re.fullmatch(r"(0?)(\d*)d?", fields[0][2] or "") if len(fields) == 1 else None
    if spec is None or fields[0][1] not in ("", "0") or fields[0][3] is not None:
        return _strings([fmt.format(int(k)) for k in nums])
    at = next(k for k, p in enumerate(parts) if p[1] is not None)
    prefix = "".join(p[0] for p in parts[: at + 1])
    suffix = "".join(p[0] for p in parts[at + 1 :])
    text = pc.cast(pa.array(nums), pa.string())
    if spec.group(2):
        text = pc.utf8_lpad(text, int(spec.group(2)), "0" if spec.group(1) else " ")
    return _join(prefix, text, suffix)


def _values(ctx: Chunk) -> list[str]:
    values = ctx.params.get("values", ctx.item.allowed)
    if not values:
        raise SampleSpecError(f"item {ctx.item.code}: gen {ctx.params['gen']} needs values or allowed")
    return [str(v) for v in values]


def gen_choice(ctx: Chunk) -> pa.Array:
    values = _values(ctx)
    weights = ctx.params.get("weights") or [1] * len(values)
    if len(weights) != len(values):
        raise SampleSpecError(f"item {ctx.item.code}: {len(weights)} weights for {len(values)} values")
    return _take(values, _pick(ctx.rng, ctx.n, weights))


def gen_cycle(ctx: Chunk) -> pa.Array:
    values = _values(ctx)
    return _take(values, ctx.index % len(values))


def gen_int(ctx: Chunk) -> pa.Array:
    lo, hi = _bounds(ctx, "min", "max")
    return _digits(ctx.rng.integers(math.ceil(lo), math.floor(hi) + 1, size=ctx.n))


def gen_float(ctx: Chunk) -> pa.Array:
    """Fixed decimals from scaled integers: exact text, no binary-float surprises."""
    decimals = int(ctx.params.get("decimals", 2))
    lo, hi = _bounds(ctx, "min", "max")
    scale = 10**decimals
    scaled = ctx.rng.integers(math.ceil(lo * scale - 1e-9), math.floor(hi * scale + 1e-9) + 1, size=ctx.n)
    if decimals == 0:
        return _digits(scaled)
    text = _digits(np.abs(scaled), decimals + 1)
    whole = pc.utf8_slice_codeunits(text, start=0, stop=-decimals)
    frac = pc.utf8_slice_codeunits(text, start=-decimals)
    return _join(pc.if_else(pa.array(scaled < 0), "-", ""), whole, ".", frac)


def gen_date(ctx: Chunk) -> pa.Array:
    lo, hi = _days(_as_date(ctx.params["start"])), _days(_as_date(ctx.params["end"]))
    return _date_text(ctx.rng.integers(lo, hi + 1, size=ctx.n))


def gen_datetime(ctx: Chunk) -> pa.Array:
    lo, hi = _seconds(_as_datetime(ctx.params["start"])), _seconds(_as_datetime(ctx.params["end"]))
    return _datetime_text(ctx.rng.integers(lo, hi + 1, size=ctx.n))


def gen_series(ctx: Chunk) -> pa.Array:
    start = _seconds(_as_datetime(ctx.params["start"]))
    step, per = int(ctx.params.get("step_seconds", 3600)), int(ctx.params.get("per", 1))
    return _datetime_text(start + (ctx.index // per) * step)


# ----------------------------------------------------------------------------- codes


def gen_uscc(ctx: Chunk) -> pa.Array:
    """91 + division + 'MA' + 5/9 + 5 chars encoding the row (scrambled bijectively) + GB 11714 + USCC checks.

    A function of (seed, row) only, so row i of every resource names the same enterprise.
    """
    space = 2 * 31**5
    if ctx.start + ctx.n > space:
        raise SampleSpecError(f"item {ctx.item.code}: uscc supports at most {space} rows")
    body = (35_092_283 * ctx.index + ctx.seed % space) % space  # multiplier coprime to 2 and 31
    charset = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)
    mat = np.empty((ctx.n, 17), dtype=np.uint8)
    mat[:, 0:2] = np.frombuffer(b"91", dtype=np.uint8)
    division = np.searchsorted([55, 92], _mix(ctx.seed, ctx.index, 1) % np.uint64(100), side="right")
    mat[:, 2:8] = np.frombuffer("".join(_USCC_DIVISIONS).encode(), dtype=np.uint8).reshape(-1, 6)[division]
    mat[:, 8:10] = np.frombuffer(b"MA", dtype=np.uint8)
    for pos in range(15, 10, -1):
        mat[:, pos] = charset[body % 31]
        body //= 31
    mat[:, 10] = np.where(body == 0, ord("5"), ord("9"))  # Guangzhou codes since 2015: MA5…, MA9…
    org = mat[:, 8:16].astype(np.int64)  # GB 11714 organisation code check character
    values = np.where(org >= 65, org - 55, org - 48)
    r = 11 - (values @ np.array([3, 7, 9, 10, 5, 8, 4, 2])) % 11
    mat[:, 16] = np.where(r == 10, ord("X"), np.where(r == 11, ord("0"), r + 48))
    return _with_check(_ascii_matrix(mat), uscc_check_char)


def _id_card_deps(item: Item, resource: Resource) -> list[str]:
    return [c for c in (_birth_item(item, resource), _gender_item(item, resource)) if c]


def _birth_item(item: Item, resource: Resource) -> str | None:
    return item.sample.get("birth_from") or _find_item(
        resource, lambda i: i.type is ItemType.D and (i.code == "birth_date" or i.name == "出生日期")
    )


def _gender_item(item: Item, resource: Resource) -> str | None:
    return item.sample.get("gender_from") or _find_item(resource, lambda i: set(i.allowed or []) == {"男", "女"})


def gen_id_card(ctx: Chunk) -> pa.Array:
    """440112 + birth date + sequence (odd for men) + check; agrees with the row's birth date and gender.

    The sequence counts rows per (birth date, gender) over the whole file, moving on to the next
    Guangzhou district code after 499, so numbers are unique without a global set.
    """
    birth, gender = _birth_item(ctx.item, ctx.resource), _gender_item(ctx.item, ctx.resource)
    if birth:
        days = pc.cast(ctx.columns[birth], pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
        days = days.astype(np.int64)
    else:
        days = ctx.rng.integers(_days(date(1960, 1, 1)), _days(date(2003, 12, 31)) + 1, size=ctx.n)
    male = pc.equal(ctx.columns[gender], "男").to_numpy(zero_copy_only=False) if gender else ctx.rng.random(ctx.n) < 0.5
    rank = _ranks(days * 2 + male, ctx.state.setdefault("counts", {}))
    region, within = rank // 499, rank % 499
    if region.max(initial=0) >= len(_ID_REGIONS):
        raise SampleSpecError(f"item {ctx.item.code}: too many people born on one day for unique ID numbers")
    within = (within * 173 + days % 499) % 499  # 499 is prime: a bijection, so numbers look issued
    seq = np.where(male, 2 * within + 1, 2 * within + 2)
    ymd = pc.replace_substring(_date_text(days), "-", "")
    return _with_check(_join(_take(_ID_REGIONS, region), ymd, _digits(seq, 3)), id_card_check_char)


def _patent_type_item(item: Item, resource: Resource) -> str | None:
    return item.sample.get("type_from") or _find_item(resource, lambda i: set(_PATENT_TYPES) <= set(i.allowed or []))


def _patent_no_deps(item: Item, resource: Resource) -> list[str]:
    granted = item.sample.get("granted_from") or _find_item(
        resource, lambda i: i.type is ItemType.D and (i.code == "granted_on" or i.name == "授权公告日")
    )
    return [c for c in (_patent_type_item(item, resource), granted) if c]


def gen_patent_no(ctx: Chunk) -> pa.Array:
    """ZL + application year + type digit + 7-digit serial + '.' + check; year/type agree with the row."""
    deps = _patent_no_deps(ctx.item, ctx.resource)
    type_item = _patent_type_item(ctx.item, ctx.resource)
    granted = next((c for c in deps if c != type_item), None)
    kind = _pick(ctx.rng, ctx.n, [45, 40, 15]) + 1
    if type_item:
        text = ctx.columns[type_item].to_pylist()
        mapped = np.array([_PATENT_TYPES.get(t, 0) for t in text], dtype=np.int64)
        kind = np.where(mapped > 0, mapped, kind)
    if granted:
        grant_year = pc.year(pc.cast(ctx.columns[granted], pa.date32())).to_numpy(zero_copy_only=False)
        lag = np.where(kind == 1, ctx.rng.integers(1, 4, size=ctx.n), ctx.rng.integers(0, 2, size=ctx.n))
        year = np.clip(grant_year - lag, 2015, 2025)
    else:
        year = ctx.rng.integers(2015, 2026, size=ctx.n)
    rank = _ranks(year * 10 + kind, ctx.state.setdefault("counts", {}))
    if rank.max(initial=0) >= 10**7:
        raise SampleSpecError(f"item {ctx.item.code}: more than 10 million patents of one year and type")
    offset = (_mix(ctx.seed, year * 10 + kind, 3) % np.uint64(10**7)).astype(np.int64)
    serial = (3_000_017 * rank + offset) % 10**7  # 3000017 is coprime to 10: a bijection per group
    digits = _join(_digits(year), _digits(kind), _digits(serial, 7))
    return _join("ZL", _with_check(digits, patent_check_char, "."))


# ----------------------------------------------------------------------------- names and text


def _person_names(rng: np.random.Generator, n: int) -> pa.Array:
    surname = _take(_SURNAMES, _pick(rng, n, _SURNAME_WEIGHTS))
    first = _take(_GIVEN, rng.integers(0, len(_GIVEN), size=n))
    second = _take(_GIVEN, rng.integers(0, len(_GIVEN), size=n))
    second = pc.if_else(pa.array(rng.random(n) < 0.25), "", second)
    return _join(surname, first, second)


def gen_person_name(ctx: Chunk) -> pa.Array:
    return _person_names(ctx.rng, ctx.n)


def _trade_names(rng: np.random.Generator, n: int) -> pa.Array:
    a = rng.integers(0, len(_TRADE_CHARS), size=n)
    b = (a + rng.integers(1, len(_TRADE_CHARS), size=n)) % len(_TRADE_CHARS)  # two different characters
    return _join(_take(_TRADE_CHARS, a), _take(_TRADE_CHARS, b))


def gen_company_name(ctx: Chunk) -> pa.Array:
    """广州(市) + 字号 + 行业词 + 有限公司; a function of (seed, row) so it matches gen uscc's enterprise."""
    h = _mix(ctx.seed, ctx.index, 2)
    nt = len(_TRADE_CHARS)
    a = (h % np.uint64(nt)).astype(np.int64)
    b = (a + 1 + ((h >> np.uint64(8)) % np.uint64(nt - 1)).astype(np.int64)) % nt
    industry = ((h >> np.uint64(16)) % np.uint64(len(_INDUSTRY_WORDS))).astype(np.int64)
    city = np.where((h >> np.uint64(24)) % np.uint64(10) < 3, 1, 0)
    suffix = np.where((h >> np.uint64(32)) % np.uint64(100) < 7, 1, 0)
    return _join(
        _take(["广州", "广州市"], city),
        _take(_TRADE_CHARS, a),
        _take(_TRADE_CHARS, b),
        _take(_INDUSTRY_WORDS, industry),
        _take(["有限公司", "股份有限公司"], suffix),
    )


def _clinic_type_item(item: Item, resource: Resource) -> str | None:
    return item.sample.get("type_from") or _find_item(resource, lambda i: "诊所" in (i.allowed or []))


def gen_clinic_name(ctx: Chunk) -> pa.Array:
    """A name that fits the row's institution type (医院, 社区卫生服务中心, 门诊部, 诊所)."""
    rng, n = ctx.rng, ctx.n
    trade, person = _trade_names(rng, n), _person_names(rng, n)
    pick = rng.integers(0, 2, size=n)
    specialty = _take(_SPECIALTIES, rng.integers(0, len(_SPECIALTIES), size=n))
    by_type = {
        "综合医院": _join(_take(["广州", "广州黄埔"], pick), trade, "医院"),
        "中医医院": _join("广州", trade, "中医医院"),
        "专科医院": _join("广州", trade, specialty, "医院"),
        "社区卫生服务中心": _join("广州市黄埔区", _take(_STREETS, rng.integers(0, len(_STREETS), size=n)), "社区卫生服务中心"),
        "门诊部": _join("广州", trade, _take(["门诊部", "口腔门诊部", "中医门诊部", "综合门诊部"], rng.integers(0, 4, size=n))),
        "诊所": pc.if_else(pa.array(pick == 0), _join("广州黄埔", person, _take(["诊所", "中医诊所"], rng.integers(0, 2, size=n))),
                         _join("广州", trade, _take(["口腔诊所", "诊所"], rng.integers(0, 2, size=n)))),
    }
    type_item = _clinic_type_item(ctx.item, ctx.resource)
    if type_item is None:
        return by_type["诊所"]
    names = list(by_type)
    kinds = [names.index(t) if t in by_type else names.index("诊所") for t in ctx.columns[type_item].to_pylist()]
    return pc.choose(pa.array(kinds, pa.int8()), *by_type.values())


def gen_address(ctx: Chunk) -> pa.Array:
    rng, n = ctx.rng, ctx.n
    road = _take(_ROADS, rng.integers(0, len(_ROADS), size=n))
    number = _digits(np.minimum(rng.geometric(1 / 120, size=n), 999))
    return _join("广州市黄埔区", road, number, "号", _take(_ADDRESS_TAILS, rng.integers(0, len(_ADDRESS_TAILS), size=n)))


def gen_phone(ctx: Chunk) -> pa.Array:
    prefix = _take(_MOBILE_PREFIXES, ctx.rng.integers(0, len(_MOBILE_PREFIXES), size=ctx.n))
    return _join(prefix, _digits(ctx.rng.integers(0, 10**8, size=ctx.n), 8))


def gen_patent_title(ctx: Chunk) -> pa.Array:
    """Invention/utility titles start with 一种; design patents name the product."""
    rng, n = ctx.rng, ctx.n

    def word(words: list[str]) -> pa.Array:
        return _take(words, rng.integers(0, len(words), size=n))

    method = _join("一种基于", word(_TECH), "的", word(_TASKS), word(_METHOD_TAILS))
    material = _join("一种", word(_ADJECTIVES), word(_MATERIALS), "及其制备方法")
    invention = pc.if_else(pa.array(rng.random(n) < 0.6), method, material)
    utility = _join("一种", word(["", "", "新型", "便携式", "可调节", "模块化"]), word(_DEVICES))
    design = _join(word(_PRODUCTS), word(_PRODUCT_TAILS))
    type_item = _patent_type_item(ctx.item, ctx.resource)
    if type_item is None:
        return invention
    kinds = [_PATENT_TYPES.get(t, 1) - 1 for t in ctx.columns[type_item].to_pylist()]
    return pc.choose(pa.array(kinds, pa.int8()), invention, utility, design)


GENERATORS: dict[str, Generator] = {
    "seq": gen_seq,
    "uscc": gen_uscc,
    "id_card": gen_id_card,
    "patent_no": gen_patent_no,
    "choice": gen_choice,
    "cycle": gen_cycle,
    "int": gen_int,
    "float": gen_float,
    "date": gen_date,
    "datetime": gen_datetime,
    "series": gen_series,
    "person_name": gen_person_name,
    "company_name": gen_company_name,
    "clinic_name": gen_clinic_name,
    "address": gen_address,
    "phone": gen_phone,
    "patent_title": gen_patent_title,
}

# Generators that read other columns of the same row, and which ones.
DEPENDS: dict[str, Callable[[Item, Resource], list[str]]] = {
    "id_card": _id_card_deps,
    "patent_no": _patent_no_deps,
    "patent_title": lambda item, res: [c for c in [_patent_type_item(item, res)] if c],
    "clinic_name": lambda item, res: [c for c in [_clinic_type_item(item, res)] if c],
}


def generation_order(resource: Resource) -> list[Item]:
    """Items ordered so that every generator runs after the columns it reads."""
    done: list[Item] = []
    pending = list(resource.source_items)
    while pending:
        ready = [
            i for i in pending
            if all(d in {x.code for x in done} for d in DEPENDS.get(i.sample.get("gen", ""), lambda *_: [])(i, resource))
        ]
        if not ready:
            raise SampleSpecError(f"{resource.code}: circular sample dependencies among {[i.code for i in pending]}")
        done += ready
        pending = [i for i in pending if i not in ready]
    return done


def generate_column(ctx: Chunk) -> pa.Array:
    """Run the item's generator and check the result against the item's own rules."""
    name = ctx.params.get("gen")
    if name not in GENERATORS:
        raise SampleSpecError(
            f"{ctx.resource.code} item {ctx.item.code}: unknown sample gen {name!r}; known: {sorted(GENERATORS)}"
        )
    column = GENERATORS[name](ctx)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    check_clean(ctx.resource, ctx.item, column)
    return column.cast(pa.string())


_TYPE_PATTERNS = {
    ItemType.I: r"^-?[0-9]+$",
    ItemType.N: r"^-?[0-9]+(\.[0-9]+)?$",
    ItemType.D: r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    ItemType.T: r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
    ItemType.L: r"^(是|否)$",
}


def check_clean(resource: Resource, item: Item, column: pa.Array) -> None:
    """Refuse a sample block whose values would break the item's rules (cheap, vectorised)."""

    def fail(mask: pa.Array, rule: str) -> None:
        if not pc.all(mask).as_py():
            example = column.filter(pc.invert(mask))[0].as_py()
            raise SampleSpecError(
                f"{resource.code} item {item.code}: sample {item.sample} produced {example!r}, "
                f"which breaks {rule}; fix the sample block in the catalog entry"
            )

    if column.null_count:
        raise SampleSpecError(f"{resource.code} item {item.code}: generator produced missing values")
    if item.type in _TYPE_PATTERNS:
        fail(pc.match_substring_regex(column, _TYPE_PATTERNS[item.type]), f"type {item.type.value}")
    if item.pattern and item.pattern not in NAMED_PATTERNS:
        fail(pc.match_substring_regex(column, item.pattern), f"pattern {item.pattern!r}")
    if item.allowed:
        fail(pc.is_in(column, value_set=_strings(item.allowed)), f"allowed {item.allowed}")
    if item.range:
        lo, hi = item.range
        values = pc.cast(column, pa.float64())
        if lo is not None:
            fail(pc.greater_equal(values, lo), f"range {item.range}")
        if hi is not None:
            fail(pc.less_equal(values, hi), f"range {item.range}")
