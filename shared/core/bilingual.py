"""Source text as the first translation tier (pure: no I/O).

A story covered in both languages shows, in each language, what an outlet in that language wrote;
a language model only translates the languages no member covers.

**Which member speaks for a language** (``rank_key``; the first difference decides):

1. not a teaser: a member whose text we have and which is longer than ``TEASER_CHARS`` (and not
   paywalled) beats a teaser or a member known only by its title (a teaser title is often bait);
2. source reputation: the source's configured weight (the one Hot and Quality use);
3. completeness: the length of its text (a CJK character counts as three), in steps of
   ``COMPLETENESS_STEP`` characters (so a few characters more do not flip the choice);
4. earliest: published (or, without a date, first seen) first;
5. article id, so that the choice never depends on arrival order.

The primary language (the story's representative article, the one that was analysed and scored)
keeps the representative's own text; the rule picks the text of every other language.

**Pairing guard** (``check_pairing``): the candidate title is compared with the primary title by
the translation QA checks, both ways (numbers, money, percentages, dates, Latin-script names,
glossary names). A difference is recorded (``disagrees`` with flags) and the title is still shown:
two outlets may really report different figures, and an independent headline is no translation.
(In an English headline in Title Case a single capitalised word is not taken for a name.)
When both titles name a versioned product or model (a Latin-script name with a digit: GPT-5,
Qwen2.5-Coder, QwQ-32B) and they share none, or their first (the headline's subject) differs,
the two titles are about different things (two releases of one family on the same day): the
verdict is ``rejected``, the member stays listed as a
source (clustering decides membership) but its text is not used as the story's text in its
language, and the rejection is recorded on the item (``LanguageText.rejected``). The same holds
when the Chinese title names Latin-script terms (products, companies: "QVQ-Max", "GSPO") and the
English title contains none of them as a whole word: a Chinese headline writes a name in Latin
script only to name it. (A rejection costs a pairing, never shows a wrong one: the language then
comes from the next member, the model, or stays missing.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.core.summarize import DEFAULT_MAX_CHARS, extractive_summary, split_sentences
from shared.core.translation import Glossary, check_translation
from shared.events import Article, LanguageText, PairingCheck, StoryMember

LANGUAGES = ("en", "zh")
TEASER_CHARS = 200
COMPLETENESS_STEP = 250
COMPLETENESS_CAP = 3000
# QA checks that compare facts; the language, length and markup checks are about translations.
PAIRING_CHECKS = frozenset({"number", "amount", "percent", "year", "month", "latin_name", "glossary"})

# The reason a reader may see when no model is configured: never operator advice (environment
# variables go to the logs, `newsroom status` and the start-up banner).
NO_MODEL_REASON = "no language model configured"

NOTICES = {
    "en": "English version not available yet / 暂无英文版本",
    "zh": "Chinese version not available yet / 暂无中文版本",
}

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PRODUCT = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[.\-][A-Za-z0-9]+)*")


@dataclass(frozen=True)
class Candidate:
    """A member's text in one language, as far as it is known."""

    article_id: str
    language: str
    title: str
    summary: str | None
    source_id: str
    source_name: str
    url: str
    source_weight: float
    text_chars: int
    teaser: bool
    published_at: datetime | None
    has_text: bool

    def provenance(self, pairing: PairingCheck | None) -> LanguageText:
        return LanguageText(
            origin="source",
            summary_origin="source" if self.summary else "none",
            article_id=self.article_id,
            source_id=self.source_id,
            source_name=self.source_name,
            url=self.url,
            source_weight=self.source_weight,
            text_chars=self.text_chars,
            teaser=self.teaser,
            published_at=self.published_at,
            pairing=pairing,
        )


