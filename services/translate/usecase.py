"""Translate one article into the other language (zh↔en): title, summary and body.

Title and summary come first in every request (they are what a reader sees). A body that fits the
token budget travels in the same request as title and summary (one request per typical story);
a longer body is split on paragraph boundaries and its chunks are translated in parallel, then
joined in order. Every segment goes through the QA checks of shared.core.translation; failing
segments get one retry that names the failures; what still fails is kept and flagged (qa_flags).
Without an LLM the section says "unavailable" with the reason: nothing is invented.

Tier selection (issue 14): a language that a member of the story already covers (an outlet that
wrote the story in that language, ranked by shared.core.bilingual) takes that member's title and
costs no model call; the model translates only the languages no member covers. The per-language
provenance goes in ``Translation.languages`` (source / model / none with a reason code).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.core.bilingual import NO_MODEL_REASON, Choice, covered_languages, missing, weighted_length
from shared.core.generated_text import sanitize
from shared.core.translation import (
    Glossary,
    QAFailure,
    Segment,
    check_translation,
    chunk_body,
    estimate_tokens,
    join_chunks,
    other_language,
    paragraph_separator,
    translate_prompt_variables,
)
from shared.core.weak_answers import WeakAnswer, weak_answer_failures
from shared.events import (
    Article,
    Bilingual,
    LanguageOrigins,
    LanguageText,
    Provenance,
    SectionStatus,
    StoryMember,
    Translation,
)
from shared.llm.gateway import (
    LLMAnswerTruncated,
    LLMContextExceeded,
    LLMOutputInvalid,
    LLMRequestRejected,
    whole_reason,
)
from shared.llm.metrics import LLM_REJECTED_ANSWERS, TRANSLATION_QA_FAILURES, TRANSLATION_QA_RETRIES
from shared.llm.prompts import PromptTemplate
from shared.llm.wiring import StructuredLLM

log = logging.getLogger("newsroom.translate")


class TranslatedSegment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    text: str


class TranslatedSegments(BaseModel):
    """The JSON answer of the translate prompt."""

    model_config = ConfigDict(extra="forbid")
    segments: list[TranslatedSegment]


@lru_cache(maxsize=512)
def segments_answer(ids: tuple[str, ...]) -> type[TranslatedSegments]:
    """The answer schema for these segment ids: ids from the request only (an enum, which strict
    json_schema servers accept). Servers that enforce the schema by grammar (llama.cpp) then
    cannot answer with ids of their own (a small model did, so no translation reached QA)."""
    segment = create_model(
        "TranslatedSegment",
        __base__=TranslatedSegment,
        # In the schema only: an answer with other ids still validates (they are ignored).
        id=(str, Field(json_schema_extra={"enum": list(ids)})),
    )
    return create_model(
        "TranslatedSegments",
        __base__=TranslatedSegments,
        segments=(list[segment], ...),  # type: ignore[valid-type]
    )


@dataclass
class _Outcome:
    segment: Segment
    text: str | None = None
    failures: list[QAFailure | WeakAnswer] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None  # the model gave no usable answer for this segment
    too_long: bool = False  # the request did not fit, or its answer was cut off: send less at once
    settled: bool = False  # translated piece by piece (each piece had its own retry)


# Segments are split at most this many times when a request does not fit or its answer is cut off.
MAX_SPLIT_DEPTH = 3


# A body chunk this large (estimated tokens) still leaves room for the prompt and the answer in
# an 8k context; a typical 1,500-character story fits in one request with its title and summary.
DEFAULT_CHUNK_TOKENS = 2000


def primary_text(article: Article) -> LanguageText:
    """The representative article's own language: its own text."""
    return LanguageText(
        origin="source",
        article_id=article.article_id,
        source_id=article.source_id,
        source_name=article.source_name,
        url=article.url,
        source_weight=article.source_weight,
        text_chars=weighted_length(article.body or article.summary or ""),
        published_at=article.published_at,
    )


