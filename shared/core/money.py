"""Pattern rules for money amounts, plain quantities, percentages and dates in English and Chinese.

Used by the local analysis tier (amounts feed the Impact score) and reusable by translation QA:
"$500 million", "US$0.5 billion", "5亿美元" and "近5亿美元" all parse to 500,000,000 USD, so a
source and its translation can be compared by value rather than by text.

Currencies are ISO codes. ``¥``/``￥`` are read as CNY (Chinese-language usage; Japanese yen is
written 日元 / "yen" / JPY in the sources we handle). Conversion to USD uses the fixed table
``USD_PER_UNIT`` below: order-of-magnitude figures for scoring, not for accounting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

# Fixed conversion table (USD per unit of currency), rounded late-2025 rates. Versioned so a
# stored amount can say which table converted it.
USD_RATES_VERSION = "fixed-2025-11"
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "CNY": 0.14,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0067,
    "HKD": 0.128,
    "TWD": 0.031,
    "KRW": 0.00072,
}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CN_DIGITS = "零〇一二两三四五六七八九"
_CN_DIGIT_VALUE = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CN_NUM = rf"[{_CN_DIGITS}十百千]+"
_CN_SCALE = r"[十百千万亿]*[万亿]|[十百千]"  # 万, 亿, 千万, 万亿, 百亿, 十, 千 ...
_EN_SCALE = r"thousand|million|billion|trillion|mn|bn|tn|[kKmMbB](?![A-Za-z])"

_EN_SCALE_VALUE = {
    "thousand": 1e3, "k": 1e3,
    "million": 1e6, "mn": 1e6, "m": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9,
    "trillion": 1e12, "tn": 1e12,
}  # fmt: skip
_CN_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}

_EN_PREFIX_CURRENCY = {
    "us$": "USD", "$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR", "£": "GBP", "gbp": "GBP",
    "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "hk$": "HKD", "hkd": "HKD",
    "nt$": "TWD", "jpy": "JPY", "krw": "KRW",
}  # fmt: skip
_EN_SUFFIX_CURRENCY = {
    "dollars": "USD", "dollar": "USD", "usd": "USD", "euros": "EUR", "euro": "EUR", "eur": "EUR",
    "pounds": "GBP", "pound": "GBP", "yuan": "CNY", "renminbi": "CNY", "rmb": "CNY", "yen": "JPY",
    "won": "KRW", "hong kong dollars": "HKD",
}  # fmt: skip
_ZH_PREFIX_CURRENCY = {"人民币": "CNY", "美元": "USD", "¥": "CNY", "￥": "CNY", "$": "USD", "US$": "USD",
                       "HK$": "HKD", "港币": "HKD", "€": "EUR", "£": "GBP"}  # fmt: skip
_ZH_SUFFIX_CURRENCY = {
    "美元": "USD", "美金": "USD", "元人民币": "CNY", "人民币": "CNY", "元": "CNY",
    "欧元": "EUR", "英镑": "GBP", "日元": "JPY", "港元": "HKD", "港币": "HKD", "新台币": "TWD",
    "台币": "TWD", "韩元": "KRW",
}  # fmt: skip

_EN_APPROX = {
    "nearly": "near", "almost": "near", "close to": "near", "about": "about", "around": "about",
    "roughly": "about", "approximately": "about", "some": "about", "more than": "over", "over": "over",
    "at least": "over", "under": "under", "less than": "under", "up to": "up_to",
}  # fmt: skip
_ZH_APPROX = {
    "将近": "near", "接近": "near", "近": "near", "约": "about", "大约": "about", "左右": "about",
    "超过": "over", "超": "over", "逾": "over", "多": "over", "余": "over", "不到": "under",
    "不足": "under", "高达": "up_to", "多达": "up_to",
}  # fmt: skip


def _alternation(words: dict[str, str] | list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_EN_MONEY_PREFIXED = re.compile(
    rf"(?:(?P<approx>{_alternation(_EN_APPROX)})\s+)?"
    rf"(?P<cur>{_alternation(_EN_PREFIX_CURRENCY)})\s?(?P<num>{_NUM})"
    rf"(?:\s?(?P<scale>{_EN_SCALE}))?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_EN_MONEY_SUFFIXED = re.compile(
    rf"(?:(?P<approx>{_alternation(_EN_APPROX)})\s+)?(?<![\w.$])(?P<num>{_NUM})"
    rf"(?:\s?(?P<scale>{_EN_SCALE}))?\s(?P<cur>{_alternation(_EN_SUFFIX_CURRENCY)})(?![A-Za-z])",
    re.IGNORECASE,
)
_ZH_MONEY = re.compile(
    rf"(?P<approx>{_alternation([w for w in _ZH_APPROX if w not in ('多', '余', '左右')])})?"
    rf"(?P<pre>{_alternation(_ZH_PREFIX_CURRENCY)})?\s?"
    rf"(?P<num>{_NUM}|{_CN_NUM})(?P<scale>{_CN_SCALE})?(?P<more>多|余)?"
    rf"(?P<suf>{_alternation(_ZH_SUFFIX_CURRENCY)})?"
)
_EN_QUANTITY = re.compile(
    rf"(?<![A-Za-z0-9_.$])(?P<num>{_NUM})(?:\s?(?P<scale>thousand|million|billion|trillion))?(?!\d)",
    re.IGNORECASE,
)
_ZH_QUANTITY = re.compile(rf"(?P<num>{_NUM})(?P<scale>{_CN_SCALE})?")

_PERCENT = re.compile(
    rf"(?P<num>{_NUM})\s?(?P<unit>%|％|percent(?:age points?)?|per cent|个百分点)"
    rf"|百分之(?P<cn>{_NUM}|{_CN_NUM})",
    re.IGNORECASE,
)

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}  # fmt: skip
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RE = _alternation([m.capitalize() for m in _MONTHS])  # capitalised: "may" is a verb
_DATE_PATTERNS: list[re.Pattern[str]] = [
    re.compile(r"(?P<y>(?:19|20)\d{2})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?P<y>(?:19|20)\d{2})\s?年\s?(?P<m>\d{1,2})\s?月(?:\s?(?P<d>\d{1,2})\s?[日号])?"),
    re.compile(r"(?<!\d)(?P<m>\d{1,2})\s?月\s?(?P<d>\d{1,2})\s?[日号]"),
    re.compile(
        rf"\b(?P<mn>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>(?:19|20)\d{{2}}))?\b"
    ),
    re.compile(rf"\b(?P<d>\d{{1,2}})\s+(?P<mn>{_MONTH_RE})\.?(?:,?\s+(?P<y>(?:19|20)\d{{2}}))?\b"),
    re.compile(rf"\b(?P<mn>{_MONTH_RE})\.?,?\s+(?P<y>(?:19|20)\d{{2}})\b"),
    re.compile(r"(?P<y>(?:19|20)\d{2})\s?年"),
]
_YEAR = re.compile(r"(?<![\d.,$€£¥])(?:19|20)\d{2}(?![\d%])")


_Span = TypeVar("_Span", "ParsedAmount", "ParsedNumber", "ParsedPercentage", "ParsedDate")


@dataclass(frozen=True, slots=True)
class ParsedAmount:
    text: str  # the matched span, as written
    value: float  # in units of ``currency``
    currency: str  # ISO 4217 code
    usd: float | None  # converted with USD_PER_UNIT, None for an unknown rate
    approx: str | None  # near | about | over | under | up_to, when the text qualifies the figure
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    text: str
    value: float
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedPercentage:
    text: str
    value: float
    points: bool  # "percentage points" / 个百分点 rather than a percentage
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedDate:
    text: str
    year: int | None
    month: int | None
    day: int | None
    start: int
    end: int


def _arabic(num: str) -> float:
    return float(num.replace(",", ""))


def chinese_numeral(text: str) -> float | None:
    """Value of a Chinese numeral below 10,000 (e.g. 三千五百, 十二, 两); None if not one."""
    if not text or any(c not in _CN_DIGIT_VALUE and c not in "十百千" for c in text):
        return None
    total, digit = 0, None
    for c in text:
        if c in _CN_DIGIT_VALUE:
            digit = _CN_DIGIT_VALUE[c]
        else:  # 十 / 百 / 千 multiplies the digit before it (一 when omitted: 十二 = 12)
            total += (1 if digit is None else digit) * _CN_UNIT[c]
            digit = None
    return float(total + (digit or 0))


def _cn_scale(scale: str | None) -> float:
    factor = 1.0
    for c in scale or "":
        factor *= _CN_UNIT[c]
    return factor


def _number(num: str) -> float | None:
    if num[0].isdigit():
        return _arabic(num)
    return chinese_numeral(num)


def _to_usd(value: float, currency: str) -> float | None:
    rate = USD_PER_UNIT.get(currency)
    return round(value * rate, 2) if rate is not None else None


def _non_overlapping(found: list[_Span]) -> list[_Span]:
    """Keep the longest of overlapping matches, in text order."""
    found.sort(key=lambda a: (a.start, -(a.end - a.start)))
    out: list[_Span] = []
    for a in found:
        if out and a.start < out[-1].end:
            continue
        out.append(a)
    return out


def parse_amounts(text: str) -> list[ParsedAmount]:
    """Money amounts with an explicit currency, in text order."""
    found: list[ParsedAmount] = []
    for pattern, table in (
        (_EN_MONEY_PREFIXED, _EN_PREFIX_CURRENCY),
        (_EN_MONEY_SUFFIXED, _EN_SUFFIX_CURRENCY),
    ):
        for m in pattern.finditer(text):
            value = _arabic(m["num"]) * _EN_SCALE_VALUE.get((m["scale"] or "").lower(), 1.0)
            currency = table[m["cur"].lower()]
            approx = _EN_APPROX.get(m["approx"].lower()) if m["approx"] else None
            found.append(ParsedAmount(m.group(0), value, currency, _to_usd(value, currency), approx,
                                      m.start(), m.end()))  # fmt: skip
    for m in _ZH_MONEY.finditer(text):
        if not (m["pre"] or m["suf"]):
            continue  # a bare number is not money
        if m["pre"] in ("$", "US$", "HK$", "€", "£") and not (m["scale"] or m["suf"]):
            continue  # "$500 million" and "$799" are the English patterns' job
        base = _number(m["num"])
        if base is None or (not m["num"][0].isdigit() and not m["scale"]):
            continue  # Chinese numerals only with a scale (五亿美元), not 一元化
        value = base * _cn_scale(m["scale"])
        currency = _ZH_SUFFIX_CURRENCY[m["suf"]] if m["suf"] else _ZH_PREFIX_CURRENCY[m["pre"]]
        approx = _ZH_APPROX.get(m["approx"] or "") or (_ZH_APPROX[m["more"]] if m["more"] else None)
        found.append(ParsedAmount(m.group(0), value, currency, _to_usd(value, currency), approx,
                                  m.start(), m.end()))  # fmt: skip
    return _non_overlapping(found)


def parse_numbers(text: str) -> list[ParsedNumber]:
    """Every number with its scale applied ("1.2万亿" and "1.2 trillion" -> 1.2e12; "1,500" -> 1500)."""
    found: list[ParsedNumber] = []
    for m in _EN_QUANTITY.finditer(text):
        value = _arabic(m["num"]) * _EN_SCALE_VALUE.get((m["scale"] or "").lower(), 1.0)
        found.append(ParsedNumber(m.group(0), value, m.start(), m.end()))
    for m in _ZH_QUANTITY.finditer(text):
        if m["scale"]:
            value = _arabic(m["num"]) * _cn_scale(m["scale"])
            found.append(ParsedNumber(m.group(0), value, m.start(), m.end()))
    return _non_overlapping(found)


def parse_percentages(text: str) -> list[ParsedPercentage]:
    out: list[ParsedPercentage] = []
    for m in _PERCENT.finditer(text):
        if m["cn"]:
            value = _number(m["cn"])
            if value is None:
                continue
            out.append(ParsedPercentage(m.group(0), value, False, m.start(), m.end()))
            continue
        unit = m["unit"].lower()
        points = unit.startswith("percentage point") or unit == "个百分点"
        out.append(ParsedPercentage(m.group(0), _arabic(m["num"]), points, m.start(), m.end()))
    return out


def find_dates(text: str) -> list[ParsedDate]:
    """Dates and partial dates (year-month, month-day, year alone when written 2026年)."""
    found: list[ParsedDate] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            year = int(groups["y"]) if groups.get("y") else None
            if groups.get("mn"):
                month: int | None = _MONTHS[groups["mn"].lower().rstrip(".")]
            else:
                month = int(groups["m"]) if groups.get("m") else None
            day = int(groups["d"]) if groups.get("d") else None
            if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31):
                continue
            found.append(ParsedDate(m.group(0), year, month, day, m.start(), m.end()))
    return _non_overlapping(found)


def find_years(text: str) -> list[int]:
    """Distinct four-digit years (1900-2099) mentioned, in order of first mention."""
    years: list[int] = []
    for m in _YEAR.finditer(text):
        year = int(m.group(0))
        if year not in years:
            years.append(year)
    return years
