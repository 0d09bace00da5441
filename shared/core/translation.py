"""Translation core (pure: no I/O, no network, no clock).

- ``estimate_tokens`` and ``chunk_body``: long bodies are split on paragraph boundaries within a
  token budget so the chunks can be translated in parallel and joined in order.
- ``Glossary``: bilingual names and terms; the ones occurring in a chunk go into its prompt and are
  enforced afterwards.
- ``translate_prompt_variables``: what the versioned prompt template is filled with (segments
  delimited as data, glossary lines, the failures of a previous attempt).
- ``check_translation``: the automatic QA checks. Every number, amount, percentage, year, month and
  Latin-script name of the source must reappear (or map through the glossary) in the translation;
  the translation must be in the target language; the length ratio must be plausible. It returns
  named failures; an empty list means the translation passed.

A model tried here turned "CFO Sarah Friar" into "CEO Sam Altman" and 2026 into 2023: these
checks exist to catch exactly that before anything is published.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

TextLanguage = Literal["en", "zh"]

LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "Simplified Chinese"}

# Tag around every piece of article text in a prompt; the prompt says its content is data.
DATA_TAG = "source_text"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WIDE = re.compile(r"[\u3000-\u303f\uff00-\uffef\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def other_language(language: str) -> TextLanguage:
    return "zh" if language == "en" else "en"


def _normalize(text: str) -> str:
    # NFKC: full-width digits, ％ and letters become ASCII, so both sides compare alike.
    return unicodedata.normalize("NFKC", text)


# --- token budget and chunking ------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A rough token count for budgets and rate limits: about one token per Han character and
    one per four other characters (current BPE vocabularies give 0.6-1.5 per Han character)."""
    wide = len(_WIDE.findall(text))
    return wide + (len(text) - wide + 3) // 4


_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE = re.compile(r".+?(?:[。！？!?；;]+[”’\"')）]*|\.(?=\s)|$)\s*", re.S)


def paragraph_separator(text: str) -> str:
    """Blank lines separate paragraphs when the text has any, else single newlines do."""
    return "\n\n" if _BLANK_LINE.search(text) else "\n"


def split_paragraphs(text: str) -> list[str]:
    separator = _BLANK_LINE if paragraph_separator(text) == "\n\n" else re.compile(r"\n")
    return [part.strip() for part in separator.split(text.strip()) if part.strip()]


def _split_oversized(paragraph: str, budget_tokens: int) -> list[str]:
    """A paragraph above the budget: split between sentences, and a sentence above the budget
    between characters (the last resort keeps the text whole, only in smaller pieces)."""
    pieces: list[str] = []
    current = ""
    for match in _SENTENCE.finditer(paragraph):
        sentence = match.group(0)
        if estimate_tokens(sentence) > budget_tokens:
            if current:
                pieces.append(current)
                current = ""
            step = max(1, budget_tokens if _HAN.search(sentence) else budget_tokens * 4)
            pieces.extend(sentence[i : i + step] for i in range(0, len(sentence), step))
            continue
        if current and estimate_tokens(current + sentence) > budget_tokens:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def chunk_body(text: str, budget_tokens: int) -> list[str]:
    """Consecutive paragraphs packed into chunks of at most ``budget_tokens`` (estimated).
    Joining the chunks with ``paragraph_separator(text)`` gives back the paragraphs in order."""
    if budget_tokens < 1:
        raise ValueError("budget_tokens must be positive")
    separator = paragraph_separator(text)
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in split_paragraphs(text):
        parts = (
            [paragraph]
            if estimate_tokens(paragraph) <= budget_tokens
            else _split_oversized(paragraph, budget_tokens)
        )
        for part in parts:
            candidate = separator.join([*current, part])
            if current and estimate_tokens(candidate) > budget_tokens:
                chunks.append(separator.join(current))
                current = []
            current.append(part)
    if current:
        chunks.append(separator.join(current))
    return chunks


def join_chunks(chunks: Sequence[str], separator: str = "\n\n") -> str:
    return separator.join(chunk.strip() for chunk in chunks)


# --- glossary ---------------------------------------------------------------------------------------


HINT_ONLY_KINDS = frozenset({"place"})


