"""Event contracts between the stages (pydantic v2).

Every event is a ``StoryEvent``: the envelope plus one section per stage. A stage adds its own
section and never recomputes another's. A section that could not be produced is present with
``status`` = ``unavailable`` (or ``failed``) and a ``reason``: content is never invented.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
# Story and article ids are opaque, short and printable: the read API accepts only these in its
# paths, and a merged story's redirect (Location) is built from one.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

Language = Literal["en", "zh", "other"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def stable_id(*parts: str, length: int = 24) -> str:
    """Deterministic id from text parts (article ids, story ids, message ids)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SectionStatus(StrEnum):
    OK = "ok"  # produced in full
    PARTIAL = "partial"  # produced, with known gaps (see reason / flags)
    UNAVAILABLE = "unavailable"  # the stage could not run (e.g. no LLM configured), see reason
    FAILED = "failed"  # the stage ran and its output was rejected, see reason


class Provenance(Model):
    """Who produced a piece of text: the local tier or a model, and which prompt version."""

    tier: Literal["source", "local", "llm"]
    model: str | None = None
    prompt_version: str | None = None


class Bilingual(Model):
    en: str | None = None
    zh: str | None = None

    def get(self, language: str) -> str | None:
        return self.en if language == "en" else self.zh if language == "zh" else None


# --- ingest -----------------------------------------------------------------------------------


class Engagement(Model):
    """Source-side popularity signals when a source gives them (rank on a list, views, comments)."""

    rank: int | None = None
    views: int | None = None
    comments: int | None = None
    likes: int | None = None


class Article(Model):
    article_id: str
    source_id: str
    source_name: str
    source_weight: float = 1.0  # reputation weight of the source (feeds Quality and Hot)
    url: str
    canonical_url: str
    title: str
    summary: str | None = None
    body: str | None = None
    language: Language
    published_at: datetime | None = None
    fetched_at: datetime
    author: str | None = None
    engagement: Engagement | None = None
    # Where the body came from: the feed itself or the article page (extraction).
    body_origin: Literal["feed", "page", "none"] = "feed"
    translate_body: bool = True
    # The page shows only a teaser of a paywalled article (lowers Quality).
    paywalled: bool = False


class StoryMember(Model):
    """One article of a story, as the story's cluster lists it."""

    article_id: str
    source_id: str
    source_name: str
    source_weight: float = 1.0
    url: str
    title: str
    language: Language
    published_at: datetime | None = None
    joined_at: datetime
    # Set when this article is a near-copy (wire copy, rewrite) of another member: it does not
    # count as independent coverage.
    near_duplicate_of: str | None = None
    engagement: Engagement | None = None

    @classmethod
    def of(cls, article: Article, joined_at: datetime, near_duplicate_of: str | None = None) -> StoryMember:
        """The member entry of ``article`` (the one mapping from an article to its cluster row)."""
        return cls(
            article_id=article.article_id,
            source_id=article.source_id,
            source_name=article.source_name,
            source_weight=article.source_weight,
            url=article.url,
            title=article.title,
            language=article.language,
            published_at=article.published_at,
            joined_at=joined_at,
            near_duplicate_of=near_duplicate_of,
            engagement=article.engagement,
        )


class Cluster(Model):
    story_id: str
    is_new: bool
    method: Literal["new", "url", "near_duplicate", "embedding"]
    similarity: float | None = None
    members: list[StoryMember]


# --- per-language provenance (where each language's title and summary come from) -------------


class PairingCheck(Model):
    """A source title in one language compared with the story's primary title (the QA checks of
    shared.core.translation, both ways). ``agrees``: nothing differs; ``disagrees``: names or
    numbers differ (shown, with the flags: two outlets may really report different figures);
    ``rejected``: the two titles name different products or versions, so they are taken to be
    two stories and this title is not used as the story's text in that language."""

    article_id: str
    source_name: str
    title: str
    verdict: Literal["agrees", "disagrees", "rejected"]
    flags: list[str] = Field(default_factory=list)


