"""Quantities in a text: numbers, amounts (scaled to units, with their currency), percentages,
years and months; and whether a source's quantity reappears among a translation's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shared.core.translation.qa.numerals import zh_numerals
from shared.core.translation.text import normalize as _normalize

QuantityKind = Literal["number", "amount", "percent", "year", "month", "decade"]


@dataclass(frozen=True)
class Quantity:
    value: float
    kind: QuantityKind
    text: str
    currency: str | None = None


_EN_MULTIPLIERS = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}
_EN_SHORT_MULTIPLIERS = {"k", "m", "mn", "b", "bn", "tn"}  # only after a currency: "5m" may be metres
_EN_CURRENCY_SYMBOLS = {
    "us$": "USD",
    "$": "USD",
    "hk$": "HKD",
    "nt$": "TWD",
    "€": "EUR",
    "£": "GBP",
    "¥": None,
    "rmb": "CNY",
    "cny": "CNY",
    "usd": "USD",
    "eur": "EUR",
    "hkd": "HKD",
}
_EN_CURRENCY_WORDS = {
    "dollar": "USD",
    "dollars": "USD",
    "us dollar": "USD",
    "us dollars": "USD",
    "hk dollar": "HKD",
    "hk dollars": "HKD",
    "yuan": "CNY",
    "renminbi": "CNY",
    "rmb": "CNY",
    "cny": "CNY",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "yen": "JPY",
    "usd": "USD",
    "eur": "EUR",
    "hkd": "HKD",
}
_EN_QUANTITY = re.compile(
    r"""
    (?P<cur>US\$|HK\$|NT\$|\$|€|£|¥|(?:RMB|CNY|USD|EUR|HKD)\s?)?
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
    (?:\s?(?P<mult>trillion|billion|million|thousand|bn|mn|tn|m|k|b)(?![A-Za-z]))?
    (?:\s?(?P<pct>%|percent(?:age\ points?)?|per\ ?cent))?
    (?:\s(?P<cur2>(?:US\ |HK\ )?dollars?|yuan|renminbi|RMB|euros?|pounds?|yen|USD|CNY|EUR|HKD)\b)?
    """,
    re.X | re.I,
)
_EN_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "a": 1,
    "half a": 0.5,
    "a dozen": 12,
    "dozen": 12,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    # Counts a translation may write as words: 两次 = twice, 两家公司 = both companies.
    "twice": 2,
    "both": 2,
    "couple": 2,
    "pair": 2,
    "double": 2,
    "thrice": 3,
    "triple": 3,
}
_EN_WORD_QUANTITY = re.compile(
    r"\b(?P<word>half a|a dozen|" + "|".join(sorted(_EN_NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"(?:[\s-]+(?P<mult>hundred|thousand|million|billion|trillion))?\b"
    r"(?:\s(?P<pct>percent|per cent))?",
    re.I,
)
# "more than a decade" (十多年), "two decades", "a century" (一百多年): years as words.
_EN_DECADES_WORDS = re.compile(
    r"\b(?:(?P<count>a|one|two|three|four|five|six|seven|eight|nine|ten)[\s-]+)?"
    r"(?P<unit>decades?|centur(?:y|ies))\b",
    re.I,
)
_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_EN_MONTH = re.compile(
    r"\b(?P<month>January|February|March|April|May|June|July|August|September|October|November"
    r"|December|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.)"
)
# "May" is a month only next to a number or after a word that introduces a date.
_MAY_CONTEXT = re.compile(r"\b(?:in|by|since|until|till|from|of|early|late|mid|last|next|this)[\s-]+$", re.I)

_ZH_QUANTITY = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"\s?(?P<approx>多|余)?(?P<ge>个)?(?P<mult>万亿|亿|万|千)?"
    r"(?P<unit>美元|美金|人民币|港元|港币|欧元|英镑|日元|元|年代|年|月|个百分点|百分点|%)?"
)
# A list of decades: 70年代, 70、80年代 (the 1970s and 1980s).
_ZH_DECADES = re.compile(r"(?:(?:19|20)?\d0\s?[、，,和与及到至~-]\s?)*(?:19|20)?\d0\s?年代")
_ZH_CURRENCIES = {
    "美元": "USD",
    "美金": "USD",
    "人民币": "CNY",
    "元": "CNY",
    "港元": "HKD",
    "港币": "HKD",
    "欧元": "EUR",
    "英镑": "GBP",
    "日元": "JPY",
}
_ZH_MULTIPLIERS = {"千": 1e3, "万": 1e4, "亿": 1e8, "万亿": 1e12}
# After a four-digit number, these make it a count, not a year (2000余人, 2118个).
_ZH_COUNT_AFTER = re.compile(r"[多余个名人位家只件项次座台辆条]")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _is_year(value: float, text: str) -> bool:
    return text.isdigit() and len(text) == 4 and 1900 <= value <= 2100


def _en_quantities(text: str, lenient: bool) -> list[Quantity]:
    found: list[Quantity] = []
    for match in _EN_QUANTITY.finditer(text):
        raw, value = match.group("num"), _number(match.group("num"))
        currency_symbol = (match.group("cur") or "").strip().lower()
        currency = _EN_CURRENCY_SYMBOLS.get(currency_symbol) if currency_symbol else None
        if match.group("cur2"):
            currency = _EN_CURRENCY_WORDS.get(" ".join(match.group("cur2").lower().split()), currency)
        multiplier = (match.group("mult") or "").lower()
        if multiplier and (multiplier not in _EN_SHORT_MULTIPLIERS or currency_symbol):
            value *= _EN_MULTIPLIERS[multiplier]
        else:
            if lenient and multiplier and match.group("mult").isupper():
                # "Mistral 7B" is a model of 7 billion parameters (70亿参数).
                scaled = value * _EN_MULTIPLIERS[multiplier]
                found.append(Quantity(scaled, "number", match.group(0).strip()))
            multiplier = ""
        kind: QuantityKind
        if match.group("pct"):
            kind = "percent"
        elif currency_symbol or match.group("cur2") or multiplier:
            kind = "amount"
        elif text[match.end("num") : match.end("num") + 1] == "s" and value % 10 == 0 and value == int(value):
            kind = "decade"  # the 1970s, the 70s
        elif _is_year(value, raw):
            kind = "year"
        else:
            kind = "number"
        shown = match.group(0).strip() + ("s" if kind == "decade" else "")
        found.append(Quantity(value, kind, shown, currency))
    for match in _EN_MONTH.finditer(text):
        name = match.group("month")
        if name == "May":
            after = text[match.end() : match.end() + 3]
            before = text[max(0, match.start() - 12) : match.start()]
            if not (re.match(r"\s?\d", after) or _MAY_CONTEXT.search(before)):
                continue
        found.append(Quantity(float(_MONTHS[name.rstrip(".").lower()]), "month", name))
    if lenient:
        for match in _EN_WORD_QUANTITY.finditer(text):
            value = float(_EN_NUMBER_WORDS[match.group("word").lower()])
            if match.group("mult"):
                value *= {"hundred": 1e2, **_EN_MULTIPLIERS}[match.group("mult").lower()]
            elif match.group("word").lower() in ("a", "half a"):
                continue  # "a" alone is no number
            kind = "percent" if match.group("pct") else "number"
            found.append(Quantity(value, kind, match.group(0)))
            if match.group("mult") and match.group("word").lower() not in ("a", "half a"):
                # "two hundred-year goals" is two goals of a hundred years, or two hundred.
                word = float(_EN_NUMBER_WORDS[match.group("word").lower()])
                found.append(Quantity(word, "number", match.group("word")))
                scale = {"hundred": 1e2, **_EN_MULTIPLIERS}[match.group("mult").lower()]
                found.append(Quantity(scale, "number", match.group("mult")))
        for match in _EN_DECADES_WORDS.finditer(text):
            count = _EN_NUMBER_WORDS.get((match.group("count") or "a").lower(), 1)
            unit = 100 if match.group("unit").lower().startswith("centur") else 10
            found.append(Quantity(float(count * unit), "number", match.group(0)))
    return found


def _zh_kind(
    value: float, unit: str, magnitude: bool, currency: str | None, year_like: bool, counted: bool = False
) -> QuantityKind:
    """``counted``: a measure word came first (7个月 = seven months, not July)."""
    if unit in ("%", "个百分点", "百分点"):
        return "percent"
    if unit == "月" and not magnitude and not counted and 1 <= value <= 12 and value == int(value):
        return "month"
    if unit == "年代":
        return "decade"
    if currency or magnitude:
        return "amount"
    if year_like:
        return "year"
    return "number"


def _zh_decades(text: str) -> tuple[list[Quantity], str]:
    """Decades (70年代, 70、80年代 = the 1970s and 1980s), and the text with them blanked out."""
    found: list[Quantity] = []
    for match in _ZH_DECADES.finditer(text):
        for number in re.findall(r"\d+", match.group(0)):
            found.append(Quantity(float(number), "decade", f"{number}年代"))
        text = text[: match.start()] + " " * len(match.group(0)) + text[match.end() :]
    return found, text


def _zh_quantities(text: str, lenient: bool) -> list[Quantity]:
    found, text = _zh_decades(text)
    for match in _ZH_QUANTITY.finditer(text):
        raw = match.group("num")
        value = _number(raw)
        multiplier, unit = match.group("mult"), match.group("unit") or ""
        if multiplier:
            value *= _ZH_MULTIPLIERS[multiplier]
        currency = _ZH_CURRENCIES.get(unit)
        counted = bool(match.group("approx") or match.group("ge")) or bool(
            _ZH_COUNT_AFTER.match(text, match.end())
        )
        year_like = _is_year(value, raw) and unit in ("", "年") and not counted
        kind = _zh_kind(value, unit, bool(multiplier), currency, year_like, bool(match.group("ge")))
        found.append(Quantity(value, kind, match.group(0).strip(), currency))
    for numeral in zh_numerals(text, strict=not lenient):
        value = numeral.value
        if numeral.value == 0 and numeral.text not in "零〇":
            continue
        after = text[numeral.end : numeral.end + 3]
        unit = next((u for u in ("个百分点", "年", "月", *_ZH_CURRENCIES) if after.startswith(u)), "")
        if text[max(0, numeral.start - 3) : numeral.start] == "百分之":
            unit = "%"
        magnitude = numeral.text.endswith(("亿", "万")) and len(numeral.text) > 1
        digit_by_digit = not re.search("[十百千万亿点]", numeral.text)
        year_like = unit == "年" and digit_by_digit and len(numeral.text) == 4 and 1900 <= value <= 2100
        kind = _zh_kind(value, unit, magnitude, _ZH_CURRENCIES.get(unit), year_like)
        found.append(Quantity(value, kind, numeral.text, _ZH_CURRENCIES.get(unit)))
    return found


# The number of a list item ("1. ", "2、" at the start of a line) states nothing: a translation may
# number a list its source does not.
_ENUMERATOR = re.compile(r"(?m)^[ \t]*(?:\(|（)?(?P<n>\d{1,2})(?:[.)）](?=[ \t])|、)")


def extract_quantities(text: str, language: str, lenient: bool = False) -> list[Quantity]:
    """Numbers, amounts (scaled to units: 5亿美元 = $500 million = 5e8 USD), percentages, years and
    months. ``lenient`` (for translations) also reads number words and Chinese numerals."""
    text = _ENUMERATOR.sub(
        lambda m: m.group(0).replace(m.group("n"), " " * len(m.group("n"))), _normalize(text)
    )
    if language != "zh":
        return _en_quantities(text, lenient)
    # Chinese text may quote Latin-script amounts ("$500 million"): read those first, then the rest.
    quoted = [q for q in _en_quantities(text, lenient=False) if q.kind == "amount"]
    for quantity in quoted:
        text = text.replace(quantity.text, " " * len(quantity.text), 1)
    return quoted + _zh_quantities(text, lenient)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def _same_decade(a: float, b: float) -> bool:
    """70 (年代) and 1970 (the 1970s) name the same decade."""
    low, high = sorted((a, b))
    return low == high or (low < 100 and high in (1900 + low, 2000 + low))


def _satisfied(source: Quantity, candidates: Sequence[Quantity]) -> bool:
    for candidate in candidates:
        if source.kind == "decade" or candidate.kind == "decade":
            if source.kind == candidate.kind and _same_decade(source.value, candidate.value):
                return True
            if candidate.kind == "decade" and source.kind != "decade":
                continue
            if source.kind == "decade" and not _close(source.value, candidate.value):
                continue
        if not _close(source.value, candidate.value):
            continue
        if source.kind in ("percent", "month"):
            if candidate.kind == source.kind:
                return True
            continue
        if candidate.kind in ("percent", "month") and not (candidate.kind == "month" and source.value <= 12):
            continue
        if source.currency and candidate.currency and source.currency != candidate.currency:
            continue
        return True
    return False
