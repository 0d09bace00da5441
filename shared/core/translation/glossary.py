"""The bilingual glossary: names and terms; the ones occurring in a text go into its prompt and are
enforced on the translation afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.core.translation.text import compact, is_han, name_present
from shared.core.translation.text import normalize as _normalize

HINT_ONLY_KINDS = frozenset({"place"})
# Kinds that name an organisation: one that a translation names and its source does not is a swap.
ORGANISATION_KINDS = frozenset({"company", "regulator", "organization"})


@dataclass(frozen=True)
class GlossaryEntry:
    en: tuple[str, ...]
    zh: tuple[str, ...]
    kind: str = "term"
    # Renderings accepted in a translation but never required of a source.
    accept_en: tuple[str, ...] = ()
    accept_zh: tuple[str, ...] = ()
    # Terms with another common meaning (阿里 is also the name Ali, 字节 is "byte"): advice for the
    # model, never a QA failure on their own.
    ambiguous: tuple[str, ...] = ()

    def is_ambiguous(self, term: str) -> bool:
        return term in self.ambiguous

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


def _source_pattern(term: str) -> str:
    """How a glossary term is found in a source text: Han terms as substrings; Latin terms as
    whole words (plural allowed), case-insensitive only when written in lower case."""
    if is_han(term):
        return re.escape(term)
    body = re.escape(term) + r"(?:e?s)?"
    if term == term.lower():
        body = f"(?i:{body})"
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"


def _target_pattern(term: str) -> re.Pattern[str]:
    """How a glossary term is accepted in a translation: leniently (any case, any suffix)."""
    if is_han(term):
        return re.compile(re.escape(term))
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(term)}", re.I)


@lru_cache(maxsize=4096)
def _alternation(terms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<t{i}>{_source_pattern(term)})" for i, term in enumerate(terms)))


def _ambiguous_terms(raw: Mapping[str, Any], terms: tuple[str, ...]) -> tuple[str, ...]:
    """``ambiguous: true`` marks every term of the entry; a list marks those terms."""
    value = raw.get("ambiguous", ())
    if value is True:
        return terms
    if value is False or value is None:
        return ()
    listed = tuple(str(t) for t in value)
    unknown = [t for t in listed if t not in terms]
    if unknown:
        raise ValueError(f"ambiguous terms not in the entry: {unknown!r} in {raw!r}")
    return listed


class Glossary:
    def __init__(self, entries: Iterable[GlossaryEntry]) -> None:
        self.entries: tuple[GlossaryEntry, ...] = tuple(entries)
        self._term_lists: dict[tuple[str, bool], list[tuple[GlossaryEntry, str]]] = {}
        # The same lists' terms lower-cased (the substring pre-test of _find), computed once.
        self._folded_terms: dict[tuple[str, bool], list[str]] = {}
        self._targets: dict[str, re.Pattern[str]] = {}
        self._found: dict[tuple[str, str, bool], list[GlossaryMatch]] = {}

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
                    ambiguous=_ambiguous_terms(raw, en + zh),
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
        # QA looks up the same source and translation several times (names, glossary, counts).
        key = (text, language, include_accepted)
        cached = self._found.get(key)
        if cached is None:
            cached = self._find(text, language, include_accepted)
            if len(self._found) >= 32:
                self._found.pop(next(iter(self._found)))
            self._found[key] = cached
        return list(cached)

    def _find(self, text: str, language: str, include_accepted: bool) -> list[GlossaryMatch]:
        text = _normalize(text)
        folded = text.lower()
        # A plain substring test first: one regex over the few terms present is far cheaper than
        # one over the whole glossary at every position of the text.
        terms = self._terms(language, include_accepted)
        key = (language, include_accepted)
        lowered = self._folded_terms.get(key)
        if lowered is None:
            lowered = self._folded_terms[key] = [term.lower() for _, term in terms]
        present = [pair for pair, low in zip(terms, lowered, strict=True) if low in folded]
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
            accepted += tuple(term for term in entry.accepted("en") if not is_han(term))
        compact_text = compact(normalized)
        for term in accepted:
            if language == "zh" and not is_han(term):
                if name_present(term, normalized, compact_text):
                    return True
                continue
            if term not in self._targets:
                self._targets[term] = _target_pattern(term)
            if self._targets[term].search(normalized):
                return True
        return False
