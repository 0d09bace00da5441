"""Originality: how much new text a story's representative article adds over earlier members.

An "earlier" member is one published (or, without a publication time, first seen) before the
representative: a rewrite of an article the wire ran an hour earlier adds little, the original
report that a later rewrite copied is not less original for it.

Texts are compared as sets of shingles (token bigrams; a token is a lower-cased Latin word or one
Han character, so Chinese is compared by character bigrams, the usual unit for Chinese near-copy
detection). Containment = share of the representative's shingles found in the union of the
earlier members' shingles; originality = 1 - containment.

Two kinds of evidence, kept apart so like is compared with like:

- ``full``: title + lead (the first ``LEAD_CHARS`` characters of the summary or body) of earlier
  members whose text the score stage has seen in an event; compared with the representative's
  title + lead.
- ``title``: earlier members known only by their title (the cluster lists titles); compared with
  the representative's title, and counted at ``TITLE_ONLY_WEIGHT``: independent reports of one
  event share headline words ("Nvidia reports record revenue"), so a title match alone is weak
  evidence of copying.

Each earlier member is compared in its own language, with the representative's text in that
language (its original or its translation). A member in a language the representative has no
text in cannot be compared and is left out (no evidence either way).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LEAD_CHARS = 400
TITLE_ONLY_WEIGHT = 0.5

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z0-9]+(?:['’][a-z0-9]+)*")


@dataclass(frozen=True)
class TextView:
    """One article's comparable text in one language; ``lead`` is None when only the title is known."""

    language: str
    title: str
    lead: str | None = None


def lead_of(summary: str | None, body: str | None) -> str:
    """The lead used for comparison: the summary, else the start of the body."""
    text = (summary or body or "").strip()
    return text[:LEAD_CHARS]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def shingles(text: str) -> frozenset[str]:
    """Token bigrams (single tokens when the text has only one)."""
    toks = tokens(text)
    if len(toks) < 2:
        return frozenset(toks)
    return frozenset(f"{a} {b}" for a, b in itertools.pairwise(toks))


def containment(of: frozenset[str], within: frozenset[str]) -> float:
    """Share of ``of`` found in ``within`` (0 when ``of`` is empty: nothing to compare)."""
    if not of:
        return 0.0
    return len(of & within) / len(of)


def originality(representative: Mapping[str, TextView], earlier: Iterable[TextView]) -> float:
    """1 - the strongest containment of the representative's text in its earlier members' texts.

    ``representative`` maps a language to the representative's text in it (original and
    translations). 1.0 when there is nothing earlier to compare with."""
    full: dict[str, set[str]] = {}
    titles: dict[str, set[str]] = {}
    for view in earlier:
        if view.language not in representative:
            continue
        if view.lead is not None and representative[view.language].lead is not None:
            full.setdefault(view.language, set()).update(shingles(f"{view.title}\n{view.lead}"))
        else:
            titles.setdefault(view.language, set()).update(shingles(view.title))
    strongest = 0.0
    for language, union in full.items():
        rep = representative[language]
        strongest = max(strongest, containment(shingles(f"{rep.title}\n{rep.lead}"), frozenset(union)))
    for language, union in titles.items():
        rep = representative[language]
        strongest = max(strongest, TITLE_ONLY_WEIGHT * containment(shingles(rep.title), frozenset(union)))
    return round(1.0 - strongest, 4)