@dataclass(frozen=True)
class GlossaryEntry:
    en: tuple[str, ...]
    zh: tuple[str, ...]
    kind: str = "term"
    # Renderings accepted in a translation but never required of a source.
    accept_en: tuple[str, ...] = ()
    accept_zh: tuple[str, ...] = ()

    def terms(self, language: str) -> tuple[str, ...]:
        return self.en if language == "en" else self.zh

    def accepted(self, language: str) -> tuple[str, ...]:
        return self.terms(language) + (self.accept_en if language == "en" else self.accept_zh)

    def preferred(self, language: str) -> str:
        return self.terms(language)[0]

    @property
    def enforced(self) -> bool:
        """Places are hints for the model, not requirements: a translation may rightly leave
        "China's" implicit before a ministry it names."""
        return self.kind not in HINT_ONLY_KINDS


@dataclass(frozen=True)
class GlossaryMatch:
    entry: GlossaryEntry
    term: str
    start: int
    end: int


def _is_han(term: str) -> bool:
    return bool(_HAN.search(term))


def _source_pattern(term: str) -> str:
    """How a glossary term is found in a source text: Han terms as substrings; Latin terms as
    whole words (plural allowed), case-insensitive only when written in lower case."""
    if _is_han(term):
        return re.escape(term)
    body = re.escape(term) + r"(?:e?s)?"
    if term == term.lower():
        body = f"(?i:{body})"
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"


def _target_pattern(term: str) -> re.Pattern[str]:
    """How a glossary term is accepted in a translation: leniently (any case, any suffix)."""
    if _is_han(term):
        return re.compile(re.escape(term))
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(term)}", re.I)


@lru_cache(maxsize=4096)
def _alternation(terms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<t{i}>{_source_pattern(term)})" for i, term in enumerate(terms)))


class Glossary:
    def __init__(self, entries: Iterable[GlossaryEntry]) -> None:
        self.entries: tuple[GlossaryEntry, ...] = tuple(entries)
        self._term_lists: dict[tuple[str, bool], list[tuple[GlossaryEntry, str]]] = {}
        self._targets: dict[str, re.Pattern[str]] = {}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Glossary:
        """From the parsed glossary.yaml: {"entries": [{"en": [...], "zh": [...], "kind": ...}]}."""
        entries = []
        for raw in data.get("entries", []):
            en, zh = tuple(str(t) for t in raw["en"]), tuple(str(t) for t in raw["zh"])
            if not en or not zh:
                raise ValueError(f"glossary entry without both languages: {raw!r}")
            entries.append(
                GlossaryEntry(
                    en=en,
                    zh=zh,
                    kind=str(raw.get("kind", "term")),
                    accept_en=tuple(str(t) for t in raw.get("accept_en", ())),
                    accept_zh=tuple(str(t) for t in raw.get("accept_zh", ())),
                )
            )
        return cls(entries)

    def _terms(self, language: str, include_accepted: bool) -> list[tuple[GlossaryEntry, str]]:
        """The (entry, term) pairs of one language, longest term first."""
        key = (language, include_accepted)
        if key not in self._term_lists:
            terms = [
                (entry, term)
                for entry in self.entries
                for term in (entry.accepted(language) if include_accepted else entry.terms(language))
            ]
            # Longest first, so that at one position the longest term wins (美国商务部 over 美国).
            terms.sort(key=lambda pair: len(pair[1]), reverse=True)
            self._term_lists[key] = terms
        return self._term_lists[key]

    def find(self, text: str, language: str, include_accepted: bool = False) -> list[GlossaryMatch]:
        """Non-overlapping occurrences of the glossary's terms of ``language`` in ``text``."""
        text = _normalize(text)
        folded = text.lower()
        # A plain substring test first: one regex over the few terms present is far cheaper than
        # one over the whole glossary at every position of the text.
        present = [pair for pair in self._terms(language, include_accepted) if pair[1].lower() in folded]
        if not present:
            return []
        pattern = _alternation(tuple(term for _, term in present))
        matches = []
        for match in pattern.finditer(text):
            entry, term = present[int((match.lastgroup or "t0")[1:])]
            matches.append(GlossaryMatch(entry, term, match.start(), match.end()))
        return matches

    def entries_in(self, text: str, language: str) -> list[GlossaryEntry]:
        seen: dict[int, GlossaryEntry] = {}
        for match in self.find(text, language):
            seen.setdefault(id(match.entry), match.entry)
        return list(seen.values())

    def rendered_in(self, entry: GlossaryEntry, text: str, language: str) -> bool:
        """Whether ``text`` (a translation into ``language``) contains one of the entry's renderings."""
        normalized = _normalize(text)
        accepted = entry.accepted(language)
        if language == "zh":
            # Chinese text often keeps a Latin name as written (Zuckerberg, CFO).
            accepted += tuple(term for term in entry.accepted("en") if not _is_han(term))
        compact = _compact(normalized)
        for term in accepted:
            if language == "zh" and not _is_han(term):
                if _name_present(term, normalized, compact):
                    return True
                continue
            if term not in self._targets:
                self._targets[term] = _target_pattern(term)
            if self._targets[term].search(normalized):
                return True
        return False


