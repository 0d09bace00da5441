"""Translate one article into the other language (zh↔en): title, summary and body.

Title and summary come first in every request (they are what a reader sees). A body that fits the
token budget travels in the same request as title and summary (one request per typical story);
a longer body is split on paragraph boundaries and its chunks are translated in parallel, then
joined in order. Every segment goes through the QA checks of shared.core.translation; failing
segments get one retry that names the failures; what still fails is kept and flagged (qa_flags).
Without an LLM the section says "unavailable" with the reason: nothing is invented.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

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
from shared.events import Article, Bilingual, Provenance, SectionStatus, Translation
from shared.llm.gateway import LLMOutputInvalid, LLMRequestRejected
from shared.llm.metrics import TRANSLATION_QA_FAILURES, TRANSLATION_QA_RETRIES
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


@dataclass
class _Outcome:
    segment: Segment
    text: str | None = None
    failures: list[QAFailure] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None  # the model gave no usable answer for this segment


# A body chunk this large (estimated tokens) still leaves room for the prompt and the answer in
# an 8k context; a typical 1,500-character story fits in one request with its title and summary.
DEFAULT_CHUNK_TOKENS = 2000


class TranslateUseCase:
    def __init__(
        self,
        llm: StructuredLLM | None,
        glossary: Glossary,
        template: PromptTemplate,
        *,
        unavailable_reason: str = "no LLM configured",
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        detect: Callable[[str], str] | None = None,
    ) -> None:
        self.llm = llm
        self.glossary = glossary
        self.template = template
        self.unavailable_reason = unavailable_reason
        self.chunk_tokens = chunk_tokens
        self.detect = detect

    async def translate(self, article: Article) -> Translation:
        source = article.language
        originals = {"title": article.title, "summary": article.summary, "body": article.body}
        if source not in ("en", "zh"):
            return Translation(
                status=SectionStatus.UNAVAILABLE,
                reason=f"source language {source!r} is not translated (only English and Chinese are)",
                source_language=source,
            )
        target = other_language(source)
        as_source = {name: Bilingual(**{source: text}) for name, text in originals.items()}
        if self.llm is None:
            return Translation(
                status=SectionStatus.UNAVAILABLE,
                reason=self.unavailable_reason,
                source_language=source,
                title=as_source["title"],
                summary=as_source["summary"],
                body=as_source["body"],
            )

        head = [Segment("title", article.title)]
        if article.summary and article.summary.strip():
            head.append(Segment("summary", article.summary))
        body = article.body if article.body and article.body.strip() else None
        chunks: list[Segment] = []
        if body and article.translate_body:
            chunks = [
                Segment(f"body.{i}", text) for i, text in enumerate(chunk_body(body, self.chunk_tokens))
            ]

        # One request when everything fits the budget; else the head and each chunk in parallel
        # (the head is submitted first, so it is first in line for the concurrency limit).
        if chunks and sum(estimate_tokens(s.text) for s in [*head, *chunks]) <= self.chunk_tokens:
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
        )

    async def _translate_group(self, segments: list[Segment], source: str, target: str) -> list[_Outcome]:
        outcomes = {s.id: _Outcome(s) for s in segments}
        await self._attempt(list(outcomes.values()), source, target, feedback=())
        retry = [o for o in outcomes.values() if o.failures or o.error]
        if retry:
            TRANSLATION_QA_RETRIES.inc()
            feedback = [
                f"{o.segment.id}: {message}"
                for o in retry
                for message in ([f.message for f in o.failures] or [f"no usable translation ({o.error})"])
            ]
            await self._attempt(retry, source, target, feedback=feedback)
        return list(outcomes.values())

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
                TranslatedSegments,
                prompt_version=self.template.id,
                max_tokens=min(16_384, 2 * source_tokens + 256),
            )
        except (LLMOutputInvalid, LLMRequestRejected) as exc:
            log.warning("translation request failed: %s", exc)
            for outcome in outcomes:
                if outcome.text is None:
                    outcome.error = str(exc)[:300]
            return
        # No link, address or markup of the model's own reaches a reader (issue 13).
        answers = {item.id: sanitize(item.text) for item in result.value.segments}
        for outcome in outcomes:
            text = answers.get(outcome.segment.id)
            if text is None:
                if outcome.text is None:
                    outcome.error = f"the answer had no segment {outcome.segment.id!r}"
                continue
            failures = check_translation(
                sanitize(outcome.segment.text), text, source, target, self.glossary, detect=self.detect
            )
            # On a tie the retry wins: it was asked to fix the named failures.
            if outcome.text is None or len(failures) <= len(outcome.failures) or outcome.error:
                outcome.text, outcome.failures, outcome.error = text, failures, None
