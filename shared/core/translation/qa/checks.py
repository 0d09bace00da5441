"""The automatic QA checks of one translated segment: named failures; none means it passed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from shared.core.translation.glossary import Glossary
from shared.core.translation.prompt import Segment
from shared.core.translation.qa.names import latin_names
from shared.core.translation.qa.quantities import Quantity, _satisfied, extract_quantities
from shared.core.translation.text import LANGUAGE_NAMES, compact, name_present
from shared.core.translation.text import normalize as _normalize

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

    compact_translation = compact(translation_n)
    for name in latin_names(source_n, source_language, glossary):
        if not name_present(name, translation_n, compact_translation):
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