# --- prompt variables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One piece of text to translate: "title", "summary" or "body.N"."""

    id: str
    text: str


_DATA_TAG_IN_TEXT = re.compile(rf"<\s*/?\s*{DATA_TAG}", re.I)


def delimit(segment: Segment) -> str:
    """The segment between data tags; a tag-like string inside the text is defused so the text
    cannot close the data block and pose as instructions."""
    text = _DATA_TAG_IN_TEXT.sub(lambda m: m.group(0).replace("<", "‹"), segment.text)
    return f'<{DATA_TAG} id="{segment.id}">\n{text}\n</{DATA_TAG}>'


def glossary_lines(entries: Sequence[GlossaryEntry], source_language: str, target_language: str) -> str:
    lines = []
    for entry in entries:
        preferred = entry.preferred(target_language)
        sources = " / ".join(t for t in entry.terms(source_language) if t != preferred) or preferred
        lines.append(f"- {sources} → {preferred}")
    return "\n".join(lines)


def translate_prompt_variables(
    segments: Sequence[Segment],
    source_language: str,
    target_language: str,
    glossary: Glossary,
    feedback: Sequence[str] = (),
) -> dict[str, str]:
    """The variables of the translate prompt template for these segments."""
    text = "\n".join(segment.text for segment in segments)
    entries = glossary.entries_in(text, source_language)
    lines = glossary_lines(entries, source_language, target_language)
    feedback_text = ""
    if feedback:
        feedback_text = (
            "A previous translation of these segments failed automatic checks:\n"
            + "\n".join(f"- {item}" for item in feedback)
            + "\nTranslate again and fix every one of these problems."
        )
    return {
        "source_language": LANGUAGE_NAMES[source_language],
        "target_language": LANGUAGE_NAMES[target_language],
        "segment_ids": ", ".join(f'"{segment.id}"' for segment in segments),
        "glossary": lines or "(no glossary terms in this text)",
        "segments": "\n\n".join(delimit(segment) for segment in segments),
        "feedback": feedback_text,
    }


# --- QA: quantities --------------------------------------------------------------------------------

