"""Extractive summary in the source language: TextRank over sentences plus a lead-position prior.

Why not ``SnowNLP(text).summary()`` directly: it splits on commas (so it returns clauses without
punctuation, in rank order), its BM25 weights go negative for words found in more than half the
sentences, and importing it loads its sentiment models (~3 s). The ranking below is the same
TextRank idea (Mihalcea & Tarau 2004: word-overlap similarity normalised by sentence length,
PageRank by power iteration) on whole sentences, tokenised with jieba for Chinese.

Headlines are not sentences of the summary. An extracted body often starts with the page's headline
on its own line (no full stop); taken as a sentence it was glued to the next one ("…data centres and
power Foxconn, the Taiwanese…"). Lines without sentence-ending punctuation (headline, subheads,
bylines) and the title itself are left out, unless the text has nothing else.

A short article (no more sentences than the summary may have) is its own summary: its lead
sentence(s) within the length limit, rather than no summary at all.
"""

from __future__ import annotations

import math
import re

import numpy as np

from shared.core.keyphrases import ZH_STOP_WORDS, zh_tokenizer

DEFAULT_MAX_CHARS = {"zh": 220, "en": 600}
# Below this many sentences there is nothing to choose between: the text is its own summary.
MIN_SENTENCES = 3
LEAD_WEIGHT = 0.35  # news puts the point first; how much the first sentences are favoured
DAMPING = 0.85

_ZH_SENTENCE = re.compile(r"[^。！？!?；;]+[。！？!?；;]*[”’」』)）]*")
_EN_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")
_EN_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Inc|Corp|Co|Ltd|Jr|Sr|St|vs|No|U\.S|U\.K|U\.N|E\.U|[A-Z])\.$"
)
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*|\d+(?:\.\d+)?")
EN_STOP_WORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being it its
    this that these those he she they we you i his her their our your has have had do does did will
    would can could should may might must not no so than then there here also about into over after
    before more most such said says which who whom what when where while up out new one two""".split()
)


_SENTENCE_END = re.compile(r"[.!?。！？!?…;；:：][\"”’」』)）\]]*$")
_TITLE_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def split_sentences(text: str, language: str) -> list[str]:
    """Sentences of ``text`` with their punctuation kept. A line break always ends a sentence."""
    text = text.strip()
    if not text:
        return []
    if language == "zh":
        return [s.strip() for line in text.splitlines() for s in _ZH_SENTENCE.findall(line) if s.strip()]
    pieces: list[str] = []
    for part in re.split(r"\n\s*\n|\n", text):
        start = 0
        for m in _EN_SENTENCE_END.finditer(part):
            candidate = part[start : m.start() + len(m.group(0).rstrip())]
            if _EN_ABBREVIATIONS.search(candidate.rstrip('"”’)')):
                continue  # "C.C. Wei", "U.S. rules": not a sentence end
            pieces.append(candidate.strip())
            start = m.end()
        pieces.append(part[start:].strip())
    return [p for p in pieces if p]


def _tokens(sentence: str, language: str) -> set[str]:
    if language == "zh":
        words = (w.strip().lower() for w in zh_tokenizer().lcut(sentence))
        return {w for w in words if len(w) > 1 and w not in ZH_STOP_WORDS and re.search(r"\w", w)}
    return {w.lower() for w in _EN_WORD.findall(sentence) if w.lower() not in EN_STOP_WORDS}


def rank_sentences(sentences: list[str], language: str) -> list[float]:
    """TextRank score of each sentence plus a lead prior (higher is more central)."""
    n = len(sentences)
    tokens = [_tokens(s, language) for s in sentences]
    sim = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            common = len(tokens[i] & tokens[j])
            if common and len(tokens[i]) > 1 and len(tokens[j]) > 1:
                sim[i, j] = sim[j, i] = common / (math.log(len(tokens[i])) + math.log(len(tokens[j])))
    out_weight = sim.sum(axis=1)
    transition = np.divide(sim, out_weight[:, None], out=np.zeros_like(sim), where=out_weight[:, None] > 0)
    scores = np.ones(n) / n
    for _ in range(100):
        updated = (1 - DAMPING) / n + DAMPING * transition.T @ scores
        if np.abs(updated - scores).sum() < 1e-6:
            scores = updated
            break
        scores = updated
    centrality = scores / scores.max() if scores.max() > 0 else scores
    lead = np.array([1.0 / (1 + i) for i in range(n)])
    return [float(v) for v in (centrality + LEAD_WEIGHT * lead)]


def _same_text(a: str, b: str) -> bool:
    return _TITLE_NOISE.sub("", a).casefold() == _TITLE_NOISE.sub("", b).casefold()


def summary_sentences(text: str, language: str, title: str | None = None) -> list[str]:
    """The sentences a summary may use: the text's sentences without its headline-like lines (the
    title, and lines that do not end like a sentence), unless nothing else is left."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if title:
        lines = [line for line in lines if not _same_text(line, title)]
    prose = [line for line in lines if _SENTENCE_END.search(line)]
    return split_sentences("\n".join(prose or lines), language)


