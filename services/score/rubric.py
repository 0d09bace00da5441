"""The optional LLM rubric of Quality and Impact: one structured call per story (prompt
services/score/prompts/score_rubric.v1.md), cached by the gateway. The core blends it with the
measurable signals; without an LLM the scores say so (reason, ``llm_weight`` 0 in components)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.core.scoring import LLMRubric
from shared.events import StoryEvent
from shared.llm import LLMOutputInvalid, LLMRequestRejected, PromptTemplate, StructuredResult, load_prompt

log = logging.getLogger("newsroom.score.rubric")

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
PROMPT_NAME = "score_rubric"
# The model sees the start of the article: enough to judge depth without paying for long bodies.
ARTICLE_CHARS = 6000


class RubricAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depth: int = Field(ge=1, le=5)
    relevance: int = Field(ge=1, le=5)
    writing: int = Field(ge=1, le=5)
    practicality: int = Field(ge=1, le=5)
    significance: int = Field(ge=1, le=5)
    breadth: int = Field(ge=1, le=5)


class StructuredCaller(Protocol):
    """What the judge needs of shared.llm.LLMGateway."""

    async def structured(
        self,
        messages: Sequence[dict[str, str]],
        output: type[RubricAnswer],
        *,
        prompt_version: str,
        max_tokens: int = ...,
        temperature: float = ...,
    ) -> StructuredResult[RubricAnswer]: ...


def rubric_messages(event: StoryEvent, prompt: PromptTemplate) -> list[dict[str, str]]:
    article, analysis = event.article, event.analysis
    text = (article.body or article.summary or "").strip()[:ARTICLE_CHARS]
    tags = ", ".join(t.en for t in analysis.tags) if analysis and analysis.tags else "none found"
    entities = ", ".join(e.en for e in analysis.entities) if analysis and analysis.entities else "none found"
    return prompt.render(
        title=article.title,
        language=article.language,
        tags=tags,
        entities=entities,
        article=text or "(no text beyond the title)",
    )


class LLMRubricJudge:
    def __init__(self, gateway: StructuredCaller, prompt: PromptTemplate | None = None) -> None:
        self.gateway = gateway
        self.prompt = prompt or load_prompt(PROMPT_NAME, directory=PROMPTS_DIR)

    async def judge(self, event: StoryEvent) -> tuple[LLMRubric | None, LLMRubric | None, str | None]:
        """(quality rubric, impact rubric, reason when there is none). An outage of the endpoint
        (LLMUnavailable) propagates: the pipeline waits and retries, as for the other LLM stages."""
        try:
            result = await self.gateway.structured(
                rubric_messages(event, self.prompt),
                RubricAnswer,
                prompt_version=self.prompt.id,
                max_tokens=200,
                temperature=0.0,
            )
        except (LLMOutputInvalid, LLMRequestRejected) as exc:
            # Scored as if no model were configured (same value); logged so operators see a model
            # that keeps failing, with the whole message (never cut mid-sentence).
            log.warning(
                "LLM rubric failed, scoring from measurable signals only",
                extra={
                    "story_id": event.story_id,
                    "article_id": event.article_id,
                    "error_type": type(exc).__name__,
                    "error": str(exc),
                },
            )
            return None, None, f"LLM rubric rejected ({type(exc).__name__}): measurable signals only"
        answer: dict[str, Any] = result.value.model_dump()
        quality = LLMRubric({k: float(answer[k]) for k in ("depth", "relevance", "writing", "practicality")})
        impact = LLMRubric({k: float(answer[k]) for k in ("significance", "breadth")})
        return quality, impact, None
