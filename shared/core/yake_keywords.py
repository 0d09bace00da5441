"""YAKE keyword scores computed directly, without yake's per-document object graph.

yake's ``KeywordExtractor.extract_keywords`` builds, for every document, a networkx graph of word
co-occurrences, one Python object per candidate occurrence (~140k objects for 250 news stories)
and a numpy median per word: ~75 % of its CPU, measured with cProfile on the real English texts of
``../shared/data/real-world/`` (bench/keyphrases.py). This module computes the same scores with
plain dicts and lists, and keeps yake's own pieces where identity depends on them: its sentence
splitting and tokenizer (segtok), its word tags, its stop-word list and its deduplication
similarity. The result is yake's, keyword for keyword and score for score;
tests/unit/test_yake_keywords.py compares it with yake itself on real texts.

The formulas are yake 0.7's (``yake/data/single_word.py``, ``composed_word.py``, ``core.py``),
with the settings the project uses: window 1, stop-word weighting "bi", every feature on.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Any

# yake's defaults: tokens made only of these characters split a sentence into blocks; words
# tagged "u" (unusual) or "d" (digits) make no co-occurrence and no valid candidate.
PUNCTUATION = frozenset(string.punctuation)
_DISCARDED_TAGS = ("u", "d")


@dataclass(slots=True)
class _Term:
    """One lower-cased word (a trailing "s" dropped when longer than 3): yake's ``SingleWord``."""

    stopword: bool
    tf: float = 0.0
    tf_acronym: float = 0.0  # occurrences tagged "a" (all capitals)
    tf_proper: float = 0.0  # occurrences tagged "n" (capitalised inside a sentence)
    sentences: list[int] = field(default_factory=list)  # ids of the sentences it occurs in, ascending
    right: dict[int, float] = field(default_factory=dict)  # next term id -> co-occurrences
    left: dict[int, float] = field(default_factory=dict)  # previous term id -> co-occurrences
    h: float = 0.0


@dataclass(slots=True)
class _Candidate:
    """One n-gram (by its lower-cased text): yake's ``ComposedWord``."""

    keyword: str  # as first written in the text (what yake returns)
    key: str  # lower-cased: what candidates are counted and deduplicated by
    terms: tuple[int, ...]
    # True when one occurrence has no word tagged "u"/"d"; yake keeps the set of tag strings for
    # this only.
    clean_tags: bool
    tf: float = 0.0


def yake_keywords(
    text: str,
    *,
    stopwords: Set[str],
    similarity: Callable[[str, str], float],
    max_words: int = 3,
    dedup_limit: float = 0.7,
    top: int = 20,
) -> list[tuple[str, float]]:
    """``yake.KeywordExtractor(n=max_words, dedup_lim=dedup_limit, top=top).extract_keywords``.

    ``stopwords`` and ``similarity`` are the extractor's (``stopword_set``, ``dedup_function``).
    Lower scores are better. [] where yake gives [] (no text, no valid candidate, and the one
    arithmetic failure of its formula, which its extractor turns into [])."""
    from yake.data.utils import get_tag, pre_filter, tokenize_sentences

    if not text:
        return []
    sentences: list[list[str]] = tokenize_sentences(pre_filter(text.replace("\n", " ")))
    term_ids: dict[str, int] = {}
    terms: list[_Term] = []
    candidates: dict[str, _Candidate] = {}

    # a word as written -> its term: get_term's answer for a word never changes within a text
    word_ids: dict[str, int] = {}

    def term_of(word: str) -> int:
        """yake's ``DataCore.get_term``: stop-word status is fixed by the first form seen."""
        unique = word.lower()
        listed = unique in stopwords
        if unique.endswith("s") and len(unique) > 3:
            unique = unique[:-1]
        known = term_ids.get(unique)
        if known is not None:
            return known
        letters = "".join(c for c in unique if c not in PUNCTUATION)
        term_ids[unique] = len(terms)
        terms.append(_Term(stopword=listed or unique in stopwords or len(letters) < 3))
        return len(terms) - 1

    for sentence_id, sentence in enumerate(sentences):
        # A block: consecutive words between punctuation tokens (n-grams never cross one).
        block_words: list[str] = []
        block_ids: list[int] = []
        block_tags: list[str] = []
        last_discarded = -1  # index in the block of the last word tagged "u"/"d"
        for position, word in enumerate(sentence):
            if PUNCTUATION.issuperset(word):  # a token of punctuation only
                block_words, block_ids, block_tags, last_discarded = [], [], [], -1
                continue
            tag: str = get_tag(word, position, PUNCTUATION)
            term_id = word_ids.get(word)
            if term_id is None:
                term_id = word_ids[word] = term_of(word)
            term = terms[term_id]
            if not term.sentences or term.sentences[-1] != sentence_id:
                term.sentences.append(sentence_id)
            term.tf += 1.0
            if tag == "a":
                term.tf_acronym += 1.0
            elif tag == "n":
                term.tf_proper += 1.0
            if tag in _DISCARDED_TAGS:
                last_discarded = len(block_words)
            elif block_tags and block_tags[-1] not in _DISCARDED_TAGS:
                previous_id = block_ids[-1]
                terms[previous_id].right[term_id] = terms[previous_id].right.get(term_id, 0.0) + 1.0
                term.left[previous_id] = term.left.get(previous_id, 0.0) + 1.0
            block_words.append(word)
            block_ids.append(term_id)
            block_tags.append(tag)
            # The word alone, then with the one before it, then with the two before (yake's order,
            # which decides the first-written form and the ranking of equal scores).
            end = len(block_words)
            for start in range(end - 1, max(0, end - max_words) - 1, -1):
                written = " ".join(block_words[start:])
                key = written.lower()
                clean = start > last_discarded
                candidate = candidates.get(key)
                if candidate is None:
                    candidate = candidates[key] = _Candidate(written, key, tuple(block_ids[start:]), clean)
                elif clean:
                    candidate.clean_tags = True
                candidate.tf += 1.0

    valid = [
        c
        for c in candidates.values()
        if c.clean_tags and not (terms[c.terms[0]].stopword or terms[c.terms[-1]].stopword)
    ]
    if not valid:
        return []
    _score_terms(terms, len(sentences))
    scored: list[tuple[float, _Candidate]] = []
    for candidate in valid:
        score = _candidate_score(candidate, terms)
        if score is None:
            return []
        scored.append((score, candidate))
    scored.sort(key=lambda pair: pair[0])  # stable: equal scores keep the order of first occurrence

    if dedup_limit >= 1.0:  # yake without deduplication returns the lower-cased forms
        return [(candidate.key, score) for score, candidate in scored[:top]]
    kept: list[tuple[float, _Candidate]] = []
    for score, candidate in scored:
        if any(similarity(candidate.key, other.key) > dedup_limit for _, other in kept):
            continue
        kept.append((score, candidate))
        if len(kept) == top:
            break
    return [(candidate.keyword, score) for score, candidate in kept]


