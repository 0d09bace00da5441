"""Subject names and JetStream stream definitions: the one place they are spelled."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import RetentionPolicy, StorageType

# Pipeline subjects (limits retention, file storage).
INGESTED = "news.ingested"
STORY_JOINED = "news.story.joined"
TRANSLATED = "news.translated"
ANALYZED = "news.analyzed"
SCORED = "news.scored"
# A story's member list changed by a revised clustering decision (members moved, stories merged or
# split): one event per revised story, with its complete member list and a per-story revision number.
STORY_REVISED = "news.story.revised"
# Manual submission (request/reply, core NATS): payload {"url": "..."}.
SUBMIT = "news.submit"

# Downstream subjects (longer retention so a new subscriber can replay).
PUBLISHED_PREFIX = "news.published"
UPDATED_PREFIX = "news.updated"

DLQ_PREFIX = "news.dlq"


def published(tag: str) -> str:
    return f"{PUBLISHED_PREFIX}.{subject_token(tag)}"


def updated(tag: str) -> str:
    return f"{UPDATED_PREFIX}.{subject_token(tag)}"


def dlq(stage: str) -> str:
    return f"{DLQ_PREFIX}.{stage}"


def subject_token(value: str) -> str:
    """A safe single NATS subject token (no dots, spaces or wildcards)."""
    cleaned = "".join(ch if (ch.isalnum() or ch in "-_") else "_" for ch in value.strip().lower())
    return cleaned or "untagged"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_days_setting: str
    description: str
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    storage: StorageType = StorageType.FILE


PIPELINE_STREAM = StreamSpec(
    name="NEWS_PIPELINE",
    subjects=(INGESTED, STORY_JOINED, TRANSLATED, ANALYZED, SCORED, STORY_REVISED),
    max_age_days_setting="pipeline_max_age_days",
    description="Article/story events between the stages",
)
OUTPUT_STREAM = StreamSpec(
    name="NEWS_OUT",
    subjects=(f"{PUBLISHED_PREFIX}.>", f"{UPDATED_PREFIX}.>"),
    max_age_days_setting="published_max_age_days",
    description="Finished bilingual items for downstream subscribers (replayable)",
)
DLQ_STREAM = StreamSpec(
    name="NEWS_DLQ",
    subjects=(f"{DLQ_PREFIX}.>",),
    max_age_days_setting="published_max_age_days",
    description="Dead letters of every stage, with the reason",
)
ALL_STREAMS = (PIPELINE_STREAM, OUTPUT_STREAM, DLQ_STREAM)


def stream_for(subject: str) -> StreamSpec:
    if subject.startswith(DLQ_PREFIX + "."):
        return DLQ_STREAM
    if subject.startswith((PUBLISHED_PREFIX + ".", UPDATED_PREFIX + ".")):
        return OUTPUT_STREAM
    if subject in PIPELINE_STREAM.subjects:
        return PIPELINE_STREAM
    raise ValueError(f"subject {subject!r} belongs to no stream")