class LanguageText(Model):
    """Where an item's title and summary in one language come from.

    ``origin``: ``source`` = written by a member outlet in that language (``article_id``,
    ``source_name``); ``model`` = machine translation (``model``, ``prompt_version``); ``none`` =
    not available, ``reason`` says why as a code (``no_model``: no language model configured;
    ``model_failed``: the model gave no usable translation; ``language_not_handled``: the source
    language is neither English nor Chinese; ``pending``: not produced yet) and ``notice`` is the
    one line a reader sees. The source ranking facts (``source_weight``, ``text_chars``,
    ``teaser``, ``published_at``) say why this member was chosen (shared/core/bilingual.py)."""

    origin: Literal["source", "model", "none"]
    summary_origin: Literal["source", "local", "model", "none"] = "none"
    article_id: str | None = None
    source_id: str | None = None
    source_name: str | None = None
    url: str | None = None
    source_weight: float | None = None
    text_chars: int | None = None
    teaser: bool | None = None
    published_at: datetime | None = None
    model: str | None = None
    prompt_version: str | None = None
    # ``source_left``: the member that wrote it moved to another story (news.story.revised) and
    # no remaining member covers the language.
    reason: Literal["no_model", "model_failed", "language_not_handled", "pending", "source_left"] | None = (
        None
    )
    notice: str | None = None
    pairing: PairingCheck | None = None
    rejected: list[PairingCheck] = Field(default_factory=list)


class LanguageOrigins(Model):
    en: LanguageText | None = None
    zh: LanguageText | None = None

    def get(self, language: str) -> LanguageText | None:
        return self.en if language == "en" else self.zh if language == "zh" else None


class StoryVector(Model):
    """The story's multilingual embedding, computed once at ingest (where the clustering needs it)
    and reused downstream (tagging) instead of embedding the story again. float16, base64: 384
    dimensions are 1,024 characters on the wire. Carried on news.ingested and news.translated;
    analyze, its last user, drops it."""

    model: str  # the embedder's name; a stage using another model ignores the vector
    text: Literal["title+lead"] = "title+lead"  # what was embedded: title plus the start of the lead
    dim: int = Field(gt=0)
    dtype: Literal["float16"] = "float16"
    data: str  # base64 of ``dim`` little-endian float16 values (shared.core.embeddings.encode_vector)


# --- translate --------------------------------------------------------------------------------


class Translation(Model):
    status: SectionStatus
    reason: str | None = None
    source_language: Language
    title: Bilingual = Field(default_factory=Bilingual)
    summary: Bilingual = Field(default_factory=Bilingual)
    body: Bilingual = Field(default_factory=Bilingual)
    provenance: Provenance | None = None
    qa_flags: list[str] = Field(default_factory=list)
    attempts: int = 0
    # Per language: source member, model or none (see LanguageText); empty from older events.
    languages: LanguageOrigins = Field(default_factory=LanguageOrigins)


# --- analyze ----------------------------------------------------------------------------------


class Tag(Model):
    id: str
    en: str
    zh: str
    source: Literal["local", "llm"]
    confidence: float | None = None
    evidence: list[str] = Field(default_factory=list)  # trigger terms or example that chose the tag


class Entity(Model):
    id: str
    en: str
    zh: str | None = None
    kind: str  # company, lab, person, product, regulator, ...
    source: Literal["local", "llm"]
    role: str | None = None


class Amount(Model):
    """A parsed money amount, in the original currency and in USD when convertible."""

    text: str
    value: float
    currency: str
    usd: float | None = None
    source: Literal["local", "llm"] = "local"


class Analysis(Model):
    status: SectionStatus
    reason: str | None = None
    summary: Bilingual = Field(default_factory=Bilingual)
    summary_provenance: Provenance | None = None
    # The long "Analysis / 深度分析" commentary. Only a language model can write it: absent
    # (with commentary_reason) when none is configured or its answer was rejected.
    commentary: Bilingual = Field(default_factory=Bilingual)
    commentary_provenance: Provenance | None = None
    commentary_reason: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    keyphrases: list[str] = Field(default_factory=list)
    amounts: list[Amount] = Field(default_factory=list)
    user_counts: list[int] = Field(default_factory=list)  # parsed "100 million users" figures (Impact)
    taxonomy_version: str | None = None
    tiers: list[Literal["local", "llm"]] = Field(default_factory=list)


# --- score ------------------------------------------------------------------------------------


class ScoreReason(Model):
    """One readable sentence about a score, in both languages (built from its components)."""

    en: str
    zh: str


class ScoreDetail(Model):
    value: float = Field(ge=0, le=100)
    components: dict[str, float] = Field(default_factory=dict)
    formula_version: str
    llm_rubric: dict[str, float] | None = None
    # Whole sentences for readers ("4 independent sources in 6 hours" / "6 小时内 4 个独立来源"),
    # most telling first; the numbers stay in `components` for machines.
    reasons: list[ScoreReason] = Field(default_factory=list)