def _clip(sentence: str, limit: int, language: str) -> str:
    """A sentence longer than ``limit``, cut at its last clause break (else at the limit) with "…"."""
    room = sentence[: max(1, limit - 1)]
    breaks = "，,；;、：:" if language == "zh" else ",;:"
    cut = max(room.rfind(ch) for ch in breaks)
    if cut < limit // 3 and language != "zh":
        cut = room.rfind(" ")
    head = room[:cut] if cut >= limit // 3 else room
    return head.rstrip(" ,;:，；、：") + "…"


def lead_summary(sentences: list[str], language: str, limit: int, max_sentences: int) -> str | None:
    """The first sentences, in order, as many as fit in ``limit`` (the first one clipped if alone
    it is too long)."""
    joiner = "" if language == "zh" else " "
    chosen: list[str] = []
    used = 0
    for sentence in sentences[:max_sentences]:
        cost = len(sentence) + (len(joiner) if chosen else 0)
        if used + cost > limit:
            break
        chosen.append(sentence)
        used += cost
    if not chosen:
        return _clip(sentences[0], limit, language) if sentences else None
    return joiner.join(chosen)


def extractive_summary(
    text: str,
    language: str,
    max_sentences: int = 3,
    max_chars: int | None = None,
    title: str | None = None,
) -> str | None:
    """The most central sentences of ``text``, in their original order, within ``max_chars``;
    for a short text (fewer than ``MIN_SENTENCES`` sentences, or no more than ``max_sentences``),
    its lead sentence(s). ``title`` (and any headline-like line) is never part of the summary.

    None when the language is not handled or the text has no sentence.
    """
    if language not in DEFAULT_MAX_CHARS or max_sentences < 1:
        return None
    limit = max_chars or DEFAULT_MAX_CHARS[language]
    sentences = summary_sentences(text, language, title)
    if not sentences:
        return None
    if len(sentences) < MIN_SENTENCES or len(sentences) <= max_sentences:
        return lead_summary(sentences, language, limit, max_sentences)
    scores = rank_sentences(sentences, language)
    chosen: list[int] = []
    used = 0
    joiner_len = 0 if language == "zh" else 1
    for i in sorted(range(len(sentences)), key=lambda i: -scores[i]):
        cost = len(sentences[i]) + (joiner_len if chosen else 0)
        if used + cost > limit:
            continue
        chosen.append(i)
        used += cost
        if len(chosen) == max_sentences:
            break
    if not chosen:  # every sentence is longer than the limit: the lead, clipped
        return lead_summary(sentences, language, limit, max_sentences)
    return ("" if language == "zh" else " ").join(sentences[i] for i in sorted(chosen))
