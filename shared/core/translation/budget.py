"""Token budgets: a rough token count for chunking, prompt budgets and rate limits."""

from __future__ import annotations

from shared.core.translation.text import WIDE


def estimate_tokens(text: str) -> int:
    """A rough token count for budgets and rate limits: about one token per Han character and
    one per four other characters (current BPE vocabularies give 0.6-1.5 per Han character)."""
    wide = len(WIDE.findall(text))
    return wide + (len(text) - wide + 3) // 4
