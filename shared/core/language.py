"""Language detection and text folding for matching.

``detect_language`` answers the only question the pipeline asks: English, Chinese, or something
we do not handle. ``fold_for_matching`` makes Simplified/Traditional, full-width/half-width and
upper/lower-case spellings of one text compare equal; its output is for matching only and is
never shown to a reader.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import opencc
    from lingua import LanguageDetector

DetectedLanguage = Literal["en", "zh", "other"]

# The detector knows the languages we handle plus the ones most easily confused with them
# (Japanese and Korean share Han characters; European languages share the Latin script), so
# that text in those languages comes back "other" instead of being forced into en or zh.
_CONFUSABLE_LANGUAGES = ("JAPANESE", "KOREAN", "FRENCH", "GERMAN", "SPANISH", "PORTUGUESE", "RUSSIAN")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_WHITESPACE = re.compile(r"\s+")

_detector_lock = threading.Lock()
_detector: LanguageDetector | None = None


def _get_detector() -> LanguageDetector:
    # Built once, lazily: loading the language models costs time and memory.
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                from lingua import Language, LanguageDetectorBuilder

                languages = [Language.ENGLISH, Language.CHINESE]
                languages += [getattr(Language, name) for name in _CONFUSABLE_LANGUAGES]
                # Low accuracy mode (trigram models only): ~10 MB instead of ~170 MB per process
                # (measured); Chinese is decided by the Han-character rule below, so lingua only
                # separates English from other Latin-script languages, where trigrams suffice.
                _detector = (
                    LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()
                )
    return _detector


def detect_language(text: str) -> DetectedLanguage:
    """ "en", "zh" (Simplified or Traditional) or "other" (also for empty or unreadable text)."""
    text = text.strip()
    if not text:
        return "other"
    han = len(_HAN.findall(text))
    # Chinese news text mixes in Latin brand names ("OpenAI 发布 GPT-5.5"), which lingua reads
    # as English; Han characters at least as many as Latin words, with no kana or hangul, are
    # Chinese (Traditional included).
    if han >= 2 and han >= len(_LATIN_WORD.findall(text)) and not _KANA_HANGUL.search(text):
        return "zh"
    from lingua import Language

    detected = _get_detector().detect_language_of(text)
    if detected == Language.ENGLISH:
        return "en"
    if detected == Language.CHINESE:
        return "zh"
    return "other"


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    import opencc

    # "t2s" converts characters only; the regional variants (tw2sp…) also rewrite vocabulary.
    return opencc.OpenCC("t2s")


def fold_for_matching(text: str) -> str:
    """NFKC, case-fold, Traditional→Simplified and collapsed whitespace: for matching only."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if _HAN.search(folded):
        folded = _t2s().convert(folded)
    return _WHITESPACE.sub(" ", folded).strip()
