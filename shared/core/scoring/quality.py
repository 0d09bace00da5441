"""Quality: substance, originality, source reputation and readability, minus penalties."""

from __future__ import annotations

import math

from shared.core.scoring import text
from shared.core.scoring.config import QualityConstants, ScoringConfig, default_config
from shared.core.scoring.facts import ContentFacts
from shared.core.scoring.mapping import clamp, logistic_stretch, rounded, saturate, trapezoid
from shared.core.scoring.reasons import quality_reasons
from shared.events import ScoreDetail


def readability(body: str, language: str, c: QualityConstants) -> float:
    """0..1 proxy: sentence length (and English word length) inside a comfortable range."""
    stats = text.sentence_stats(body, language)
    if stats is None:
        return 0.0
    r = c.readability
    if text.is_chinese(language):
        return trapezoid(stats.mean_sentence_len, r.zh_sentence_chars)
    sentence = trapezoid(stats.mean_sentence_len, r.en_sentence_words)
    word = trapezoid(stats.mean_word_chars or 0.0, r.en_word_chars)
    return r.en_sentence_weight * sentence + (1.0 - r.en_sentence_weight) * word


# Flags that say a translation is missing (the model failed or gave nothing usable), as opposed to
# a translation that was published with a wrong number, name or date. A missing translation is what
# a pipeline without a model has too, so it must cost nothing: a failed model never scores a story
# below what no model would.
MISSING_TRANSLATION_CHECKS = frozenset({"no_translation"})


def penalised_qa_flags(flags: tuple[str, ...]) -> list[str]:
    """The distinct flags of a published translation that failed a check ("title:number_mismatch");
    flags of a missing translation ("body:no_translation") are left out."""
    return [f for f in dict.fromkeys(flags) if _check_of(f) not in MISSING_TRANSLATION_CHECKS]


def _check_of(flag: str) -> str:
    """The check named by a flag: "segment:check[:detail]" (services/translate) or a bare check."""
    parts = flag.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def marketing_hits(content: ContentFacts, cfg: ScoringConfig) -> list[str]:
    phrases = (*cfg.marketing_phrases.en, *cfg.marketing_phrases.zh)
    return text.phrase_hits(f"{content.title}\n{content.body}", phrases)


def notice_hits(content: ContentFacts, cfg: ScoringConfig) -> list[str]:
    """Phrases of a notice or a call to action (an apology, a sign-up link, a job ad): not news."""
    phrases = (*cfg.notice_phrases.en, *cfg.notice_phrases.zh)
    return text.phrase_hits(f"{content.title}\n{content.body}", phrases)


def looks_like_paywall_teaser(body: str, config: ScoringConfig | None = None) -> bool:
    """True when the text says the rest is behind a paywall or a login."""
    cfg = config or default_config()
    return bool(text.phrase_hits(body, (*cfg.paywall_phrases.en, *cfg.paywall_phrases.zh)))


def quality_score(content: ContentFacts, config: ScoringConfig | None = None) -> ScoreDetail:
    """Quality 0..100 from measurable signals, blended with an LLM rubric when one is given."""
    cfg = config or default_config()
    c = cfg.quality
    lang = content.language
    # Feed metadata ("Score: 319", "By: someone", a bare link) is not text for the reader.
    body = text.prose(content.body)
    units = text.word_units(body, lang, c.zh_chars_per_word)
    numbers = max(text.data_points(body), len(content.amounts_usd))
    quotes = content.quote_count if content.quote_count is not None else text.count_quotes(body, lang)
    structure = text.structure_units(body)

    parts = {
        "length": saturate(units, c.length_scale),
        "data_points": saturate(numbers, c.data_points_scale),
        "quotes": saturate(quotes, c.quotes_scale),
        "structure": clamp(structure / c.structure_full),
    }
    substance = sum(c.substance_weights[k] * v for k, v in parts.items())
    reputation = clamp(math.log1p(content.source_reputation) / math.log1p(c.reputation_full))
    readable = readability(body, lang, c)
    signals = {
        "substance": substance,
        "originality": content.originality,
        "source_reputation": reputation,
        "readability": readable,
    }
    # Below full_text_units the text is a teaser, a one-line summary or a notice: every signal is
    # scaled down, so a good source and clean sentences cannot lift a text that says little.
    full_text = clamp(units / c.full_text_units)
    local = full_text * sum(c.weights[k] * v for k, v in signals.items())

    rubric = content.quality_rubric
    blended = local if rubric is None else (1.0 - c.llm_weight) * local + c.llm_weight * rubric.mean()

    p = c.penalties
    hits = marketing_hits(content, cfg)
    qa_flags = penalised_qa_flags(content.translation_qa_flags)
    penalty_qa = min(p.translation_qa_cap, p.translation_qa_flag * len(qa_flags))
    penalty_paywall = p.paywall_teaser if content.paywall_teaser else 0.0
    penalty_marketing = min(p.marketing_cap, p.marketing_hit * len(hits))
    notices = notice_hits(content, cfg)
    penalty_notice = p.notice if notices else 0.0
    final = clamp(blended - penalty_qa - penalty_paywall - penalty_marketing - penalty_notice)

    components = {
        "word_units": units,
        "data_points": float(numbers),
        "quotes": float(quotes),
        "structure_units": float(structure),
        **{f"{k}_part": v for k, v in parts.items()},
        **signals,
        "local": local,
        "llm": rubric.mean() if rubric is not None else 0.0,
        "llm_weight": c.llm_weight if rubric is not None else 0.0,
        "full_text": full_text,
        "marketing_hits": float(len(hits)),
        "notice_hits": float(len(notices)),
        "translation_qa_flags": float(len(qa_flags)),
        "penalty_translation_qa": penalty_qa,
        "penalty_paywall": penalty_paywall,
        "penalty_marketing": penalty_marketing,
        "penalty_notice": penalty_notice,
        "final": final,
    }
    return ScoreDetail(
        value=logistic_stretch(final, c.mapping),
        components=rounded(components),
        formula_version=cfg.formula_versions["quality"],
        llm_rubric=dict(rubric.scores) if rubric is not None else None,
        reasons=quality_reasons(components, lang, c.zh_chars_per_word),
    )