def covered_translation(article: Article, target: str, choice: Choice) -> Translation:
    """The other language from a member's own title: no model call."""
    source = article.language
    chosen = choice.candidate
    assert chosen is not None
    text = chosen.provenance(choice.pairing).model_copy(update={"rejected": list(choice.rejected)})
    return Translation(
        status=SectionStatus.OK,
        reason=f"{target} title from the story's own {target} source ({chosen.source_name}); no model call",
        source_language=source,
        title=Bilingual(**{source: article.title, target: chosen.title}),
        summary=Bilingual(**{source: article.summary}),
        body=Bilingual(**{source: article.body}),
        provenance=Provenance(tier="source"),
        languages=LanguageOrigins(**{source: primary_text(article), target: text}),
    )


def source_wait(
    article: Article, members: Sequence[StoryMember], glossary: Glossary, age_s: float, grace_s: float
) -> float:
    """Seconds to wait before asking the model: what is left of the grace for a story that no
    member covers in the other language yet (0 when one does, or the story is old enough)."""
    if article.language not in ("en", "zh") or grace_s <= 0:
        return 0.0
    others = [m for m in members if m.article_id != article.article_id]
    if other_language(article.language) in covered_languages(
        article.title, article.language, others, glossary
    ):
        return 0.0
    return max(0.0, grace_s - age_s)


