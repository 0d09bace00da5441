"""Language detection and text folding for matching.

``detect_language`` answers the only question the pipeline asks: English, Chinese, or something
we do not handle. ``detect_article_language`` decides it for a whole article, where the title
alone is often too short (a Hacker News teaser) or misleading (a Chinese post whose title is the
English product slogan): the body decides when it is long enough, then the title, and when the
text cannot tell, the source's configured language, the feed's declared language and finally the
script. ``fold_for_matching`` makes Simplified/Traditional, full-width/half-width and
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
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# Aggregator boilerplate in teaser summaries ("Score: 176 Comments: 112 By: mmsc Discussion: …"):
# labels and numbers that say nothing about the language and confuse the trigram models.
_FIELD_LABEL = re.compile(r"\b[A-Z][a-z]+:\s*\S*")
_DIGITS = re.compile(r"\d[\d.,:%/-]*")
# Body text with at least this many letters (Latin) or Han characters decides the article's
# language over its title; below it the body is a teaser fragment and the title counts too.
BODY_DECIDES_MIN_LETTERS = 80
BODY_DECIDES_MIN_HAN = 20
# Latin-script text with fewer words than this is "short": trigram statistics over a few words
# are noise (measured: "Cursor Camp", "Kimi K2: Open Agentic Intelligence" come back French or
# Spanish), so a short Latin text is English unless a hint or a confident detection says otherwise.
SHORT_TEXT_WORDS = 12
# Confidence (lingua's relative confidence, 0-1) a short Latin text needs to be called another
# language than English when no hint says so.
SHORT_TEXT_OTHER_CONFIDENCE = 0.9

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


def to_simplified(text: str) -> str:
    """Traditional Chinese characters as Simplified (characters only; other text unchanged)."""
    return _t2s().convert(text) if _HAN.search(text) else text


def fold_for_matching(text: str) -> str:
    """NFKC, case-fold, Traditional→Simplified and collapsed whitespace: for matching only."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if _HAN.search(folded):
        folded = _t2s().convert(folded)
    return _WHITESPACE.sub(" ", folded).strip()


def normalise_language_tag(tag: str | None) -> DetectedLanguage | None:
    """A feed's or source's language tag ("en-US", "zh-cn", "zh-Hant", "en") as en/zh, else None."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    if primary == "en":
        return "en"
    if primary in ("zh", "cmn", "yue"):
        return "zh"
    return None


def _clean_for_detection(text: str) -> str:
    text = _URL.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def _script_counts(text: str) -> tuple[int, int, bool]:
    """(Han characters, Latin words, any kana/hangul)."""
    return len(_HAN.findall(text)), len(_LATIN_WORD.findall(text)), bool(_KANA_HANGUL.search(text))


def _short_latin(text: str, hint: DetectedLanguage | None) -> DetectedLanguage:
    """A short Latin-script text: lingua decides only when it is sure it is not English."""
    if hint is not None:
        return hint
    from lingua import Language

    values = _get_detector().compute_language_confidence_values(text)
    top = values[0] if values else None
    if top is not None and top.language != Language.ENGLISH and top.value >= SHORT_TEXT_OTHER_CONFIDENCE:
        return "other"
    # The only Latin-script language the newsroom handles is English.
    return "en"


def _decide(text: str, hint: DetectedLanguage | None) -> DetectedLanguage | None:
    """The language of one part of an article, or None when the part cannot tell."""
    han, latin_words, kana_hangul = _script_counts(text)
    if not han and not latin_words:
        return None
    detected = detect_language(text)
    if detected != "other" or kana_hangul or han >= 2:
        return detected
    # Latin text that lingua could not place: without the aggregator fields, and when short,
    # by script and hints.
    words_only = _WHITESPACE.sub(" ", _DIGITS.sub(" ", _FIELD_LABEL.sub(" ", text))).strip()
    if not words_only:
        return None
    if words_only != text:
        detected = detect_language(words_only)
        if detected != "other":
            return detected
    if len(_LATIN_WORD.findall(words_only)) < SHORT_TEXT_WORDS:
        return _short_latin(words_only, hint)
    return "other"


def detect_article_language(
    title: str,
    body: str | None = None,
    *,
    configured: str | None = None,
    declared: str | None = None,
) -> DetectedLanguage:
    """The language of an article from its title, its body (or summary) and two hints.

    Order of evidence, surest first:
    1. the body, when it has enough text (``BODY_DECIDES_MIN_*``): a Chinese post titled with the
       English slogan "Qwen2.5 Omni: See, Hear, Talk, Write, Do It All!" is Chinese;
    2. title and body together;
    3. for short Latin-script text that lingua cannot place: the source's configured language,
       then the feed's declared language (``<language>en-US</language>``), then the script
       (Latin → English, the only Latin-script language handled), unless lingua is confident it
       is another language.
    URLs and "Label: value" aggregator fields are left out of the evidence.
    """
    hint = normalise_language_tag(configured) or normalise_language_tag(declared)
    clean_title = _clean_for_detection(title)
    clean_body = _clean_for_detection(body or "")
    if clean_body:
        han, _, _ = _script_counts(clean_body)
        letters = sum(ch.isascii() and ch.isalpha() for ch in clean_body)
        if han >= BODY_DECIDES_MIN_HAN or letters >= BODY_DECIDES_MIN_LETTERS:
            decided = _decide(clean_body, hint)
            if decided is not None:
                return decided
    combined = f"{clean_title} {clean_body}".strip()
    decided = _decide(combined, hint) if combined else None
    if decided is not None:
        return decided
    return hint or "other"
