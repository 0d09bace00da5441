"""Measurable text signals for Quality and Impact (English and Chinese); pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’\-][A-Za-z0-9]+)*")
_LETTERS_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")

# A number not glued to a preceding letter, hyphen or digit (so "GPT-6", "H20", "K2.5" are names,
# not data), with an optional unit.
_NUMBER = re.compile(
    r"(?<![A-Za-z\-\d.])(\d+(?:[.,]\d+)*)\s*"
    r"(%|percent|per cent|个百分点|倍|亿元|万元|亿|万|千|元|美元|港元|billion|million|trillion|bn|"
    r"年|月|日|号)?",
    re.IGNORECASE,
)
_DATE_UNITS = frozenset({"年", "月", "日", "号"})

_QUOTED = re.compile(r"“([^”]{1,600})”|\"([^\"]{1,600})\"|「([^」]{1,600})」")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)、]|\(\d{1,2}\)|[一二三四五六七八九十]、)\s*\S")
_EN_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]*\s+")
_ZH_SENTENCE_END = re.compile(r"[。！？!?；;]+[”」]?")

_EN_USERS = re.compile(
    r"(\d+(?:[.,]\d+)*)\s*(thousand|million|billion|k|m|bn)?\s+"
    r"(?:(?:monthly|weekly|daily|active|paying|registered|paid|global)\s+){0,3}"
    r"(?:users|subscribers|customers|people|accounts|members)\b",
    re.IGNORECASE,
)
_ZH_USERS_AFTER = re.compile(
    r"(?:用户|月活|日活|周活|注册用户|活跃用户|订阅用户|付费用户)(?:数|规模|量)?"
    r"(?:已经|已)?(?:突破|超过|超|达到|达|破|逾|近|约为|约)?\s*(\d+(?:\.\d+)?)\s*(万|亿)"
)
_ZH_USERS_BEFORE = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)\s*(?:名|位|个)?(?:月活|日活)?(?:用户|月活|日活)")
_EN_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9}
_ZH_SCALE = {"万": 1e4, "亿": 1e8}


# A line that is a bare link, or a short "Label: value" record ("Score: 319", "By: mmsc",
# "Discussion: https://..."): feed metadata, not text written for the reader.
_URL_LINE = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.IGNORECASE)
_FIELD_LINE = re.compile(
    r"^\s*[A-Za-z][A-Za-z ]{0,24}:\s*(?:https?://\S+|[^\s.!?。！？]+(?:\s+[^\s.!?。！？]+){0,2})\s*$"
)


def prose(body: str) -> str:
    """The body without metadata lines (bare links, short "Label: value" records)."""
    kept = [line for line in body.splitlines() if not (_URL_LINE.match(line) or _FIELD_LINE.match(line))]
    return "\n".join(kept)


def is_chinese(language: str) -> bool:
    return language == "zh"


def han_count(text: str) -> int:
    return len(_HAN.findall(text))


def word_units(text: str, language: str, zh_chars_per_word: float) -> float:
    """Length in English-word equivalents: Latin words, plus Han characters / zh_chars_per_word."""
    latin = len(_LATIN_WORD.findall(_HAN.sub(" ", text)))
    return latin + han_count(text) / zh_chars_per_word


def data_points(text: str) -> int:
    """Distinct numbers in the text (amounts, percentages, counts), not years, dates or model names."""
    found: set[str] = set()
    for match in _NUMBER.finditer(text):
        number, unit = match.group(1), (match.group(2) or "").lower()
        if unit in _DATE_UNITS:
            continue
        if not unit and len(number) == 4 and number.isdigit() and 1900 <= int(number) <= 2100:
            continue  # a bare year
        found.add(f"{number.replace(',', '')}{unit}")
    return len(found)


def count_quotes(text: str, language: str) -> int:
    """Quoted passages long enough to be speech (English >= 4 words, Chinese >= 8 characters)."""
    count = 0
    for match in _QUOTED.finditer(text):
        inner = next(g for g in match.groups() if g is not None)
        if han_count(inner) >= 8 or len(_LATIN_WORD.findall(inner)) >= 4:
            count += 1
    return count


def structure_units(text: str) -> int:
    """Paragraphs beyond the first plus list items: how much the text is organised."""
    lines = [line for line in text.splitlines() if line.strip()]
    list_items = sum(1 for line in lines if _LIST_ITEM.match(line))
    paragraphs = len(lines) - list_items
    return max(0, paragraphs - 1) + list_items


@dataclass(frozen=True)
class SentenceStats:
    sentences: int
    mean_sentence_len: float  # words (English) or characters (Chinese)
    mean_word_chars: float | None  # English only


def sentence_stats(text: str, language: str) -> SentenceStats | None:
    """Sentence and word length; None when the text has no sentence to measure."""
    if is_chinese(language):
        parts = [p.strip() for p in _ZH_SENTENCE_END.split(text) if p.strip()]
        lengths = [len(re.sub(r"\s", "", p)) for p in parts]
        lengths = [n for n in lengths if n > 0]
        if not lengths:
            return None
        return SentenceStats(len(lengths), sum(lengths) / len(lengths), None)
    parts = [p for line in text.splitlines() for p in _EN_SENTENCE_END.split(line) if p.strip()]
    word_counts = [len(_LATIN_WORD.findall(p)) for p in parts]
    word_counts = [n for n in word_counts if n > 0]
    letters = _LETTERS_WORD.findall(text)
    if not word_counts or not letters:
        return None
    return SentenceStats(
        len(word_counts), sum(word_counts) / len(word_counts), sum(len(w) for w in letters) / len(letters)
    )


def _contains(text: str, lowered: str, phrase: str) -> bool:
    if _HAN.search(phrase):
        return phrase in text
    low = phrase.lower()
    if low not in lowered:  # the pattern needs it as a substring: most phrases stop here
        return False
    return re.search(rf"(?<![a-z0-9]){re.escape(low)}(?![a-z0-9])", lowered) is not None


def phrase_hits(text: str, phrases: Iterable[str]) -> list[str]:
    """The distinct phrases found (English: case-insensitive, whole words; Chinese: substrings)."""
    lowered = text.lower()
    return [p for p in dict.fromkeys(phrases) if _contains(text, lowered, p)]


def parse_user_counts(text: str) -> list[int]:
    """User numbers stated in the text ("900 million weekly users", "用户突破500万", "1亿月活")."""
    counts: list[int] = []
    for match in _EN_USERS.finditer(text):
        value = float(match.group(1).replace(",", ""))
        scale = _EN_SCALE.get((match.group(2) or "").lower(), 1.0)
        counts.append(int(value * scale))
    for pattern in (_ZH_USERS_AFTER, _ZH_USERS_BEFORE):
        for match in pattern.finditer(text):
            counts.append(int(float(match.group(1)) * _ZH_SCALE[match.group(2)]))
    return sorted(set(counts), reverse=True)