def source_summary(article: Article) -> str | None:
    """The article's extractive summary in its own language; for a text too short to summarise,
    the feed's own summary, else its leading sentences within the summary length."""
    language = article.language
    text = article.body or article.summary or ""
    if language not in DEFAULT_MAX_CHARS or not text.strip():
        return None
    extract = extractive_summary(text, language)
    if extract:
        return extract
    limit = DEFAULT_MAX_CHARS[language]
    if article.summary and len(article.summary.strip()) <= 2 * limit:
        return article.summary.strip()
    kept: list[str] = []
    for sentence in split_sentences(text, language):
        if sum(map(len, kept)) + len(sentence) > limit:
            break
        kept.append(sentence)
    return ("" if language == "zh" else " ").join(kept) or None


def weighted_length(text: str) -> int:
    """Visible length with a CJK character counted as three (about the information of three
    Latin letters; the feed parser's teaser rule weighs them the same way)."""
    text = text.strip()
    return len(text) + 2 * len(_CJK.findall(text))


def candidate_from_article(article: Article) -> Candidate:
    chars = weighted_length(article.body or article.summary or "")
    return Candidate(
        article_id=article.article_id,
        language=article.language,
        title=article.title,
        summary=source_summary(article),
        source_id=article.source_id,
        source_name=article.source_name,
        url=article.url,
        source_weight=article.source_weight,
        text_chars=chars,
        teaser=article.paywalled or chars < TEASER_CHARS,
        published_at=article.published_at,
        has_text=True,
    )


def candidate_from_member(member: StoryMember) -> Candidate:
    """A member known only by its cluster entry (title, no text)."""
    return Candidate(
        article_id=member.article_id,
        language=member.language,
        title=member.title,
        summary=None,
        source_id=member.source_id,
        source_name=member.source_name,
        url=member.url,
        source_weight=member.source_weight,
        text_chars=0,
        teaser=True,
        published_at=member.published_at or member.joined_at,
        has_text=False,
    )


def candidate_from_provenance(
    text: LanguageText, language: str, title: str, summary: str | None
) -> Candidate:
    """The member an item already shows for ``language`` (so a later candidate is compared with it)."""
    return Candidate(
        article_id=text.article_id or "",
        language=language,
        title=title,
        summary=summary if text.summary_origin == "source" else None,
        source_id=text.source_id or "",
        source_name=text.source_name or "",
        url=text.url or "",
        source_weight=text.source_weight if text.source_weight is not None else 1.0,
        text_chars=text.text_chars or 0,
        teaser=bool(text.teaser) if text.teaser is not None else True,
        published_at=text.published_at,
        has_text=bool(text.text_chars),
    )


def rank_key(candidate: Candidate) -> tuple[int, float, int, float, str]:
    """Smaller is better (see the module docstring for the rule)."""
    gate = 0 if candidate.has_text and not candidate.teaser else 1 if candidate.has_text else 2
    completeness = min(candidate.text_chars, COMPLETENESS_CAP) // COMPLETENESS_STEP
    when = candidate.published_at.timestamp() if candidate.published_at else float("inf")
    return (gate, -candidate.source_weight, -completeness, when, candidate.article_id)


def product_list(title: str) -> list[str]:
    """Versioned product or model names in a title, in order: Latin-script names with a digit."""
    names: list[str] = []
    for match in _PRODUCT.finditer(title):
        token = match.group(0).rstrip(".-").lower()
        if any(c.isdigit() for c in token) and any(c.isalpha() for c in token) and token not in names:
            names.append(token)
    return names


def product_names(title: str) -> set[str]:
    return set(product_list(title))


def latin_terms(title: str) -> set[str]:
    """The Latin-script terms of a title, whole and lower-cased ("qvq-max", "openai", "ai")."""
    return {m.group(0).rstrip(".-").lower() for m in _PRODUCT.finditer(title)}


def _title_cased(title: str) -> bool:
    """A headline in Title Case: its capitalised words are no sign of names."""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", title) if len(w) >= 4]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def _plain_word(name: str) -> bool:
    """One capitalised word ("World", "Evidence"), not an acronym, brand or versioned name."""
    return name.isalpha() and name[:1].isupper() and name[1:].islower()


def _declared(language: str) -> Callable[[str], str]:
    """The language is known (the member's own): no detection needed."""

    def detect(_text: str) -> str:
        return language

    return detect


