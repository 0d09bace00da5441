"""The automatic QA checks of one translated segment: named failures; none means it passed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from shared.core.translation.glossary import ORGANISATION_KINDS, Glossary
from shared.core.translation.prompt import Segment
from shared.core.translation.qa.names import latin_names
from shared.core.translation.qa.pinyin import chinese_person_names, grounded, pinyin_names, spelled_in
from shared.core.translation.qa.quantities import Quantity, _satisfied, extract_quantities
from shared.core.translation.text import LANGUAGE_NAMES, compact, name_present
from shared.core.translation.text import normalize as _normalize

# Plausible length of an English translation per character of Chinese (spaces excluded), and the
# reverse. Measured on human zh/en news translations (about 2.0-3.2); the bounds are wide because a
# model legitimately condenses or expands a little; what they catch is a dropped half or a rambling.
EN_PER_ZH_CHAR = (1.3, 5.0)
MIN_CHARS_FOR_RATIO = 40
# Latin names mentioned at most this often must keep every mention (see ``added_facts``).
MAX_COUNTED_MENTIONS = 3
# Characters of English (about one clause) by which a translation may pass the bounds.
LENGTH_SLACK_EN_CHARS = 40


QACheck = Literal[
    "empty",
    "number",
    "amount",
    "percent",
    "year",
    "month",
    "decade",
    "latin_name",
    "pinyin_name",
    "glossary",
    "entity",
    "added_number",
    "language",
    "length_ratio",
    "markup",
]
# The checks of facts (what a text states), as opposed to the form of a translation.
FACT_CHECKS: frozenset[str] = frozenset(
    {"number", "amount", "percent", "year", "month", "decade", "latin_name", "pinyin_name", "glossary"}
)


@dataclass(frozen=True)
class QAFailure:
    check: QACheck
    detail: str  # the missing value or name, or the measured figure
    message: str  # a sentence naming the failure, for the retry prompt and the logs

    def flag(self, segment: str) -> str:
        return f"{segment}:{self.check}:{self.detail}"


def _visible_length(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


def _format_value(quantity: Quantity) -> str:
    value = f"{quantity.value:,.6f}".rstrip("0").rstrip(".")
    return f"{value} {quantity.currency}" if quantity.currency else value


_QUANTITY_CHECKS = frozenset({"number", "amount", "percent", "year", "month", "decade"})
_MARKUP = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")
_WHAT = {"amount": "amount", "percent": "percentage", "year": "year", "month": "month", "decade": "decade"}


def _quantity_failure(quantity: Quantity) -> QAFailure:
    what = _WHAT.get(quantity.kind, "number")
    shown = quantity.text
    if quantity.kind == "amount":
        shown = f"{quantity.text} (= {_format_value(quantity)})"
    message = f'The {what} "{shown}" of the source is missing or changed.'
    return QAFailure(quantity.kind, quantity.text, message)


def _glossary_spans(glossary: Glossary, text: str, language: str) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in glossary.find(text, language, include_accepted=True)]


def _present_pinyin(name: str, reference: str, reference_language: str) -> bool:
    if reference_language == "zh":
        return grounded(name, reference)
    return name_present(name, reference, compact(reference))


def missing_facts(
    text: str,
    text_language: str,
    reference: str,
    reference_language: str,
    glossary: Glossary,
) -> list[QAFailure]:
    """The facts ``text`` states that ``reference`` lacks: every number, amount, percentage, year,
    month and decade (Chinese numerals included), glossary name, Latin-script name and pinyin name.
    For translation QA ``text`` is the source and ``reference`` the translation; for grounding a
    model's text, the model's text is ``text`` and the article the ``reference``."""
    text_n, reference_n = _normalize(text), _normalize(reference)
    failures: list[QAFailure] = []

    candidates = extract_quantities(reference_n, reference_language, lenient=True)
    seen: set[tuple[str, float]] = set()
    for quantity in extract_quantities(text_n, text_language):
        if (quantity.kind, quantity.value) in seen or _satisfied(quantity, candidates):
            continue
        seen.add((quantity.kind, quantity.value))
        failures.append(_quantity_failure(quantity))

    matches = glossary.find(text_n, text_language)
    for entry in dict.fromkeys(m.entry for m in matches):
        terms = [m.term for m in matches if m.entry is entry]
        # Places are hints; an ambiguous term (阿里 is also the name Ali) is advice, never a flag.
        if not entry.enforced or all(entry.is_ambiguous(term) for term in terms):
            continue
        if not glossary.rendered_in(entry, reference_n, reference_language):
            term = next(t for t in terms if not entry.is_ambiguous(t))
            failures.append(
                QAFailure(
                    "glossary",
                    term,
                    f'"{term}" must be translated as "{entry.preferred(reference_language)}" (glossary).',
                )
            )

    compact_reference = compact(reference_n)
    for name in latin_names(text_n, text_language, glossary):
        if not name_present(name, reference_n, compact_reference):
            message = f'The name "{name}" of the source is missing; keep it as written.'
            failures.append(QAFailure("latin_name", name, message))

    if text_language == "zh" and reference_language == "en":
        for name in chinese_person_names(text_n):
            if not spelled_in(name, reference_n):
                message = f'The name "{name}" of the source is missing; write it in pinyin.'
                failures.append(QAFailure("pinyin_name", name, message))
    if text_language == "en":
        for name in pinyin_names(text_n, _glossary_spans(glossary, text_n, "en")):
            if not _present_pinyin(name, reference_n, reference_language):
                message = f'The name "{name}" of the source is missing or changed.'
                failures.append(QAFailure("pinyin_name", name, message))
    return failures


def _count(name: str, text: str) -> int:
    """Mentions of a Latin name, as leniently as ``name_present`` finds one (any case, a plural,
    digits after it: "iPhone" in "iPhone7")."""
    return len(re.findall(rf"(?<![A-Za-z0-9]){re.escape(name)}(?:e?s)?(?![A-Za-z])", text, re.I))


def added_facts(
    source: str,
    source_language: str,
    translation: str,
    target_language: str,
    glossary: Glossary,
) -> list[QAFailure]:
    """What a translation states that its source does not: a number, a pinyin name or an
    organisation the source lacks, or a Latin-script name written fewer times than in the source
    (one of its mentions became another name)."""
    source_n, translation_n = _normalize(source), _normalize(translation)
    failures: list[QAFailure] = []

    candidates = extract_quantities(source_n, source_language, lenient=True)
    seen: set[tuple[str, float]] = set()
    for quantity in extract_quantities(translation_n, target_language):
        if (quantity.kind, quantity.value) in seen or _satisfied(quantity, candidates):
            continue
        seen.add((quantity.kind, quantity.value))
        message = f'The translation states "{quantity.text}", which the source does not.'
        failures.append(QAFailure("added_number", quantity.text, message))

    if target_language == "en" and source_language == "zh":
        for name in pinyin_names(translation_n, _glossary_spans(glossary, translation_n, "en")):
            if not grounded(name, source_n):
                message = f'The translation names "{name}", whom or which the source does not name.'
                failures.append(QAFailure("pinyin_name", name, message))

    for entry in dict.fromkeys(m.entry for m in glossary.find(translation_n, target_language, True)):
        if entry.kind in ORGANISATION_KINDS and not glossary.rendered_in(entry, source_n, source_language):
            term = entry.preferred(target_language)
            message = f'The translation names "{term}", which the source does not name.'
            failures.append(QAFailure("entity", term, message))

    compact_translation = compact(translation_n)
    for name in latin_names(source_n, source_language, glossary):
        if not name_present(name, translation_n, compact_translation):
            continue  # reported as missing
        # Present (perhaps with other spacing: "HKG AI V3" = "HKGAIV3") counts as one mention.
        wanted, written = _count(name, source_n), max(1, _count(name, translation_n))
        # A name the source repeats many times is rightly condensed ("the model", "it"); a name
        # mentioned two or three times that loses a mention was replaced by another name.
        if written < wanted <= MAX_COUNTED_MENTIONS:
            message = (
                f'The name "{name}" occurs {wanted} times in the source but {written} in the '
                "translation; keep every mention."
            )
            failures.append(QAFailure("latin_name", f"{name}×{wanted}", message))
    return failures


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
    source_n, translation_n = _normalize(source), _normalize(translation)
    failures = missing_facts(source_n, source_language, translation_n, target_language, glossary)
    added = added_facts(source_n, source_language, translation_n, target_language, glossary)
    if any(f.check in _QUANTITY_CHECKS for f in failures):
        # A changed value is one error: the missing source value names it already.
        added = [f for f in added if f.check != "added_number"]
    failures += added

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
        slack: float = LENGTH_SLACK_EN_CHARS
        if source_language != "zh":
            low, high = 1 / EN_PER_ZH_CHAR[1], 1 / EN_PER_ZH_CHAR[0]
            slack = LENGTH_SLACK_EN_CHARS / EN_PER_ZH_CHAR[0]
        # The ratio of a short text varies more: a fixed slack widens the bounds for it.
        if not low * source_length - slack <= translation_length <= high * source_length + slack:
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
