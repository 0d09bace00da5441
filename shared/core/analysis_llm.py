"""The LLM analysis tier's pure core: prompt variables, guard rails on the model's answer, and the
merge of the local and LLM tiers into the ``Analysis`` event section. No I/O, no clock.

- ``analyze_prompt_variables``: what the versioned prompt (shared/prompts/analyze.v*.md) is filled
  with: the taxonomy (ids, labels, descriptions), the glossary names of the story, the article and
  its translation delimited as data, and the failures of a previous attempt.
- ``check_answer``: cleans and checks one answer. HTML and control characters are stripped from
  every model text; length limits are enforced (summary cut to whole sentences, commentary to
  whole paragraphs); tags outside the taxonomy and entities not found in the source (or its
  translation) are dropped; every number, amount, percentage, year, Latin-script name, glossary
  name and gazetteer entity that the summary or the commentary mentions must exist in the source
  or its translation. These are translation QA's checks (shared.core.translation) run the other
  way round: the model's text plays the source, the article plays the translation.
- ``decide``: from one or two checked attempts (the second was told the failures of the first),
  what the LLM tier contributes; a text that still fails is absent, with the reason.
- ``merge_tiers``: the ``Analysis`` section. Both tiers: the LLM's summary and commentary, the
  union of validated tags and entities, each with its provenance. Local tier only: its extractive
  summary in the source language, the other language only from the translate stage (never
  invented), and the commentary absent with the reason.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.core.control_chars import BIDI_CONTROLS, NOT_TEXT, ZERO_WIDTH
from shared.core.entities import KINDS, Gazetteer
from shared.core.generated_text import sanitize_model
from shared.core.local_analysis import LocalAnalysis
from shared.core.scoring.text import parse_user_counts
from shared.core.summarize import split_sentences
from shared.core.taxonomy import TagDef, Taxonomy
from shared.core.translation import (
    LANGUAGE_NAMES,
    Glossary,
    Segment,
    chunk_body,
    delimit,
    estimate_tokens,
    other_language,
    split_paragraphs,
)
from shared.core.translation.qa import FACT_CHECKS, missing_facts
from shared.core.weak_answers import weak_answer_failures
from shared.events import (
    Amount,
    Analysis,
    Article,
    Bilingual,
    Entity,
    Provenance,
    SectionStatus,
    Tag,
    Translation,
)

TextLanguage = Literal["en", "zh"]
Part = Literal["summary", "commentary"]

# --- the model's answer -------------------------------------------------------------------------


class EntityAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str  # as written in the article
    en: str
    zh: str
    kind: str
    role: str


class AnalysisAnswer(BaseModel):
    """The JSON answer of the analyze prompt (field order = the order the model writes them)."""

    model_config = ConfigDict(extra="forbid")
    summary_en: str
    summary_zh: str
    tags: list[str]
    entities: list[EntityAnswer]
    commentary_en: str
    commentary_zh: str


# --- limits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Length limits, enforced after generation (characters, whitespace included)."""

    summary_sentences: int = 3
    summary_max_chars: dict[str, int] = field(default_factory=lambda: {"en": 700, "zh": 300})
    commentary_min_chars: dict[str, int] = field(default_factory=lambda: {"en": 300, "zh": 120})
    commentary_max_chars: dict[str, int] = field(default_factory=lambda: {"en": 7000, "zh": 3500})
    commentary_max_paragraphs: int = 10
    max_llm_tags: int = 4
    max_tags: int = 5
    max_entities: int = 20
    role_max_chars: int = 120
    # Article text in the prompt (estimated tokens): enough for a long story plus its translation
    # in a 16k context, with room for a ~3k-token answer.
    source_budget_tokens: int = 4000
    translation_budget_tokens: int = 2500


DEFAULT_LIMITS = Limits()

# Entity kinds the model may use; anything else becomes "other".
ENTITY_KINDS = KINDS | {"organization", "other"}

# Latin-script words that name no company, person, product or figure: a commentary may use them
# even when the article does not (an English commentary on a Chinese article that says 人工智能).
GENERIC_TERMS = frozenset(
    """AI AGI API APIs GPU GPUs CPU CPUs LLM LLMs IPO IPOs R&D SaaS B2B B2C ROI KPI KPIs""".split()
)

