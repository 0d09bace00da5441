"""Scoring of an article extractor against hand-checked bodies (pure).

Our own implementation of the scoring described by the public article-extraction
benchmark (scrapinghub/article-extraction-benchmark):

- tokens are Unicode ``\\w+`` runs; shingles are 4-token n-grams counted with multiplicity
  (a text shorter than 4 tokens gives one shorter shingle, an empty text none);
- per page, TP / FP / FN are the shared / extra predicted / missing shingle counts,
  normalised to sum to 1 so that long pages do not weigh more;
- precision is the mean of TP/(TP+FP) over pages that predicted something, recall the mean of
  TP/(TP+FN) over pages that have a body; a page with neither FP nor FN counts 1 for both;
- F1 is the harmonic mean of the two means (not the mean of per-page F1);
- accuracy is the share of pages whose token lists match exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SHINGLE_SIZE = 4

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str | None) -> list[str]:
    """The benchmark's tokens: runs of Unicode word characters."""
    return _TOKEN_RE.findall(text or "")


def shingles(tokens: list[str], size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Counted n-grams of ``size`` tokens; fewer tokens than ``size`` give one short shingle."""
    if not tokens:
        return Counter()
    if len(tokens) < size:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


@dataclass(frozen=True)
class PageScore:
    """One page: normalised TP/FP/FN shares (sum 1, or all 0 when both texts are empty)."""

    tp: float
    fp: float
    fn: float
    exact: bool

    @property
    def precision(self) -> float | None:
        """None when nothing was predicted (the page does not count for precision)."""
        if self.fp == 0 and self.fn == 0:
            return 1.0
        if self.tp + self.fp == 0:
            return None
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """None when the page has no expected body (it does not count for recall)."""
        if self.fp == 0 and self.fn == 0:
            return 1.0
        if self.tp + self.fn == 0:
            return None
        return self.tp / (self.tp + self.fn)

    @property
    def f1(self) -> float:
        """Per-page F1, only used to rank pages from worst to best."""
        p, r = self.precision or 0.0, self.recall or 0.0
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def score_page(expected: str | None, predicted: str | None) -> PageScore:
    """Compare one predicted body with the expected one."""
    expected_tokens, predicted_tokens = tokenize(expected), tokenize(predicted)
    expected_counts, predicted_counts = shingles(expected_tokens), shingles(predicted_tokens)
    tp = sum((expected_counts & predicted_counts).values())
    fp = sum((predicted_counts - expected_counts).values())
    fn = sum((expected_counts - predicted_counts).values())
    total = tp + fp + fn
    exact = expected_tokens == predicted_tokens
    if total == 0:
        return PageScore(0.0, 0.0, 0.0, exact)
    return PageScore(tp / total, fp / total, fn / total, exact)


@dataclass(frozen=True)
class BenchmarkScore:
    f1: float
    precision: float
    recall: float
    accuracy: float
    n_pages: int


def _mean(values: Iterable[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else 0.0


def aggregate(pages: Iterable[PageScore]) -> BenchmarkScore:
    """F1 of the mean precision and mean recall, plus exact-match accuracy."""
    page_list = list(pages)
    if not page_list:
        raise ValueError("no pages to score")
    precision = _mean(p.precision for p in page_list)
    recall = _mean(p.recall for p in page_list)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    accuracy = sum(p.exact for p in page_list) / len(page_list)
    return BenchmarkScore(f1, precision, recall, accuracy, len(page_list))


def score_corpus(expected: Mapping[str, str], predicted: Mapping[str, str | None]) -> BenchmarkScore:
    """Score every page of ``expected``; a page missing from ``predicted`` counts as empty."""
    return aggregate(score_page(body, predicted.get(page_id)) for page_id, body in expected.items())