QuantityKind = Literal["number", "amount", "percent", "year", "month"]


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
}
_EN_WORD_QUANTITY = re.compile(
    r"\b(?P<word>half a|a dozen|" + "|".join(sorted(_EN_NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"(?:[\s-]+(?P<mult>hundred|thousand|million|billion|trillion))?\b"
    r"(?:\s(?P<pct>percent|per cent))?",
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

_ZH_DIGITS = "零〇一二两三四五六七八九"
_ZH_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
_ZH_QUANTITY = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)"
    r"\s?(?P<mult>万亿|亿|万|千)?"
    r"(?P<unit>美元|美金|人民币|港元|港币|欧元|英镑|日元|元|年|月|个百分点|%)?"
)
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


def _zh_numeral(text: str) -> float | None:
    """Value of a simple Chinese numeral (三, 十五, 两百, 三千五百): for accepting translations."""
    total, section, digit = 0.0, 0.0, None
    units = {"十": 10, "百": 100, "千": 1000}
    for char in text:
        if char in _ZH_DIGITS:
            digit = float(_ZH_DIGITS.index(char)) if char not in "两〇零" else (2.0 if char == "两" else 0.0)
        elif char in units:
            section += (digit if digit is not None else 1.0) * units[char]
            digit = None
        elif char in ("万", "亿"):
            section += digit or 0.0
            total += section * (1e4 if char == "万" else 1e8)
            section, digit = 0.0, None
        else:
            return None
    return total + section + (digit or 0.0)


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
            multiplier = ""
        kind: QuantityKind
        if match.group("pct"):
            kind = "percent"
        elif currency_symbol or match.group("cur2") or multiplier:
            kind = "amount"
        elif _is_year(value, raw):
            kind = "year"
        else:
            kind = "number"
        found.append(Quantity(value, kind, match.group(0).strip(), currency))
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
    return found


def _zh_quantities(text: str, lenient: bool) -> list[Quantity]:
    found: list[Quantity] = []
    for match in _ZH_QUANTITY.finditer(text):
        raw = match.group("num")
        if raw[0].isdigit():
            value = _number(raw)
        else:
            if not lenient:
                continue  # only Arabic digits are required of a source
            numeral = _zh_numeral(raw)
            if numeral is None or (numeral == 0 and raw not in "零〇"):
                continue
            value = numeral
        multiplier, unit = match.group("mult"), match.group("unit")
        if multiplier:
            value *= _ZH_MULTIPLIERS[multiplier]
        currency = _ZH_CURRENCIES.get(unit or "")
        kind: QuantityKind
        if unit in ("%", "个百分点"):
            kind = "percent"
        elif unit == "月" and not multiplier and 1 <= value <= 12 and value == int(value):
            kind = "month"
        elif currency or multiplier:
            kind = "amount"
        elif _is_year(value, raw):
            kind = "year"
        else:
            kind = "number"
        found.append(Quantity(value, kind, match.group(0), currency))
    return found


def extract_quantities(text: str, language: str, lenient: bool = False) -> list[Quantity]:
    """Numbers, amounts (scaled to units: 5亿美元 = $500 million = 5e8 USD), percentages, years and
    months. ``lenient`` (for translations) also reads number words and Chinese numerals."""
    text = _normalize(text)
    if language != "zh":
        return _en_quantities(text, lenient)
    # Chinese text may quote Latin-script amounts ("$500 million"): read those first, then the rest.
    quoted = [q for q in _en_quantities(text, lenient=False) if q.kind == "amount"]
    for quantity in quoted:
        text = text.replace(quantity.text, " " * len(quantity.text), 1)
    return quoted + _zh_quantities(text, lenient)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def _satisfied(source: Quantity, candidates: Sequence[Quantity]) -> bool:
    for candidate in candidates:
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


# --- QA: names ------------------------------------------------------------------------------------------

_LATIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[.&+'’-][A-Za-z0-9]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
# Capitalised English words that are translated as ordinary words, not kept as names.
_NOT_NAMES = frozenset(
    """I A An The This That These Those It Its He She They We You His Her Their Our My Mr Mrs Ms Dr Prof
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July
    August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    Group Inc Corp Corporation Co Company Ltd Limited Holdings Holding Technologies Technology Tech Labs
    Lab Capital Ventures Partners Bank Fund Funds University Institute Association Ministry Department
    Agency Commission Council Committee Court Office Bureau Foundation Motor Motors Electronics Cloud
    Robotics Systems Semiconductor Micro Microelectronics Pharmaceutical Pharmaceuticals Pharma Media
    Network Networks Securities Exchange Market Markets Street Road City Province State States National
    Federal Reserve Government Parliament Congress Senate House President Prime Minister Chairman Vice
    Secretary Chief Officer Executive Financial Director General Minister Premier Governor Mayor
    North South East West Northern Southern Eastern Western Central Asia Asian Africa African Middle
    Pacific Atlantic Internet Web English Mandarin Christmas New Year Spring Festival Republican
    Republicans Democrat Democrats Communist Party Olympics Series Model Models Edition Pro Max Plus
    Ultra Mini Day Week Month Quarter Q""".split()
)


def _sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“”‘’([（《「")
    return not before or before[-1] in ".!?:;\n。！？：；…—-"


def _title_case(text: str) -> bool:
    """A headline in Title Case: one sentence whose longer words are nearly all capitalised."""
    if re.search(r"[.!?]\s+\S", text.strip()):
        return False
    words = re.findall(r"[A-Za-z]{4,}", text)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) >= 0.75


# A word that reads as Hanyu Pinyin syllables ("Hengmai", "Xiaohongshu"): in English text it is
# usually a Chinese name, which a Chinese translation rightly writes in characters.
_PINYIN_WORD = re.compile(
    r"(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ei|ao|ou|an|en|in|un|ia|ie|iu|ua|uo|ue|ui"
    r"|er|a|e|i|u|(?<=[bpmfwyl])o))+",
    re.I,
)
_NAME_PART = re.compile(r"-(?=[A-Za-z])")
# Capitalised words in quotation marks are mostly phrases and titles ("Versailles vs. lying flat").
_QUOTED = re.compile(r"“[^”\n]{1,200}”|\"[^\"\n]{1,200}\"")


def _name_tokens(text: str) -> list[tuple[str, int]]:
    """Latin words with their offsets; hyphenated words split ("edge-AI"), "GPT-5" kept whole."""
    tokens = []
    for match in _LATIN_TOKEN.finditer(text):
        offset = match.start()
        for part in _NAME_PART.split(match.group(0)):
            tokens.append((_POSSESSIVE.sub("", part), offset))
            offset += len(part) + 1
    return tokens


def latin_names(text: str, language: str, glossary: Glossary | None = None) -> list[str]:
    """Latin-script names a translation must keep. In Chinese text every Latin-script word is one
    (OpenAI, GPT-5, Sarah Friar). In English text: acronyms, mixed-case words and capitalised words
    that do not start a sentence; not capitalised words in quotation marks, in a title-case
    headline or in a run of three or more capitalised words (titles of things, which are
    translated), nor pinyin words (Chinese names, which Chinese writes in characters).
    Words covered by the glossary are left to the glossary check."""
    text = _normalize(text)
    covered = (
        [(m.start, m.end) for m in glossary.find(text, language, include_accepted=True)] if glossary else []
    )
    title_case = language == "en" and _title_case(text)
    quoted = [(m.start(), m.end()) for m in _QUOTED.finditer(text)] if language == "en" else []
    candidates: list[tuple[str, bool]] = []  # (token, capitalised-only name)
    for token, start in _name_tokens(text):
        if any(begin <= start < end for begin, end in covered):
            # Not a name to check, but a capitalised glossary word still belongs to a run of
            # capitalised words ("Public Cloud Large Model Token Service").
            candidates.append(("", token[:1].isupper() and language == "en"))
            continue
        if len(token) < 2 or token in _NOT_NAMES:
            candidates.append(("", token[:1].isupper() and language == "en" and len(token) > 1))
            continue
        if language != "en":
            candidates.append((token, False))
            continue
        acronym = sum(c.isupper() for c in token) >= 2 or any(c.isdigit() for c in token)
        mixed = any(c.isupper() for c in token[1:])
        if acronym or mixed:
            candidates.append((token, False))
        elif (
            token[0].isupper()
            and not title_case
            and not _sentence_initial(text, start)
            and not any(begin < start < end for begin, end in quoted)
        ):
            candidates.append((token, True))
        else:
            candidates.append(("", False))
    names: dict[str, None] = {}
    index = 0
    while index < len(candidates):
        token, capitalised = candidates[index]
        if not capitalised:
            if token:
                names.setdefault(token, None)
            index += 1
            continue
        run_end = index
        while run_end < len(candidates) and candidates[run_end][1]:
            run_end += 1
        if run_end - index < 3:
            for word, _ in candidates[index:run_end]:
                if word and not _PINYIN_WORD.fullmatch(word):
                    names.setdefault(word, None)
        index = run_end
    return list(names)


def _compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def _name_present(name: str, translation: str, compact_translation: str) -> bool:
    if re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z])", translation, re.I):
        return True
    # Spacing may change ("HKG AI V3" -> "HKGAIV3"); Chinese text glues Latin words together.
    compact = _compact(name)
    if len(compact) >= 5:
        return compact in compact_translation
    if _HAN.search(translation):
        return any(compact in _compact(word) for word in _LATIN_TOKEN.findall(translation))
    return False


# --- QA: the checks -----------------------------------------------------------------------------------

# Plausible length of an English translation per character of Chinese (spaces excluded), and the
# reverse. Measured on human zh/en news translations (about 2.0-3.2); the bounds are wide because a
# model legitimately condenses or expands a little; what they catch is a dropped half or a rambling.
EN_PER_ZH_CHAR = (1.3, 5.0)
MIN_CHARS_FOR_RATIO = 40


@dataclass(frozen=True)
class QAFailure:
    check: Literal[
        "empty",
        "number",
        "amount",
        "percent",
        "year",
        "month",
        "latin_name",
        "glossary",
        "language",
        "length_ratio",
        "markup",
    ]
    detail: str  # the missing value or name, or the measured figure
    message: str  # a sentence naming the failure, for the retry prompt and the logs

    def flag(self, segment: str) -> str:
        return f"{segment}:{self.check}:{self.detail}"


def _visible_length(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


def _format_value(quantity: Quantity) -> str:
    value = f"{quantity.value:,.6f}".rstrip("0").rstrip(".")
    return f"{value} {quantity.currency}" if quantity.currency else value


_MARKUP = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")


def check_translation(
    source: str,
    translation: str,
    source_language: str,
    target_language: str,
    glossary: Glossary,
    detect: Callable[[str], str] | None = None,
) -> list[QAFailure]:
    """Named QA failures of ``translation`` (empty: it passed). ``detect`` returns "en"/"zh"/...
    for a text; by default shared.core.language.detect_language."""
    if not translation.strip():
        return [QAFailure("empty", "", "The translation is empty.")]
    failures: list[QAFailure] = []
    source_n, translation_n = _normalize(source), _normalize(translation)

    candidates = extract_quantities(translation_n, target_language, lenient=True)
    seen: set[tuple[str, float]] = set()
    for quantity in extract_quantities(source_n, source_language):
        if (quantity.kind, quantity.value) in seen or _satisfied(quantity, candidates):
            continue
        seen.add((quantity.kind, quantity.value))
        what = {"amount": "amount", "percent": "percentage", "year": "year", "month": "month"}.get(
            quantity.kind, "number"
        )
        shown = quantity.text
        if quantity.kind == "amount":
            shown = f"{quantity.text} (= {_format_value(quantity)})"
        message = f'The {what} "{shown}" of the source is missing or changed.'
        failures.append(QAFailure(quantity.kind, quantity.text, message))

    source_matches = glossary.find(source_n, source_language)
    for entry in dict.fromkeys(m.entry for m in source_matches):
        if not entry.enforced:
            continue
        if not glossary.rendered_in(entry, translation_n, target_language):
            term = next(m.term for m in source_matches if m.entry is entry)
            failures.append(
                QAFailure(
                    "glossary",
                    term,
                    f'"{term}" must be translated as "{entry.preferred(target_language)}" (glossary).',
                )
            )

    compact_translation = _compact(translation_n)
    for name in latin_names(source_n, source_language, glossary):
        if not _name_present(name, translation_n, compact_translation):
            message = f'The name "{name}" of the source is missing; keep it as written.'
            failures.append(QAFailure("latin_name", name, message))

    if detect is None:
        from shared.core.language import detect_language

        detect = detect_language
    if _visible_length(translation_n) >= 6:
        detected = detect(translation_n)
        if detected != target_language:
            failures.append(
                QAFailure(
                    "language",
                    str(detected),
                    f"The translation is not in {LANGUAGE_NAMES[target_language]} (detected: {detected}).",
                )
            )

    # Markup the source does not have is never a translation (e.g. an injected <script>): the page
    # escapes it anyway, but it must not pass as a clean translation.
    added_markup = set(_MARKUP.findall(translation_n)) - set(_MARKUP.findall(source_n))
    if added_markup:
        tag = sorted(added_markup)[0]
        failures.append(
            QAFailure("markup", tag, f"The translation adds markup ({tag}) that the source does not have.")
        )

    source_length, translation_length = _visible_length(source_n), _visible_length(translation_n)
    if source_length >= MIN_CHARS_FOR_RATIO:
        ratio = translation_length / source_length
        low, high = EN_PER_ZH_CHAR
        if source_language != "zh":
            low, high = 1 / EN_PER_ZH_CHAR[1], 1 / EN_PER_ZH_CHAR[0]
        if not low <= ratio <= high:
            failures.append(
                QAFailure(
                    "length_ratio",
                    f"{ratio:.2f}",
                    f"The translation is {'too short' if ratio < low else 'too long'} for the source "
                    f"({translation_length} characters for {source_length}); "
                    "translate all of it, nothing more.",
                )
            )
    return failures


@dataclass
class SegmentOutcome:
    """The best translation of one segment so far and its remaining QA failures."""

    segment: Segment
    text: str
    failures: list[QAFailure] = field(default_factory=list)
    attempts: int = 1