# --- the story ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceText:
    text: str
    language: TextLanguage


@dataclass(frozen=True)
class StoryTexts:
    """A story's text in its source language and, when the translate stage produced it, in the
    other language. ``language`` may be "other" (then there is no LLM tier)."""

    language: str
    title: str
    summary: str | None
    body: str | None
    translated_title: str | None = None
    translated_summary: str | None = None
    translated_body: str | None = None

    @property
    def other(self) -> TextLanguage:
        return other_language(self.language)

    def local_body(self) -> str:
        """What the local tier reads after the title: the body, else the feed's summary."""
        return (self.body or "").strip() or (self.summary or "").strip()

    def sources(self) -> list[SourceText]:
        """The texts a fact the model writes must come from: the article and its translation."""
        out: list[SourceText] = []
        if self.language in ("en", "zh"):
            original = "\n".join(t for t in (self.title, self.summary, self.body) if t and t.strip())
            out.append(SourceText(original, self.language))  # type: ignore[arg-type]
            translated = "\n".join(
                t
                for t in (self.translated_title, self.translated_summary, self.translated_body)
                if t and t.strip()
            )
            if translated:
                out.append(SourceText(translated, self.other))
        return out


def story_texts(article: Article, translation: Translation | None) -> StoryTexts:
    language = article.language
    translated: dict[str, str | None] = {"title": None, "summary": None, "body": None}
    if translation is not None and language in ("en", "zh"):
        target = other_language(language)
        translated = {
            "title": translation.title.get(target),
            "summary": translation.summary.get(target),
            "body": translation.body.get(target),
        }
    return StoryTexts(
        language=language,
        title=article.title,
        summary=article.summary,
        body=article.body,
        translated_title=translated["title"],
        translated_summary=translated["summary"],
        translated_body=translated["body"],
    )


# --- prompt ----------------------------------------------------------------------------------------


def taxonomy_lines(taxonomy: Taxonomy) -> str:
    return "\n".join(f"- {t.id}: {t.en} / {t.zh}: {t.description}" for t in taxonomy.tags)


def _within_budget(text: str, budget_tokens: int) -> tuple[str, bool]:
    """The leading paragraphs of ``text`` within the budget, and whether anything was cut."""
    if estimate_tokens(text) <= budget_tokens:
        return text, False
    return chunk_body(text, budget_tokens)[0], True


def _article_block(prefix: str, title: str, summary: str | None, body: str | None, budget: int) -> str:
    segments = [Segment(f"{prefix}title", title)]
    if summary and summary.strip() and summary.strip() != (body or "").strip()[: len(summary.strip())]:
        segments.append(Segment(f"{prefix}summary", summary))
    note = ""
    if body and body.strip():
        text, cut = _within_budget(body.strip(), budget)
        segments.append(Segment(f"{prefix}body", text))
        if cut:
            note = "\n(The body was cut at a paragraph boundary to fit; it continues beyond this point.)"
    return "\n\n".join(delimit(s) for s in segments) + note


def analyze_prompt_variables(
    story: StoryTexts,
    taxonomy: Taxonomy,
    glossary: Glossary,
    feedback: Sequence[str] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, str]:
    """The variables of the analyze prompt template for one story (source language en or zh)."""
    if story.language not in ("en", "zh"):
        raise ValueError(f"the LLM tier handles English and Chinese stories, not {story.language!r}")
    source, other = story.language, story.other
    article = _article_block("", story.title, story.summary, story.body, limits.source_budget_tokens)
    translation = "(The translate stage produced no translation of this article.)"
    if story.translated_title or story.translated_body:
        block = _article_block(
            "translation.",
            story.translated_title or "",
            story.translated_summary,
            story.translated_body,
            limits.translation_budget_tokens,
        )
        translation = f"Its translation into {LANGUAGE_NAMES[other]} (also data):\n{block}"
    sources = story.sources()
    entries = glossary.entries_in(sources[0].text, source)
    if len(sources) > 1:
        entries += [e for e in glossary.entries_in(sources[1].text, other) if e not in entries]
    names = (
        "\n".join(f"- {e.preferred('en')} = {e.preferred('zh')}" for e in entries if e.enforced)
        or "(no glossary names in this article)"
    )
    feedback_text = ""
    if feedback:
        feedback_text = (
            "Your previous answer for this article failed automatic fact checks:\n"
            + "\n".join(f"- {item}" for item in feedback)
            + "\nWrite the answer again and fix every one of these problems: remove or correct "
            "anything that is not stated in the article."
        )
    return {
        "source_language": LANGUAGE_NAMES[source],
        "other_language": LANGUAGE_NAMES[other],
        "taxonomy": taxonomy_lines(taxonomy),
        "max_tags": str(limits.max_llm_tags),
        "glossary": names,
        "article": article,
        "translation": translation,
        "feedback": feedback_text,
    }


