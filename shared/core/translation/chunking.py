"""Long bodies split on paragraph boundaries within a token budget, so the chunks can be translated
in parallel and joined back in order."""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.core.translation.budget import estimate_tokens
from shared.core.translation.text import HAN

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
            step = max(1, budget_tokens if HAN.search(sentence) else budget_tokens * 4)
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
