"""Answers a weak model gives that must never be published as good text, each with a whole
sentence saying why. Pure functions, no I/O.

What small or badly prompted models were seen to do (Gemma 3 270M on llama.cpp, issue 18):
- **empty**: an empty string, only punctuation, or a placeholder from the prompt's example
  ("...", "<translation>", "string");
- **repetition**: a loop ("the the the the", one sentence or line again and again) until the
  token limit;
- **source_echo**: the source text given back instead of a translation (or, for a commentary,
  the article copied out);
- **prompt_echo**: the instructions, the schema or the taxonomy given back instead of an answer.

Wrong language is checked by the callers' own checks (translation QA, analysis guard rails).
The thresholds are shares of overlapping character windows, not fitted to a data set: an echo is
an answer made mostly (well over half) of the other text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

WeakCheck = Literal["empty", "repetition", "source_echo", "prompt_echo"]

# Placeholders of the prompts' JSON examples and schema words a model may give back as "text".
_PLACEHOLDERS = frozenset(
    {
        "...",
        "…",
        "string",
        "text",
        "translation",
        "<translation>",
        "<text>",
        "summary",
        "commentary",
        "<segment id>",
        "n/a",
        "none",
        "null",
        "todo",
        "tbd",
    }
)
_CONTENT = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u3400-\u9fff\uf900-\ufaff]")
# A unit of 2 to 60 characters repeated at least 4 times in a row ("the the the the ").
_LOOP = re.compile(r"(.{2,60}?)\1{3,}", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")

WINDOW = 6  # characters per overlapping window (after removing spaces and punctuation)
ECHO_SHARE = 0.7  # an answer this much made of another text's windows is an echo of it
MIN_ECHO_CHARS = 24  # shorter answers (a title, a name) share windows by chance


@dataclass(frozen=True)
class WeakAnswer:
    check: WeakCheck
    detail: str
    message: str  # one whole sentence, for the retry prompt, the logs and the item's reason

    def flag(self, segment: str) -> str:
        return f"{segment}:{self.check}:{self.detail}"


def _compact(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if _CONTENT.match(ch))


def _windows(compact: str) -> set[str]:
    if len(compact) < WINDOW:
        return {compact} if compact else set()
    return {compact[i : i + WINDOW] for i in range(len(compact) - WINDOW + 1)}


def overlap_share(answer: str, other: str) -> float:
    """Share of the answer's character windows found in ``other`` (0 when the answer is short)."""
    compact = _compact(answer)
    if len(compact) < MIN_ECHO_CHARS:
        return 0.0
    mine = _windows(compact)
    theirs = _windows(_compact(other))
    return len(mine & theirs) / len(mine) if mine else 0.0


def empty_answer(text: str) -> WeakAnswer | None:
    stripped = text.strip()
    if not _CONTENT.search(stripped):
        return WeakAnswer("empty", "", "The answer is empty.")
    if stripped.casefold() in _PLACEHOLDERS or re.fullmatch(r"<[^<>]{1,40}>", stripped):
        return WeakAnswer("empty", stripped[:40], f'The answer is only the placeholder "{stripped[:40]}".')
    return None


def repetition(text: str) -> WeakAnswer | None:
    """A loop: a short unit repeated 4+ times in a row, or one sentence or line 3+ times."""
    for match in _LOOP.finditer(text):
        unit = match.group(1)
        if _CONTENT.search(unit) and len(match.group(0)) >= 12:
            shown = unit.strip()[:30]
            return WeakAnswer(
                "repetition", shown, f'The answer repeats "{shown}" over and over (a generation loop).'
            )
    pieces = [p.strip() for p in _SENTENCE_END.split(text.replace("\n", " ")) if len(p.strip()) >= 15]
    pieces += [line.strip() for line in text.splitlines() if len(line.strip()) >= 15]
    if pieces:
        piece, count = Counter(pieces).most_common(1)[0]
        if count >= 3:
            shown = piece[:30]
            return WeakAnswer(
                "repetition", shown, f'The answer repeats the same sentence {count} times ("{shown}...").'
            )
    return None


def echo_of(text: str, other: str, check: WeakCheck, what: str) -> WeakAnswer | None:
    share = overlap_share(text, other)
    if share >= ECHO_SHARE:
        return WeakAnswer(
            check,
            f"{share:.2f}",
            f"The answer copies {what} ({share:.0%} of it) instead of writing its own text.",
        )
    return None


def weak_answer_failures(
    text: str,
    *,
    source: str | None = None,
    source_what: str = "the source text",
    prompts: Iterable[str] = (),
) -> list[WeakAnswer]:
    """Why ``text`` is a weak answer (empty list: none of these problems). ``source``: the text
    it must not copy out (the text to translate, the article for a commentary); ``prompts``: the
    instructions it must not give back."""
    empty = empty_answer(text)
    if empty:
        return [empty]
    out: list[WeakAnswer] = []
    loop = repetition(text)
    if loop:
        out.append(loop)
    if source and _compact(text) and _compact(text) == _compact(source):
        out.append(WeakAnswer("source_echo", "1.00", f"The answer is {source_what} itself, unchanged."))
    elif source:
        echoed = echo_of(text, source, "source_echo", source_what)
        if echoed:
            out.append(echoed)
    prompt_text = "\n".join(p for p in prompts if p)
    if prompt_text:
        echoed = echo_of(text, prompt_text, "prompt_echo", "the instructions it was given")
        if echoed:
            out.append(echoed)
    return out