# --- cleaning --------------------------------------------------------------------------------------

_DANGEROUS_BLOCK = re.compile(
    r"<\s*(script|style|iframe|object|embed|template|noscript|svg|math)\b[^>]*>.*?(?:<\s*/\s*\1\s*>|$)",
    re.I | re.S,
)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)|<!\[CDATA\[.*?(?:\]\]>|$)", re.S)
_TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9:-]*)(?:\s[^<>]*)?/?\s*>")
# Inline elements vanish without a trace ("<i>lifeline</i>:"); others separate words.
_INLINE = frozenset(
    "a abbr b bdi bdo cite code data dfn em i kbd mark q s samp small span strong sub sup time u var".split()
)
_CONTROL = re.compile(f"[{NOT_TEXT}{ZERO_WIDTH}{BIDI_CONTROLS}]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def _strip_markup(text: str) -> str:
    text = _DANGEROUS_BLOCK.sub(" ", text)
    text = _COMMENT.sub(" ", text)
    return _TAG.sub(lambda m: "" if m.group(1).lower() in _INLINE else " ", text)


def clean_text(text: str) -> str:
    """Model text as plain text: no HTML (a ``<script>`` block goes with its content, also when
    entity-escaped), no control or bidi-override characters, tidy whitespace, paragraphs kept.

    The published text is plain text; markup is removed, never rendered. Entities are decoded
    so that an escaped tag (``&lt;script&gt;``) is removed too (bounded: a few rounds)."""
    text = unicodedata.normalize("NFC", text)
    for _ in range(3):
        stripped = _strip_markup(text)
        decoded = html.unescape(stripped)
        if decoded == stripped:
            text = stripped
            break
        text = decoded
    else:
        text = _strip_markup(text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    # Chinese text has no spaces next to full-width punctuation; the tag removal may leave some.
    text = re.sub(r" (?=[，。！？；：、）」』”])|(?<=[，。！？；：、（「『“]) ", "", text)
    return text.strip()


def limit_summary(text: str, language: str, limits: Limits = DEFAULT_LIMITS) -> tuple[str, bool]:
    """At most ``summary_sentences`` whole sentences within the length limit; returns the text
    and whether it had to be shortened. Never cuts inside a sentence (may return "")."""
    sentences = split_sentences(text.replace("\n", " "), language)
    kept = sentences[: limits.summary_sentences]
    joiner = "" if language == "zh" else " "
    limit = limits.summary_max_chars[language]
    while kept and len(joiner.join(kept)) > limit:
        kept.pop()
    out = joiner.join(kept)
    return out, out != joiner.join(sentences)


def limit_commentary(text: str, language: str, limits: Limits = DEFAULT_LIMITS) -> tuple[str, bool]:
    """Whole leading paragraphs within the paragraph and length limits (paragraphs separated by
    a blank line in the output); returns the text and whether it had to be shortened."""
    paragraphs = split_paragraphs(text)
    kept: list[str] = []
    for paragraph in paragraphs[: limits.commentary_max_paragraphs]:
        if len("\n\n".join([*kept, paragraph])) > limits.commentary_max_chars[language]:
            break
        kept.append(paragraph)
    return "\n\n".join(kept), len(kept) < len(paragraphs)


# --- guard rails -----------------------------------------------------------------------------------

FactCheck = Literal[
    "empty",
    "length",
    "language",
    "number",
    "amount",
    "percent",
    "year",
    "month",
    "decade",
    "latin_name",
    "pinyin_name",
    "glossary",
    "entity",
    "repetition",
    "source_echo",
    "prompt_echo",
]
# The same fact checks as translation QA (Chinese numerals, decades, pinyin names included).
_FACT_CHECKS = FACT_CHECKS


@dataclass(frozen=True)
class GuardFailure:
    where: str  # "summary.en", "commentary.zh", ...
    check: FactCheck
    detail: str
    message: str

    def describe(self) -> str:
        return f"{self.where}: {self.message}"


def _han_share(text: str) -> float:
    han = len(re.findall(r"[\u3400-\u9fff\uf900-\ufaff]", text))
    words = len(re.findall(r"[A-Za-z]+", text))
    return han / (han + words) if han + words else 0.0


def language_failure(text: str, language: TextLanguage, where: str) -> GuardFailure | None:
    """English text with few Han characters; Chinese text mostly Han (Latin names allowed)."""
    share = _han_share(text)
    wrong = share < 0.4 if language == "zh" else share > 0.15
    if not wrong:
        return None
    return GuardFailure(where, "language", f"{share:.2f}", f"The text is not in {LANGUAGE_NAMES[language]}.")


def fact_failures(
    text: str,
    language: TextLanguage,
    sources: Sequence[SourceText],
    glossary: Glossary,
    gazetteer: Gazetteer,
    where: str,
    source_entity_ids: set[str] | None = None,
) -> list[GuardFailure]:
    """Numbers, amounts, percentages, years, months, Latin-script names, glossary names and
    gazetteer entities in ``text`` (model output) that no source text contains.

    A fact fails only when it is missing from every source (the article and its translation).
    ``source_entity_ids``: the gazetteer entities of the sources, when the caller has them (finding
    them in a long article is the costly part of the checks)."""
    if not text.strip():
        return []
    missing: set[tuple[str, str]] | None = None
    for source in sources:
        if not source.text.strip():
            continue
        # Translation QA's facts, one way: what the model's text states must be in the article.
        failures = missing_facts(text, language, source.text, source.language, glossary)
        found: set[tuple[str, str]] = {
            (str(f.check), f.detail)
            for f in failures
            if f.check in _FACT_CHECKS and not (f.check == "latin_name" and f.detail in GENERIC_TERMS)
        }
        missing = found if missing is None else missing & found
    out = [
        GuardFailure(where, check, detail, _fact_message(check, detail))  # type: ignore[arg-type]
        for check, detail in sorted(missing or set())
    ]
    reported = {f.detail for f in out}
    source_ids = source_entity_ids
    if source_ids is None:
        source_ids = {e.id for s in sources for e in gazetteer.find(s.text)}
    for entity in gazetteer.find(text):
        if entity.id not in source_ids and not reported.intersection(entity.surfaces):
            out.append(
                GuardFailure(
                    where,
                    "entity",
                    entity.en,
                    f'"{entity.surfaces[0]}" ({entity.en}) is not mentioned in the article.',
                )
            )
    return out


def _fact_message(check: str, detail: str) -> str:
    if check in ("latin_name", "pinyin_name"):
        return f'The name "{detail}" is not in the article.'
    if check == "glossary":
        return f'"{detail}" is not in the article.'
    names = {
        "amount": "amount",
        "percent": "percentage",
        "year": "year",
        "month": "month",
        "decade": "decade",
    }
    what = names.get(check, "number")
    return f'The {what} "{detail}" is not in the article.'


# --- entities and tags -------------------------------------------------------------------------------


def _has_han(text: str) -> bool:
    return bool(re.search(r"[\u3400-\u9fff\uf900-\ufaff]", text))


def name_in_sources(name: str, sources: Sequence[SourceText]) -> bool:
    """Whether a name occurs in a source text: Han names as substrings, Latin names as whole
    words, case-insensitively (spacing may differ: "HKG AI V3" / "HKGAIV3")."""
    name = unicodedata.normalize("NFKC", name).strip()
    if len(name) < 2:
        return False
    for source in sources:
        text = unicodedata.normalize("NFKC", source.text)
        if _has_han(name):
            if name in text:
                return True
            continue
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text, re.I):
            return True
        compact = re.sub(r"[^0-9a-z]", "", name.casefold())
        if len(compact) >= 5 and compact in re.sub(r"[^0-9a-z]", "", text.casefold()):
            return True
    return False


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", name.casefold()).strip("-")


@dataclass(frozen=True)
class Dropped:
    what: Literal["tag", "entity", "role"]
    value: str
    reason: str


def resolve_entity(
    answer: EntityAnswer,
    sources: Sequence[SourceText],
    source_entity_ids: set[str],
    gazetteer: Gazetteer,
) -> Entity | str:
    """The validated entity, or why it was dropped. A gazetteer entity counts when the local
    gazetteer finds it in the source or its translation; any other entity only when one of its
    names occurs there, and it keeps only the names that do (a name is never made up)."""
    names = [clean_text(n) for n in (answer.name, answer.en, answer.zh)]
    names = [n for n in dict.fromkeys(names) if n]
    for candidate in names:
        entity_id = gazetteer.resolve(candidate)
        if entity_id is None:
            matches = gazetteer.find(candidate)
            entity_id = matches[0].id if len(matches) == 1 else None
        if entity_id is None:
            continue
        if entity_id not in source_entity_ids:
            return "a known entity the article does not mention"
        definition = gazetteer.entities[entity_id]
        return Entity(
            id=definition.id, en=definition.en, zh=definition.zh, kind=definition.kind, source="llm"
        )
    grounded = [n for n in names if name_in_sources(n, sources)]
    if not grounded:
        return "not found in the article or its translation"
    en = next((n for n in grounded if not _has_han(n)), None)
    zh = next((n for n in grounded if _has_han(n)), None)
    kind = answer.kind.strip().lower()
    return Entity(
        id=_slug(en) if en and _slug(en) else (zh or grounded[0]),
        en=en or zh or grounded[0],
        zh=zh,
        kind=kind if kind in ENTITY_KINDS else "other",
        source="llm",
    )


def resolve_tags(raw: Sequence[str], taxonomy: Taxonomy, limit: int) -> tuple[list[TagDef], list[Dropped]]:
    """Taxonomy tags in the model's order (ids, or the exact English/Chinese label); anything
    else is dropped."""
    by_key: dict[str, TagDef] = {}
    for tag in taxonomy.tags:
        for key in (tag.id, tag.en, tag.zh):
            by_key[key.casefold()] = tag
    kept: list[TagDef] = []
    dropped: list[Dropped] = []
    for value in raw:
        found = by_key.get(clean_text(value).casefold())
        if found is None:
            dropped.append(Dropped("tag", value[:80], "not in the taxonomy"))
        elif found not in kept:
            kept.append(found)
    if len(kept) > limit:
        dropped += [Dropped("tag", t.id, f"more than {limit} tags") for t in kept[limit:]]
    return kept[:limit], dropped


# --- one checked answer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedAnswer:
    """One answer after cleaning, limits and checks; failures per part ("summary"/"commentary")."""

    summary: Bilingual
    commentary: Bilingual
    tags: list[TagDef]
    entities: list[Entity]
    failures: dict[str, list[GuardFailure]]
    dropped: list[Dropped]
    shortened: list[str]  # "summary.en", ... texts cut to the length limits

    def passed(self, part: Part) -> bool:
        return not self.failures.get(part)

    def feedback(self) -> list[str]:
        return [f.describe() for part in ("summary", "commentary") for f in self.failures.get(part, [])]


def check_answer(
    answer: AnalysisAnswer,
    story: StoryTexts,
    taxonomy: Taxonomy,
    glossary: Glossary,
    gazetteer: Gazetteer,
    limits: Limits = DEFAULT_LIMITS,
    instructions: str = "",
) -> CheckedAnswer:
    """``instructions``: the prompt's instructions, which an answer must not give back."""
    answer = sanitize_model(answer)  # no link, address or markup of the model's own (issue 13)
    sources = story.sources()
    source_entity_ids = {e.id for s in sources for e in gazetteer.find(s.text)}
    failures: dict[str, list[GuardFailure]] = {"summary": [], "commentary": []}
    shortened: list[str] = []
    texts: dict[str, dict[str, str]] = {"summary": {}, "commentary": {}}
    limiters: dict[str, Callable[[str, str, Limits], tuple[str, bool]]] = {
        "summary": limit_summary,
        "commentary": limit_commentary,
    }
    raw = {
        ("summary", "en"): answer.summary_en,
        ("summary", "zh"): answer.summary_zh,
        ("commentary", "en"): answer.commentary_en,
        ("commentary", "zh"): answer.commentary_zh,
    }
    for (part, language), value in raw.items():
        where = f"{part}.{language}"
        lang: TextLanguage = "en" if language == "en" else "zh"
        text = clean_text(value)
        if not text:
            failures[part].append(GuardFailure(where, "empty", "", "The text is empty."))
            continue
        # Weak answers (placeholder, loop, the article copied out, the prompt given back).
        weak = weak_answer_failures(
            text,
            source="\n".join(s.text for s in sources) if part == "commentary" else None,
            source_what="the article",
            prompts=[instructions],
        )
        if weak:
            failures[part] += [GuardFailure(where, w.check, w.detail, w.message) for w in weak]
            continue
        wrong_language = language_failure(text, lang, where)
        if wrong_language:
            failures[part].append(wrong_language)
            continue
        text, cut = limiters[part](text, language, limits)
        if cut:
            shortened.append(where)
        if not text:
            failures[part].append(
                GuardFailure(
                    where,
                    "length",
                    "",
                    f"The {part} is too long: write at most {limits.summary_max_chars[language]} "
                    f"characters in {limits.summary_sentences} sentences.",
                )
            )
            continue
        if part == "commentary" and len(text) < limits.commentary_min_chars[language]:
            failures[part].append(
                GuardFailure(
                    where,
                    "length",
                    str(len(text)),
                    f"The commentary is too short ({len(text)} characters): "
                    "write several paragraphs of analysis.",
                )
            )
            continue
        failures[part] += fact_failures(text, lang, sources, glossary, gazetteer, where, source_entity_ids)
        texts[part][language] = text

    tags, dropped = resolve_tags(answer.tags, taxonomy, limits.max_llm_tags)
    entities: dict[str, Entity] = {}
    roles: dict[str, str] = {}
    for item in answer.entities[: limits.max_entities * 2]:
        resolved = resolve_entity(item, sources, source_entity_ids, gazetteer)
        if isinstance(resolved, str):
            dropped.append(Dropped("entity", clean_text(item.name or item.en)[:80], resolved))
            continue
        if resolved.id not in entities:
            entities[resolved.id] = resolved
            roles[resolved.id] = clean_text(item.role)[: limits.role_max_chars].strip()

    def role_fails(text: str) -> bool:
        lang: TextLanguage = "zh" if _han_share(text) >= 0.4 else "en"
        return bool(fact_failures(text, lang, sources, glossary, gazetteer, "role", source_entity_ids))

    # Roles are checked together (one pass over the article), one by one only when that fails.
    joined = "\n".join(r for r in roles.values() if r)
    if joined and role_fails(joined):
        for entity_id, role in roles.items():
            if role and role_fails(role):
                dropped.append(Dropped("role", role[:80], "names a fact the article does not state"))
                roles[entity_id] = ""
    for entity_id, role in roles.items():
        entities[entity_id] = entities[entity_id].model_copy(update={"role": role or None})
    return CheckedAnswer(
        summary=Bilingual(**texts["summary"]),
        commentary=Bilingual(**texts["commentary"]),
        tags=tags,
        entities=list(entities.values())[: limits.max_entities],
        failures=failures,
        dropped=dropped,
        shortened=shortened,
    )


# --- what the LLM tier contributes -----------------------------------------------------------------------


@dataclass(frozen=True)
class LLMTier:
    """The LLM tier's validated contribution to one story."""

    provenance: Provenance
    summary: Bilingual | None  # both languages, or None (rejected)
    commentary: Bilingual | None
    commentary_reason: str | None  # why the commentary is absent
    summary_reason: str | None
    tags: list[TagDef]
    entities: list[Entity]
    notes: list[str]  # dropped tags and entities, shortened texts: for the section's reason
    attempts: int


def _failure_summary(failures: Sequence[GuardFailure], limit: int = 6) -> str:
    shown = "; ".join(f.describe() for f in failures[:limit])
    more = len(failures) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


def decide(attempts: Sequence[CheckedAnswer], provenance: Provenance) -> LLMTier:
    """Per part, the latest attempt whose texts passed in both languages; a part that failed in
    every attempt is absent, with its last failures as the reason. Tags and entities come from
    the latest attempt (the one told what to fix)."""
    if not attempts:
        raise ValueError("decide() needs at least one checked answer")
    chosen: dict[str, Bilingual | None] = {}
    reasons: dict[str, str | None] = {}
    for part in ("summary", "commentary"):
        passing = [a for a in attempts if a.passed(part)]  # type: ignore[arg-type]
        if passing:
            chosen[part] = getattr(passing[-1], part)
            reasons[part] = None
        else:
            chosen[part] = None
            retried = " after a retry" if len(attempts) > 1 else ""
            reasons[part] = (
                f"the model's {part} failed the fact checks{retried} and was not published: "
                + _failure_summary(attempts[-1].failures[part])
            )
    last = attempts[-1]
    notes = [f"dropped {d.what} {d.value!r} ({d.reason})" for d in last.dropped]
    notes += [f"{where} shortened to the length limit" for where in last.shortened]
    return LLMTier(
        provenance=provenance,
        summary=chosen["summary"],
        commentary=chosen["commentary"],
        commentary_reason=reasons["commentary"],
        summary_reason=reasons["summary"],
        tags=list(last.tags),
        entities=list(last.entities),
        notes=notes,
        attempts=len(attempts),
    )


# --- the merge ---------------------------------------------------------------------------------------------


def _llm_rank_score(rank: int) -> float:
    """Ordering weight of the model's n-th tag (it was asked for the most specific first)."""
    return max(0.1, 1.0 - 0.15 * rank)


def merge_tags(local: LocalAnalysis, llm: LLMTier | None, limit: int) -> list[Tag]:
    """Union of the tiers' tags. Tags both tiers chose come first, then by strength (local
    confidence, or the model's rank), so the first tag (the primary tag and the subject
    news.published.<tag>) is the one the evidence supports most. A tag the local tier chose keeps
    its source, confidence and evidence ("llm:rank N" added when the model agrees); a tag only the
    model chose has source "llm" and no confidence (a rank is not a probability)."""
    local_by_id = {t.id: t for t in local.tags}
    llm_rank = {t.id: i for i, t in enumerate(llm.tags)} if llm else {}
    llm_defs = {t.id: t for t in llm.tags} if llm else {}
    ids = list(dict.fromkeys([*llm_rank, *local_by_id]))

    def key(tag_id: str) -> tuple[int, float]:
        agreement = int(tag_id in local_by_id) + int(tag_id in llm_rank)
        strength = max(
            local_by_id[tag_id].confidence if tag_id in local_by_id else 0.0,
            _llm_rank_score(llm_rank[tag_id]) if tag_id in llm_rank else 0.0,
        )
        return (-agreement, -strength)

    out: list[Tag] = []
    for tag_id in sorted(ids, key=key)[:limit]:
        if tag_id in local_by_id:
            match = local_by_id[tag_id]
            evidence = list(match.evidence)
            if tag_id in llm_rank:
                evidence.append(f"llm:rank {llm_rank[tag_id] + 1}")
            out.append(
                Tag(
                    id=match.id,
                    en=match.en,
                    zh=match.zh,
                    source="local",
                    confidence=match.confidence,
                    evidence=evidence,
                )
            )
        else:
            definition = llm_defs[tag_id]
            out.append(
                Tag(
                    id=definition.id,
                    en=definition.en,
                    zh=definition.zh,
                    source="llm",
                    evidence=[f"llm:rank {llm_rank[tag_id] + 1}"],
                )
            )
    return out


def merge_entities(local: LocalAnalysis, llm: LLMTier | None) -> list[Entity]:
    """Union by id: the model's entities first (it was asked for the most central first), then the
    local tier's others in order of first mention. A gazetteer entity the local tier found keeps
    source "local"; the role (written by the model: the local tier has none) is added to it."""
    local_ids = {e.id for e in local.entities}
    out: dict[str, Entity] = {}
    for entity in llm.entities if llm else []:
        out[entity.id] = entity.model_copy(update={"source": "local"}) if entity.id in local_ids else entity
    for match in local.entities:
        if match.id not in out:
            out[match.id] = Entity(id=match.id, en=match.en, zh=match.zh, kind=match.kind, source="local")
    return list(out.values())


def merge_tiers(
    local: LocalAnalysis,
    story: StoryTexts,
    *,
    llm: LLMTier | None,
    llm_absent_reason: str | None = None,
    translation_provenance: Provenance | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Analysis:
    """The ``Analysis`` section from the local tier and, when it ran, the LLM tier.

    ``llm_absent_reason`` says why there is no LLM contribution (none configured, the answer was
    unusable...): it becomes ``commentary_reason``. ``translation_provenance`` is the translate
    stage's, for a summary whose other language is its translation."""
    notes: list[str] = []
    summary = Bilingual()
    summary_provenance: Provenance | None = None
    if llm is not None and llm.summary is not None:
        summary, summary_provenance = llm.summary, llm.provenance
    elif local.summary is not None and story.language in ("en", "zh"):
        summary = Bilingual(**{story.language: local.summary})
        summary_provenance = Provenance(tier="local")
        if story.translated_summary:
            # The translate stage's translation of the source's own summary; never a text of ours.
            summary = summary.model_copy(update={story.other: story.translated_summary})
            by = ""
            if translation_provenance is not None:
                by = f" by {translation_provenance.model} ({translation_provenance.prompt_version})"
            notes.append(
                f"summary.{story.language} extracted by the local tier; summary.{story.other} is the "
                f"source summary as translated{by}"
            )
        else:
            notes.append(f"summary in {LANGUAGE_NAMES[story.language]} only (no translation available)")
    elif local.summary_reason:
        shown = "; the item shows the source's own summary" if story.summary else ""
        notes.append(f"no extractive summary: {local.summary_reason}{shown}")
    if llm is not None and llm.summary is None and llm.summary_reason:
        notes.append(llm.summary_reason)

    commentary = Bilingual()
    commentary_provenance: Provenance | None = None
    commentary_reason: str | None
    if llm is not None and llm.commentary is not None:
        commentary, commentary_provenance, commentary_reason = llm.commentary, llm.provenance, None
    elif llm is not None:
        commentary_reason = llm.commentary_reason
    else:
        commentary_reason = llm_absent_reason or "the LLM tier did not run"
    if llm is not None:
        notes += llm.notes

    complete = llm is not None and llm.commentary is not None and llm.summary is not None
    if complete:
        status, lead = SectionStatus.OK, ""
    elif llm is None:
        status, lead = SectionStatus.PARTIAL, "local tier only: "
        notes.insert(0, commentary_reason or "")
    else:
        status, lead = SectionStatus.PARTIAL, ""
        if commentary_reason:
            notes.insert(0, commentary_reason)
    full_text = "\n".join(t for t in (story.title, story.local_body()) if t)
    return Analysis(
        status=status,
        reason=(lead + "; ".join(notes)) if notes else None,
        summary=summary,
        summary_provenance=summary_provenance,
        commentary=commentary,
        commentary_provenance=commentary_provenance,
        commentary_reason=commentary_reason,
        tags=merge_tags(local, llm, limits.max_tags),
        entities=merge_entities(local, llm),
        keyphrases=list(local.keyphrases),
        amounts=[
            Amount(text=a.text, value=a.value, currency=a.currency, usd=a.usd, source="local")
            for a in local.amounts
        ],
        user_counts=parse_user_counts(full_text),
        taxonomy_version=local.taxonomy_version,
        tiers=["local", "llm"] if llm is not None else ["local"],
    )