def _score_terms(terms: list[_Term], number_of_sentences: int) -> None:
    """yake's ``SingleWord.update_h`` for every non-stop-word term (stop-words' scores are unused
    with "bi" weighting), in yake's order of floating-point operations."""
    import numpy as np

    content_tfs = np.array([t.tf for t in terms if not t.stopword])
    if not content_tfs.size:
        return
    # numpy's mean and std, as yake computes them (pairwise summation: the same last bits).
    average_plus_std = float(content_tfs.mean()) + float(content_tfs.std())
    max_tf = max(t.tf for t in terms)
    for term in terms:
        if term.stopword:
            continue
        tf = term.tf
        right_total = sum(term.right.values())
        left_total = sum(term.left.values())
        p_right = 0 if right_total == 0 else len(term.right) / right_total
        p_left = 0 if left_total == 0 else len(term.left) / left_total
        relatedness = (0.5 + (p_left * (tf / max_tf))) + (0.5 + (p_right * (tf / max_tf)))
        frequency = tf / average_plus_std
        spread = len(term.sentences) / number_of_sentences
        case = max(term.tf_acronym, term.tf_proper) / (1.0 + math.log(tf))
        ids = term.sentences
        middle = len(ids) // 2
        median = ids[middle] if len(ids) % 2 else (ids[middle - 1] + ids[middle]) / 2
        position = math.log(math.log(3.0 + median))
        term.h = (position * relatedness) / (case + (frequency / relatedness) + (spread / relatedness))


def _candidate_score(candidate: _Candidate, terms: list[_Term]) -> float | None:
    """yake's ``ComposedWord.update_h`` ("bi" stop-word weighting); None where it divides by 0."""
    sum_h = 0.0
    prod_h = 1.0
    ids = candidate.terms
    for t, term_id in enumerate(ids):
        term = terms[term_id]
        if not term.stopword:
            sum_h += term.h
            prod_h *= term.h
            continue
        # A stop-word inside a phrase: how strongly it binds its neighbours.
        prob_left = 0.0
        if t > 0 and term_id in terms[ids[t - 1]].right:
            prob_left = terms[ids[t - 1]].right[term_id] / terms[ids[t - 1]].tf
        prob_right = 0.0
        if t < len(ids) - 1 and ids[t + 1] in term.right:
            prob_right = term.right[ids[t + 1]] / terms[ids[t + 1]].tf
        prob = prob_left * prob_right
        prod_h *= 1 + (1 - prob)
        sum_h -= 1 - prob
    denominator = (sum_h + 1) * candidate.tf
    if denominator == 0:
        return None
    return prod_h / denominator


def yake_reference(extractor: Any, text: str) -> list[tuple[str, float]]:
    """yake itself on ``text`` (for comparisons): ``extractor.extract_keywords`` as floats."""
    return [(keyword, float(score)) for keyword, score in extractor.extract_keywords(text)]
