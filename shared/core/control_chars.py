"""Characters that are not text, defined once for every place stored or received text is cleaned:
feed entries (shared/core/feeds.py), model answers (shared/core/analysis_llm.py), reader pages and
feeds (services/publish/web/clean_text.py) and the operator's console (shared/console.py).

A feed or a model can carry them by accident or on purpose: an ESC starts a terminal escape
sequence, XML 1.0 refuses C0 controls (one in a title took every RSS feed down), a lone surrogate
cannot be encoded as UTF-8, a bidi override reverses the rest of a line.
"""

from __future__ import annotations

import re

# C0 controls but tab, line feed and carriage return; DEL; C1 controls.
CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# ... plus lone surrogates and the two noncharacters XML 1.0 excludes: nothing a reader can see.
NOT_TEXT = CONTROLS + "\ud800-\udfff\ufffe\uffff"
# Bidi embeddings, overrides and isolates: they reorder the text after them.
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
# Zero-width characters and marks (real text needs some of them inside words; a document title or a
# model's plain answer does not).
ZERO_WIDTH = "\u200b-\u200f\ufeff"

_NOT_TEXT = re.compile(f"[{NOT_TEXT}]")
# Terminal escape sequences (CSI "ESC [ … m", OSC "ESC ] … BEL" or "… ESC \\", two-character
# ones), so that removing them leaves no "[31m" behind.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC [ parameters, final byte
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the same, 8-bit
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL or ST
    r"|\x1b[@-Z\\-_]"  # two-character escapes
)


def without_not_text(text: str) -> str:
    """``text`` without the characters of ``NOT_TEXT`` (tabs and line breaks kept)."""
    return _NOT_TEXT.sub("", text)


def without_escape_sequences(text: str) -> str:
    """``text`` without whole terminal escape sequences (their control characters and parameters)."""
    return _ESCAPE_SEQUENCE.sub("", text)
