"""Analyze one story: the local tier always, the LLM tier on top when a model is configured.

- Local tier (shared.core.local_analysis) on the source-language title and body, on the local
  tier's worker thread, while the LLM call is in flight.
- LLM tier: one structured call per story (prompt shared/prompts/analyze.v*.md). The answer is
  cleaned and checked (shared.core.analysis_llm.check_answer); if the summary or the commentary
  fails the fact checks, one retry names the failures; a text that still fails is not published
  and the section says why.
- Outage (LLMUnavailable) propagates: the pipeline nacks with a delay and the message waits.
  An unusable answer after the gateway's repair request (LLMOutputInvalid), or a request the
  server refuses (LLMRequestRejected), is not an outage: the local tier's output is published and
  commentary_reason names the failure (a story is never dead-lettered for a bad model answer).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Protocol

from prometheus_client import Counter

from shared.core.analysis_llm import (
    DEFAULT_LIMITS,
    AnalysisAnswer,
    CheckedAnswer,
    Limits,
    LLMTier,
    StoryTexts,
    analyze_prompt_variables,
    check_answer,
    decide,
    merge_tiers,
    story_texts,
)
from shared.core.entities import Gazetteer, load_gazetteer
from shared.core.local_analysis import LocalAnalysis
from shared.core.taxonomy import Taxonomy, load_taxonomy
from shared.core.translation import Glossary, estimate_tokens
from shared.events import Analysis, Provenance, StoryEvent, StoryVector
from shared.llm.gateway import LLMOutputInvalid, LLMRequestRejected, whole_reason
from shared.llm.metrics import LLM_REJECTED_ANSWERS
from shared.llm.prompts import PromptTemplate
from shared.llm.wiring import StructuredLLM
from shared.metrics import REGISTRY

log = logging.getLogger("newsroom.analyze")

ANALYSIS_GUARD_FAILURES = Counter(
    "newsroom_analysis_guard_failures_total",
    "Failures of the analysis guard rails on a model answer, by check (number, latin_name, entity...)",
    ["part", "check"],
    registry=REGISTRY,
)
ANALYSIS_RETRIES = Counter(
    "newsroom_analysis_retries_total",
    "Analysis requests retried because of failed fact checks",
    registry=REGISTRY,
)
ANALYSIS_COMMENTARY = Counter(
    "newsroom_analysis_commentary_total",
    "Stories by commentary outcome (published, rejected, invalid_output, rejected_request, "
    "not_configured, language)",
    ["outcome"],
    registry=REGISTRY,
)
ANALYSIS_DROPPED = Counter(
    "newsroom_analysis_dropped_total",
    "Tags, entities and roles of model answers dropped by the guard rails",
    ["what"],
    registry=REGISTRY,
)

# Room for both summaries, both commentaries (~1,000 English words and ~1,500 Chinese
# characters) and the tags and entities. In a small context the answer gets at most
# ANSWER_SHARE of it and the article what is left (see AnalyzeUseCase.fitted).
MAX_ANSWER_TOKENS = 4096
ANSWER_SHARE = 0.4
# The JSON schema the gateway adds to the instructions when the server has no json_schema mode.
SCHEMA_INSTRUCTION_TOKENS = 350


class LocalRunner(Protocol):
    async def run(self, story: StoryTexts, vector: StoryVector | None = None) -> LocalAnalysis: ...


class AnalyzeUseCase:
    def __init__(
        self,
        llm: StructuredLLM | None,
        template: PromptTemplate,
        glossary: Glossary,
        local: LocalRunner,
        *,
        unavailable_reason: str = "no LLM configured",
        taxonomy: Taxonomy | None = None,
        gazetteer: Gazetteer | None = None,
        limits: Limits = DEFAULT_LIMITS,
        max_tokens: int = MAX_ANSWER_TOKENS,
    ) -> None:
        self.llm = llm
        self.template = template
        self.glossary = glossary
        self.local = local
        self.unavailable_reason = unavailable_reason
        self.taxonomy = taxonomy or load_taxonomy()
        self.gazetteer = gazetteer or load_gazetteer()
        self.limits = limits
        self.max_tokens = max_tokens

    async def analyze(self, event: StoryEvent) -> Analysis:
        story = story_texts(event.article, event.translation)
        translated_by = event.translation.provenance if event.translation else None
        if self.llm is None:
            ANALYSIS_COMMENTARY.labels("not_configured").inc()
            local = await self.local.run(story, event.vector)
            return merge_tiers(
                local,
                story,
                llm=None,
                llm_absent_reason=self.unavailable_reason,
                translation_provenance=translated_by,
                limits=self.limits,
            )
        if story.language not in ("en", "zh"):
            ANALYSIS_COMMENTARY.labels("language").inc()
            local = await self.local.run(story, event.vector)
            reason = (
                f"the LLM tier analyses English and Chinese stories only (source language {story.language!r})"
            )
            return merge_tiers(
                local,
                story,
                llm=None,
                llm_absent_reason=reason,
                translation_provenance=translated_by,
                limits=self.limits,
            )
        # The local tier works on its thread while the model answers. An outage propagates.
        local_task = asyncio.ensure_future(self.local.run(story, event.vector))
        try:
            tier, failure = await self._llm_tier(story)
        except BaseException:
            local_task.cancel()
            raise
        local = await local_task
        return merge_tiers(
            local,
            story,
            llm=tier,
            llm_absent_reason=failure,
            translation_provenance=translated_by,
            limits=self.limits,
        )

    def fitted(self, story: StoryTexts) -> tuple[Limits, int]:
        """Article budgets and answer tokens that fit the model's context window: the settings
        when it is large; else the answer gets up to ANSWER_SHARE of the window and the article
        (and its translation, 60/40) what the instructions leave."""
        context = getattr(self.llm, "context_tokens", None)
        if not isinstance(context, int) or context <= 0:
            return self.limits, self.max_tokens
        empty = dataclasses.replace(
            story,
            body=None,
            summary=None,
            translated_title=None,
            translated_summary=None,
            translated_body=None,
        )
        fixed = SCHEMA_INSTRUCTION_TOKENS + sum(
            estimate_tokens(m["content"])
            for m in self.template.render(
                **analyze_prompt_variables(empty, self.taxonomy, self.glossary, (), self.limits)
            )
        )
        answer = min(self.max_tokens, max(512, int(context * ANSWER_SHARE)))
        article = int((context - answer) / 1.15 - fixed)
        wanted = self.limits.source_budget_tokens + self.limits.translation_budget_tokens
        if article >= wanted:
            return self.limits, answer
        source = max(100, int(article * 0.6))
        limits = dataclasses.replace(
            self.limits, source_budget_tokens=source, translation_budget_tokens=max(50, article - source)
        )
        return limits, answer

    async def _llm_tier(self, story: StoryTexts) -> tuple[LLMTier | None, str | None]:
        """The LLM tier's validated contribution, or None and why there is none."""
        assert self.llm is not None
        attempts: list[CheckedAnswer] = []
        feedback: list[str] = []
        model = self.llm.model
        for _ in range(2):
            limits, max_tokens = self.fitted(story)
            variables = analyze_prompt_variables(story, self.taxonomy, self.glossary, feedback, limits)
            try:
                result = await self.llm.structured(
                    self.template.render(**variables),
                    AnalysisAnswer,
                    prompt_version=self.template.id,
                    max_tokens=max_tokens,
                )
            except (LLMOutputInvalid, LLMRequestRejected) as exc:
                kind = "invalid_output" if isinstance(exc, LLMOutputInvalid) else "rejected_request"
                log.warning("analysis request failed: %s", exc, extra={"kind": kind})
                if attempts:
                    break  # the retry failed: decide on the first answer
                ANALYSIS_COMMENTARY.labels(kind).inc()
                what = (
                    "the model gave no usable answer"
                    if kind == "invalid_output"
                    else "the model server refused the request"
                )
                why = whole_reason(str(exc), 500)
                return None, f"{what}; the local tier's analysis is published instead: {why}"
            model = result.model
            # Pure CPU work (a long article takes a fraction of a second): off the event loop.
            checked = await asyncio.to_thread(
                check_answer,
                result.value,
                story,
                self.taxonomy,
                self.glossary,
                self.gazetteer,
                limits,
                self.template.system,
            )
            attempts.append(checked)
            for part, failures in checked.failures.items():
                for failure in failures:
                    ANALYSIS_GUARD_FAILURES.labels(part, failure.check).inc()
                    if failure.check in ("empty", "repetition", "source_echo", "prompt_echo"):
                        LLM_REJECTED_ANSWERS.labels("analyze", failure.check).inc()
            for dropped in checked.dropped:
                ANALYSIS_DROPPED.labels(dropped.what).inc()
            feedback = checked.feedback()
            if not feedback:
                break
            if len(attempts) == 1:
                ANALYSIS_RETRIES.inc()
                log.info("analysis failed the fact checks, retrying", extra={"failures": feedback[:10]})
        tier = decide(attempts, Provenance(tier="llm", model=model, prompt_version=self.template.id))
        ANALYSIS_COMMENTARY.labels("published" if tier.commentary is not None else "rejected").inc()
        return tier, None