class Scores(Model):
    status: SectionStatus
    reason: str | None = None
    hot: ScoreDetail | None = None
    quality: ScoreDetail | None = None
    impact: ScoreDetail | None = None
    trigger: Literal["analyzed", "joined", "decay"] = "analyzed"
    computed_at: datetime


# --- the event --------------------------------------------------------------------------------


class StoryEvent(Model):
    """Envelope + sections. ``article`` is the article that caused this event."""

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_id)
    story_id: str
    article_id: str
    occurred_at: datetime = Field(default_factory=utcnow)
    trace_id: str = Field(default_factory=new_id)

    article: Article
    cluster: Cluster
    # Set by ingest on news.ingested when the embedding model ran (absent: analyze embeds itself).
    vector: StoryVector | None = None
    translation: Translation | None = None
    analysis: Analysis | None = None
    scores: Scores | None = None

    def next(self, **sections: object) -> StoryEvent:
        """The event the next stage emits: same story, article and trace; new event id and time."""
        return self.model_copy(update={"event_id": new_id(), "occurred_at": utcnow(), **sections})


class DeadLetter(Model):
    """What goes to news.dlq.<stage>: the reason and the original message, untouched."""

    stage: str
    subject: str
    error_type: str
    error: str
    deliveries: int
    failed_at: datetime = Field(default_factory=utcnow)
    headers: dict[str, str] = Field(default_factory=dict)
    payload: str  # the original body (UTF-8, undecodable bytes replaced)
    story_id: str | None = None


class SubmitRequest(Model):
    url: str
    source_id: str = "manual"
    language: Language | None = None


class SubmitReply(Model):
    ok: bool
    article_id: str | None = None
    story_id: str | None = None
    outcome: str
    error: str | None = None


# --- story revisions (news.story.revised) -------------------------------------------------------


def revision_msg_id(story_id: str, revision: int, member_ids: list[str] | tuple[str, ...]) -> str:
    """Nats-Msg-Id of a revision: the same story, number and members give the same id, so a
    re-sent revision (ingest crashed before recording it) is dropped by the stream."""
    return f"revised:{story_id}:{revision}:{stable_id(*member_ids, length=16)}"


class StoryRevised(Model):
    """One story whose member list a revised clustering decision changed (payload of
    ``news.story.revised``; shared.core.story_revisions.StoryRevision plus what a consumer needs).

    ``member_ids`` is authoritative: after this revision the story has exactly these articles
    (empty when it ended). ``members`` are their rows (a member whose row ingest could not find is
    in ``member_ids`` only). ``revision`` grows by one per revision of this story: a consumer
    applies a revision only when it is newer than the last one it applied, so a late or repeated
    one changes nothing. ``representative``: the article whose text stands for the story after the
    revision; ``rerun`` is true when it changed (the story's representative left, or the story is
    new from a split): ingest then sent that article through the pipeline again
    (``news.ingested``), and the full event that comes back carries the story's new text."""

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_id)
    story_id: str = Field(min_length=1)
    revision: int = Field(ge=1)
    # Ingest's clock at the arrival that caused the revision: a member that joined the story
    # later (joined_at after as_of) is judged by its own events, not by this member list.
    as_of: datetime
    kind: Literal["merged", "split", "moved"]
    member_ids: list[str]
    members: list[StoryMember] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    merged_into: str | None = Field(default=None, pattern=ID_PATTERN)
    representative: str | None = None
    rerun: bool = False
    # The article whose arrival caused the revision.
    caused_by: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
    trace_id: str = Field(default_factory=new_id)

    @model_validator(mode="after")
    def _consistent(self) -> StoryRevised:
        ids = set(self.member_ids)
        if len(ids) != len(self.member_ids):
            raise ValueError("member_ids lists an article twice")
        if any(m.article_id not in ids for m in self.members):
            raise ValueError("members lists an article that member_ids does not")
        if ids & set(self.removed):
            raise ValueError("an article is both a member and removed")
        if self.merged_into is not None and (ids or self.merged_into == self.story_id):
            raise ValueError("merged_into is only for a story that ended into another one")
        if self.representative is not None and self.representative not in ids:
            raise ValueError("the representative must be a member")
        return self

    @property
    def ended(self) -> bool:
        return not self.member_ids

    def msg_id(self) -> str:
        return revision_msg_id(self.story_id, self.revision, self.member_ids)
