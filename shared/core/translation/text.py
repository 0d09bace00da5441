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


# Capitalised English words that are translated as ordinary words, not kept as names; and currency
# codes, which belong to the amount they precede (4亿元 is "RMB 400 million").
NOT_NAMES = frozenset(
    """I A An The This That These Those It Its He She They We You His Her Their Our My Mr Mrs Ms Dr Prof
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July
    August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    Group Inc Corp Corporation Co Company Ltd Limited Holdings Holding Technologies Technology Tech Labs
    Lab Capital Ventures Partners Bank Fund Funds University Institute Association Ministry Department
    Agency Commission Council Committee Court Office Bureau Foundation Motor Motors Electronics Cloud
    Robotics Systems Semiconductor Micro Microelectronics Pharmaceutical Pharmaceuticals Pharma Media
    Network Networks Securities Exchange Market Markets Street Road City Province State States National
    Federal Reserve Government Parliament Congress Senate House President Prime Minister Chairman Vice
    Secretary Chief Officer Executive Financial Director General Minister Premier Governor Mayor
    North South East West Northern Southern Eastern Western Central Asia Asian Africa African Middle
    Pacific Atlantic Internet Web English Mandarin Christmas New Year Spring Festival Republican
    Republicans Democrat Democrats Communist Party Olympics Series Model Models Edition Pro Max Plus
    Ultra Mini Day Week Month Quarter Q RMB CNY USD HKD EUR GBP JPY""".split()
)


def sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“”‘’([（《「")
    return not before or before[-1] in ".!?:;\n。！？：；…—-"
