"""What every part of the translation core shares: the languages, Han-script tests, Unicode
normalisation, and how a Latin-script name is found in a text (also in Chinese text, which glues
Latin words to the characters around them)."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

TextLanguage = Literal["en", "zh"]

LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "Simplified Chinese"}

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WIDE = re.compile(r"[\u3000-\u303f\uff00-\uffef\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def other_language(language: str) -> TextLanguage:
    return "zh" if language == "en" else "en"


def normalize(text: str) -> str:
    # NFKC: full-width digits, ％ and letters become ASCII, so both sides compare alike.
    return unicodedata.normalize("NFKC", text)


def is_han(term: str) -> bool:
    return bool(HAN.search(term))


LATIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[.&+'’-][A-Za-z0-9]+)*")


def compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def name_present(name: str, translation: str, compact_translation: str) -> bool:
    if re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z])", translation, re.I):
        return True
    # Spacing may change ("HKG AI V3" -> "HKGAIV3"); Chinese text glues Latin words together.
    compacted = compact(name)
    if len(compacted) >= 5:
        return compacted in compact_translation
    if HAN.search(translation):
        return any(compacted in compact(word) for word in LATIN_TOKEN.findall(translation))
    return False
