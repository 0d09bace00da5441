"""Latin-script names a translation must keep."""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

from shared.core.translation.glossary import Glossary
from shared.core.translation.text import LATIN_TOKEN, NOT_NAMES, sentence_initial
from shared.core.translation.text import normalize as _normalize

_POSSESSIVE = re.compile(r"['’]s$")
_NOT_NAMES = NOT_NAMES
_sentence_initial = sentence_initial


def _title_case(text: str) -> bool:
    """A headline in Title Case: one sentence whose longer words are nearly all capitalised."""
    if re.search(r"[.!?]\s+\S", text.strip()):
        return False
    words = re.findall(r"[A-Za-z]{4,}", text)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) >= 0.75


# A word that reads as Hanyu Pinyin syllables ("Hengmai", "Xiaohongshu"): in English text it is
# usually a Chinese name, which a Chinese translation rightly writes in characters.
_PINYIN_WORD = re.compile(
    r"(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ei|ao|ou|an|en|in|un|ia|ie|iu|ua|uo|ue|ui"
    r"|er|a|e|i|u|(?<=[bpmfwyl])o))+",
    re.I,
)
_NAME_PART = re.compile(r"-(?=[A-Za-z])")
# Capitalised words in quotation marks are mostly phrases and titles ("Versailles vs. lying flat").
_QUOTED = re.compile(r"“[^”\n]{1,200}”|\"[^\"\n]{1,200}\"")


# A Latin word, or digits glued to capitals (6Plus, 4K, 3D, 7FRESH): a product name whose digits
# matter. Not "10x", "3pm" or "1970s" (lower case after the digits).
_LATIN_TOKEN = re.compile(rf"(?<![A-Za-z0-9])\d+(?=[A-Z])[A-Za-z0-9]+|{LATIN_TOKEN.pattern}")


def _name_tokens(text: str) -> list[tuple[str, int]]:
    """Latin words with their offsets; hyphenated words split ("edge-AI"), "GPT-5" kept whole."""
    tokens = []
    for match in _LATIN_TOKEN.finditer(text):
        offset = match.start()
        for part in _NAME_PART.split(match.group(0)):
            tokens.append((_POSSESSIVE.sub("", part), offset))
            offset += len(part) + 1
    return tokens


def latin_names(text: str, language: str, glossary: Glossary | None = None) -> list[str]:
    """Latin-script names a translation must keep (see ``_latin_names``)."""
    # QA asks twice for the same text (missing names, then how often each is written).
    return list(_cached_latin_names(text, language, glossary))


@lru_cache(maxsize=32)
def _cached_latin_names(text: str, language: str, glossary: Glossary | None) -> tuple[str, ...]:
    return tuple(_latin_names(text, language, glossary))


def _latin_names(text: str, language: str, glossary: Glossary | None = None) -> list[str]:
    """Latin-script names a translation must keep. In Chinese text every Latin-script word is one
    (OpenAI, GPT-5, Sarah Friar). In English text: acronyms, mixed-case words and capitalised words
    that do not start a sentence; not capitalised words in quotation marks, in a title-case
    headline or in a run of three or more capitalised words (titles of things, which are
    translated), nor pinyin words (Chinese names, which Chinese writes in characters).
    Words covered by the glossary are left to the glossary check."""
    text = _normalize(text)
    covered = (
        [(m.start, m.end) for m in glossary.find(text, language, include_accepted=True)] if glossary else []
    )
    title_case = language == "en" and _title_case(text)
    quoted = [(m.start(), m.end()) for m in _QUOTED.finditer(text)] if language == "en" else []
    candidates: list[tuple[str, bool]] = []  # (token, capitalised-only name)
    covered_starts = [begin for begin, _ in covered]  # in text order, not overlapping
    for token, start in _name_tokens(text):
        nearest = bisect.bisect_right(covered_starts, start) - 1
        if nearest >= 0 and start < covered[nearest][1]:
            # Not a name to check, but a capitalised glossary word still belongs to a run of
            # capitalised words ("Public Cloud Large Model Token Service").
            candidates.append(("", token[:1].isupper() and language == "en"))
            continue
        if len(token) < 2 or token in _NOT_NAMES:
            candidates.append(("", token[:1].isupper() and language == "en" and len(token) > 1))
            continue
        if language != "en":
            candidates.append((token, False))
            continue
        acronym = sum(c.isupper() for c in token) >= 2 or any(c.isdigit() for c in token)
        mixed = any(c.isupper() for c in token[1:])
        if acronym or mixed:
            candidates.append((token, False))
        elif (
            token[0].isupper()
            and not title_case
            and not _sentence_initial(text, start)
            and not any(begin < start < end for begin, end in quoted)
        ):
            candidates.append((token, True))
        else:
            candidates.append(("", False))
    names: dict[str, None] = {}
    index = 0
    while index < len(candidates):
        token, capitalised = candidates[index]
        if not capitalised:
            if token:
                names.setdefault(token, None)
            index += 1
            continue
        run_end = index
        while run_end < len(candidates) and candidates[run_end][1]:
            run_end += 1
        if run_end - index < 3:
            for word, _ in candidates[index:run_end]:
                if word and not _PINYIN_WORD.fullmatch(word):
                    names.setdefault(word, None)
        index = run_end
    return list(names)