def check_pairing(
    primary_title: str, primary_language: str, candidate: Candidate, glossary: Glossary
) -> PairingCheck:
    """Compare a candidate title with the primary title (see the module docstring)."""
    flags: list[str] = []
    directions = (
        (primary_title, candidate.title, primary_language, candidate.language),
        (candidate.title, primary_title, candidate.language, primary_language),
    )
    for source, other, source_language, other_language in directions:
        if source_language not in LANGUAGES or other_language not in LANGUAGES:
            continue
        failures = check_translation(
            source,
            other,
            source_language,
            other_language,
            glossary,
            detect=_declared(other_language),
        )
        headline = source_language == "en" and _title_cased(source)
        flags += [
            f.flag(f"{source_language}>{other_language}")
            for f in failures
            if f.check in PAIRING_CHECKS
            and not (headline and f.check == "latin_name" and _plain_word(f.detail))
        ]
    ours, theirs = product_names(primary_title), product_names(candidate.title)
    verdict: str = "disagrees" if flags else "agrees"
    if ours and theirs and not ours & theirs:
        verdict = "rejected"
        flags.append(f"product:{','.join(sorted(ours))}<>{','.join(sorted(theirs))}")
    elif ours and theirs and product_list(primary_title)[0] != product_list(candidate.title)[0]:
        # The headline's subject is its first product: "Qwen1.5-110B" is not "Qwen1.5".
        verdict = "rejected"
        flags.append(f"subject:{product_list(primary_title)[0]}<>{product_list(candidate.title)[0]}")
    titles = {primary_language: primary_title, candidate.language: candidate.title}
    if set(titles) == {"en", "zh"}:
        # A Chinese headline writes product and company names in Latin script only when it names
        # them: none of them in the English headline means another subject.
        named = latin_terms(titles["zh"])
        if named and not named & latin_terms(titles["en"]):
            verdict = "rejected"
            flags.append(f"names:{','.join(sorted(named))}")
    return PairingCheck(
        article_id=candidate.article_id,
        source_name=candidate.source_name,
        title=candidate.title,
        verdict=verdict,  # type: ignore[arg-type]
        flags=list(dict.fromkeys(flags)),
    )


@dataclass(frozen=True)
class Choice:
    candidate: Candidate | None
    pairing: PairingCheck | None
    rejected: tuple[PairingCheck, ...]


def choose(
    primary_title: str,
    primary_language: str,
    candidates: Iterable[Candidate],
    glossary: Glossary,
    language: str,
) -> Choice:
    """The best candidate in ``language`` whose title is not rejected by the pairing guard.
    Several entries for one article (its title from the cluster, its text from an event) count
    as the most complete one."""
    by_article: dict[str, Candidate] = {}
    for candidate in candidates:
        if candidate.language != language or not candidate.title.strip():
            continue
        known = by_article.get(candidate.article_id)
        if known is None or rank_key(candidate) < rank_key(known):
            by_article[candidate.article_id] = candidate
    rejected: list[PairingCheck] = []
    for candidate in sorted(by_article.values(), key=rank_key):
        pairing = check_pairing(primary_title, primary_language, candidate, glossary)
        if pairing.verdict == "rejected":
            rejected.append(pairing)
            continue
        return Choice(candidate, pairing, tuple(rejected))
    return Choice(None, None, tuple(rejected))


def covered_languages(
    primary_title: str, primary_language: str, members: Sequence[StoryMember], glossary: Glossary
) -> dict[str, Choice]:
    """For the translate stage: the languages a member already covers (title-only candidates)."""
    out: dict[str, Choice] = {}
    candidates = [candidate_from_member(m) for m in members]
    for language in LANGUAGES:
        if language == primary_language:
            continue
        choice = choose(primary_title, primary_language, candidates, glossary, language)
        if choice.candidate is not None:
            out[language] = choice
    return out


def missing(reason: str, language: str) -> LanguageText:
    """A language the item does not have: the machine-readable reason and the reader's line."""
    return LanguageText(origin="none", reason=reason, notice=NOTICES.get(language))  # type: ignore[arg-type]