class TranslateUseCase:
    def __init__(
        self,
        llm: StructuredLLM | None,
        glossary: Glossary,
        template: PromptTemplate,
        *,
        unavailable_reason: str = NO_MODEL_REASON,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        detect: Callable[[str], str] | None = None,
    ) -> None:
        self.llm = llm
        self.glossary = glossary
        self.template = template
        self.unavailable_reason = unavailable_reason
        self.chunk_tokens = chunk_tokens
        self.detect = detect

    async def translate(self, article: Article, members: Sequence[StoryMember] = ()) -> Translation:
        """``members``: the story's members known now (the cluster and the stored story); a
        language one of them covers is taken from it instead of the model."""
        source = article.language
        originals = {"title": article.title, "summary": article.summary, "body": article.body}
        if source not in ("en", "zh"):
            return Translation(
                status=SectionStatus.UNAVAILABLE,
                reason=f"source language {source!r} is not translated (only English and Chinese are)",
                source_language=source,
                languages=LanguageOrigins(
                    en=missing("language_not_handled", "en"), zh=missing("language_not_handled", "zh")
                ),
            )
        target = other_language(source)
        others = [m for m in members if m.article_id != article.article_id]
        covered = covered_languages(article.title, source, others, self.glossary)
        if target in covered:
            return covered_translation(article, target, covered[target])
        as_source = {name: Bilingual(**{source: text}) for name, text in originals.items()}
        if self.llm is None:
            return Translation(
                status=SectionStatus.UNAVAILABLE,
                reason=self.unavailable_reason,
                source_language=source,
                title=as_source["title"],
                summary=as_source["summary"],
                body=as_source["body"],
                languages=LanguageOrigins(
                    **{source: primary_text(article), target: missing("no_model", target)}
                ),
            )

        chunk_tokens = self._chunk_budget(source, target)
        head = [Segment("title", article.title)]
        if article.summary and article.summary.strip():
            head.append(Segment("summary", article.summary))
        body = article.body if article.body and article.body.strip() else None
        chunks: list[Segment] = []
        if body and article.translate_body:
            chunks = [Segment(f"body.{i}", text) for i, text in enumerate(chunk_body(body, chunk_tokens))]

        # One request when everything fits the budget; else the head and each chunk in parallel
        # (the head is submitted first, so it is first in line for the concurrency limit).
        if chunks and sum(estimate_tokens(s.text) for s in [*head, *chunks]) <= chunk_tokens:
            groups = [[*head, *chunks]]
        else:
            groups = [head, *([chunk] for chunk in chunks)]
        results = await asyncio.gather(*(self._translate_group(g, source, target) for g in groups))
        outcomes = {o.segment.id: o for group in results for o in group}

        flags: list[str] = []
        notes: list[str] = []
        for outcome in outcomes.values():
            where = outcome.segment.id.split(".")[0]
            if outcome.error:
                flags.append(f"{where}:no_translation")
                notes.append(f"{outcome.segment.id}: {outcome.error}")
            for failure in outcome.failures:
                flags.append(failure.flag(where))
                TRANSLATION_QA_FAILURES.labels(failure.check).inc()
        flags = list(dict.fromkeys(flags))

        title = outcomes["title"].text
        summary = outcomes["summary"].text if "summary" in outcomes else None
        body_text: str | None = None
        if chunks:
            texts = [outcomes[c.id].text for c in chunks]
            if all(t is not None for t in texts):
                body_text = join_chunks([t for t in texts if t is not None], paragraph_separator(body or ""))

        reasons = []
        if title is None:
            status = SectionStatus.FAILED
            reasons.append("the model gave no usable title translation")
        elif flags:
            status = SectionStatus.PARTIAL
            if any(o.failures for o in outcomes.values()):
                reasons.append("QA checks still failed after a retry (see qa_flags)")
        else:
            status = SectionStatus.OK
        if body and not article.translate_body:
            reasons.append(f"body translation is switched off for source {article.source_id}")
        reasons.extend(notes)
        translated = (
            LanguageText(
                origin="model",
                summary_origin="model" if summary else "none",
                model=self.llm.model,
                prompt_version=self.template.id,
            )
            if title is not None
            else missing("model_failed", target)
        )
        return Translation(
            status=status,
            reason="; ".join(r for r in reasons if r) or None,
            source_language=source,
            title=Bilingual(**{source: article.title, target: title}),
            summary=Bilingual(**{source: article.summary, target: summary}),
            body=Bilingual(**{source: article.body, target: body_text}),
            provenance=Provenance(tier="llm", model=self.llm.model, prompt_version=self.template.id),
            qa_flags=flags,
            attempts=max(o.attempts for o in outcomes.values()),
            languages=LanguageOrigins(**{source: primary_text(article), target: translated}),
        )

    def _chunk_budget(self, source: str, target: str) -> int:
        """Source tokens per request: the setting, or less when the model's context is small
        (the prompt, the text and an answer of about twice its size must fit together)."""
        context = getattr(self.llm, "context_tokens", None)
        if not isinstance(context, int) or context <= 0:
            return self.chunk_tokens
        sample = [Segment("title", "x")]
        fixed = sum(
            estimate_tokens(m["content"])
            for m in self.template.render(**translate_prompt_variables(sample, source, target, self.glossary))
        )
        # prompt (with a 15% margin on the estimate) + text + answer (2 x text + 256) <= context
        room = (context - 256 - 1.15 * (fixed + 300)) / (1.15 + 2.0)
        return max(64, min(self.chunk_tokens, int(room)))

    async def _translate_group(
        self, segments: list[Segment], source: str, target: str, depth: int = 0
    ) -> list[_Outcome]:
        outcomes = {s.id: _Outcome(s) for s in segments}
        await self._attempt(list(outcomes.values()), source, target, feedback=())
        if depth < MAX_SPLIT_DEPTH:
            for outcome in [o for o in outcomes.values() if o.too_long]:
                outcomes[outcome.segment.id] = await self._split(
                    outcome, len(segments), source, target, depth
                )
        retry = [o for o in outcomes.values() if (o.failures or o.error) and not o.settled]
        if retry:
            TRANSLATION_QA_RETRIES.inc()
            feedback = [
                f"{o.segment.id}: {message}"
                for o in retry
                for message in ([f.message for f in o.failures] or [f"no usable translation ({o.error})"])
            ]
            await self._attempt(retry, source, target, feedback=feedback)
        return list(outcomes.values())

    async def _split(
        self, outcome: _Outcome, group_size: int, source: str, target: str, depth: int
    ) -> _Outcome:
        """A request that did not fit or whose answer was cut off is never sent again unchanged:
        a segment of a group is asked on its own; a single segment in smaller pieces, joined."""
        if group_size > 1:
            return (await self._translate_group([outcome.segment], source, target, depth + 1))[0]
        segment = outcome.segment
        pieces = chunk_body(segment.text, max(16, estimate_tokens(segment.text) // 2))
        if len(pieces) < 2:
            return outcome
        log.info("translating %s in %d smaller pieces", segment.id, len(pieces))
        parts = await asyncio.gather(
            *(
                self._translate_group([Segment(f"{segment.id}.{i}", text)], source, target, depth + 1)
                for i, text in enumerate(pieces)
            )
        )
        results = [group[0] for group in parts]
        texts = [r.text for r in results]
        joined = _Outcome(segment, attempts=outcome.attempts + max(r.attempts for r in results), settled=True)
        if all(t is not None for t in texts):
            joined.text = join_chunks([t for t in texts if t is not None], paragraph_separator(segment.text))
        else:
            joined.error = "; ".join(f"{r.segment.id}: {r.error}" for r in results if r.text is None)
        joined.failures = [f for r in results for f in r.failures]
        return joined

    async def _attempt(
        self, outcomes: list[_Outcome], source: str, target: str, feedback: Sequence[str]
    ) -> None:
        """One request for these segments; keeps, per segment, the answer with fewest failures."""
        assert self.llm is not None
        segments = [o.segment for o in outcomes]
        variables = translate_prompt_variables(segments, source, target, self.glossary, feedback)
        messages = self.template.render(**variables)
        source_tokens = sum(estimate_tokens(s.text) for s in segments)
        for outcome in outcomes:
            outcome.attempts += 1
        try:
            result = await self.llm.structured(
                messages,
                segments_answer(tuple(s.id for s in segments)),
                prompt_version=self.template.id,
                max_tokens=min(16_384, 2 * source_tokens + 256),
            )
        except (LLMOutputInvalid, LLMRequestRejected) as exc:
            log.warning("translation request failed: %s", exc)
            too_long = isinstance(exc, LLMAnswerTruncated | LLMContextExceeded)
            for outcome in outcomes:
                outcome.too_long = too_long and not feedback
                if outcome.text is None:
                    outcome.error = whole_reason(str(exc), 400)
            return
        # No link, address or markup of the model's own reaches a reader (issue 13).
        answers = {item.id: sanitize(item.text) for item in result.value.segments}
        for outcome in outcomes:
            text = answers.get(outcome.segment.id)
            if text is None:
                if outcome.text is None:
                    outcome.error = f"the answer had no segment {outcome.segment.id!r}"
                continue
            weak = weak_answer_failures(
                text,
                source=outcome.segment.text,
                source_what="the text to translate",
                prompts=[m["content"] for m in messages if m["role"] == "system"] or [self.template.system],
            )
            if weak:  # not a translation at all: never kept, not even flagged as partial
                for problem in weak:
                    LLM_REJECTED_ANSWERS.labels("translate", problem.check).inc()
                if outcome.text is None:
                    outcome.error = " ".join(problem.message for problem in weak)
                continue
            failures: list[QAFailure | WeakAnswer] = list(
                check_translation(
                    sanitize(outcome.segment.text), text, source, target, self.glossary, detect=self.detect
                )
            )
            wrong_language = [f for f in failures if f.check == "language"]
            if wrong_language:  # not a translation into the target language: never kept either
                LLM_REJECTED_ANSWERS.labels("translate", "language").inc()
                if outcome.text is None:
                    outcome.error = " ".join(f.message for f in wrong_language)
                continue
            # On a tie the retry wins: it was asked to fix the named failures.
            if outcome.text is None or len(failures) <= len(outcome.failures) or outcome.error:
                outcome.text, outcome.failures, outcome.error = text, failures, None
