"""The delivery rules of every consuming stage, in one place.

- Durable JetStream pull consumer, explicit (manual) acks.
- A message is acked only after every event it produces was acknowledged by its stream.
- Every publish carries ``Nats-Msg-Id`` derived from the incoming event, so a redelivery never
  produces a second event (the stream drops it as a duplicate).
- A broken event (schema violation) goes to ``news.dlq.<stage>`` at once, with the validation error.
- Any other error: nack with a growing delay; after ``max_deliver`` deliveries, dead-letter.
- An outage (LLM endpoint or MongoDB unreachable): nack with a delay and wait; never dead-lettered
  for the outage (only past ``poison_after`` deliveries, as a last guard against a stuck message).
- A message is never redelivered while this process works on it: from the moment it is fetched
  (it may wait in FastStream's buffer for a free worker) until it is acked or nacked, it gets an
  in-progress ack (JetStream ``+WPI``) every ack_wait/3, for at most ``max_handling_s``. So
  ack_wait only decides how soon a crashed process's messages go to another one, and a handler
  waiting minutes on a slow model keeps its message.
- nats-py may raise a bare ``asyncio.TimeoutError`` from an idle fetch, which FastStream does not
  expect (it logged an ERROR with a traceback and restarted the consume task): it is turned into
  the ``nats.errors.TimeoutError`` FastStream handles quietly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js.api import DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import BaseModel, ValidationError

from shared import subjects
from shared.events import DeadLetter, StoryEvent
from shared.metrics import (
    DEAD_LETTERS,
    DUPLICATES,
    EVENTS_IN,
    EVENTS_OUT,
    IN_PROGRESS_ACKS,
    PROCESSING_SECONDS,
    REDELIVERED_WHILE_HANDLED,
    REDELIVERIES,
    RETRIES,
)
from shared.settings import Settings
from shared.storage import OUTAGE_ERRORS as MONGO_OUTAGE_ERRORS

log = logging.getLogger("newsroom.pipeline")


class PermanentError(Exception):
    """Input that can never be processed (retrying will not help): dead-letter at once."""


class OutageError(Exception):
    """A dependency is down: wait and retry, never dead-letter for it."""


def outage_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OutageError, *MONGO_OUTAGE_ERRORS)
    try:  # the LLM gateway lists its own outage errors
        from shared.llm import OUTAGE_ERRORS as LLM_OUTAGE_ERRORS

        errors = (*errors, *LLM_OUTAGE_ERRORS)
    except ImportError:
        pass
    return errors


@dataclass(frozen=True)
class Outgoing:
    """One event to publish: subject, payload and its deduplication id."""

    subject: str
    payload: BaseModel
    msg_id: str


def stream_configs(settings: Settings) -> list[StreamConfig]:
    day = 86_400.0
    return [
        StreamConfig(
            name=spec.name,
            description=spec.description,
            subjects=list(spec.subjects),
            retention=spec.retention,
            storage=spec.storage,
            max_age=float(getattr(settings, spec.max_age_days_setting)) * day,
            duplicate_window=settings.duplicate_window_s,
            num_replicas=settings.stream_replicas,
        )
        for spec in subjects.ALL_STREAMS
    ]


def make_broker(settings: Settings, app_name: str) -> NatsBroker:
    # No FastStream Prometheus middleware: consume() and publish_durably() count what it counted
    # (events in and out per stage and subject, processing time, duplicates), and the dashboards
    # and alerts read only those. It cost ~0.13 ms CPU per message and hop (measured, issue 17).
    return NatsBroker(
        settings.require_nats_url(),
        # Reconnect for ever: a restarted nats-server must not take the services down.
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        name=f"newsroom-{app_name}",
        graceful_timeout=15.0,
        logger=logging.getLogger(f"faststream.{app_name}"),
    )


async def ensure_streams(broker: NatsBroker, settings: Settings) -> None:
    """Create or update the three streams (idempotent; every service may call it at start-up)."""
    js = broker.config.connection_state.stream
    for config in stream_configs(settings):
        try:
            await js.stream_info(config.name)
            await js.update_stream(config)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:  # another stage created it a moment ago
                await js.update_stream(config)


# A publish that fails because NATS is unreachable or restarting is retried for this long (the
# client reconnects by itself); a stream with the same Nats-Msg-Id drops a repeat. Past it, the
# caller sees an OutageError (a consuming stage nacks and waits).
PUBLISH_RETRY_S = 120.0


def _publish_outage_errors() -> tuple[type[BaseException], ...]:
    import nats.errors
    import nats.js.errors

    return (
        asyncio.TimeoutError,
        nats.errors.TimeoutError,
        nats.errors.NoRespondersError,
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.StaleConnectionError,
        nats.errors.UnexpectedEOF,
        nats.js.errors.NoStreamResponseError,
    )


async def publish_durably(broker: NatsBroker, out: Outgoing, stage: str) -> bool:
    """Publish and wait for the stream's acknowledgement. Returns False for a duplicate."""
    stream = subjects.stream_for(out.subject)
    body = out.payload.model_dump_json().encode("utf-8")
    transient = _publish_outage_errors()
    deadline = time.monotonic() + PUBLISH_RETRY_S
    delay = 0.2
    while True:
        try:
            ack = await broker.publish(
                body,
                out.subject,
                headers={"Nats-Msg-Id": out.msg_id, "content-type": "application/json"},
                stream=stream.name,
                timeout=10.0,
            )
            break
        except transient as exc:
            if time.monotonic() + delay > deadline:
                raise OutageError(f"NATS unreachable while publishing {out.subject}: {exc!r}") from exc
            log.warning(
                "publish failed, retrying",
                extra={"stage": stage, "subject": out.subject, "error": repr(exc)[:200]},
            )
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
    if ack is not None and ack.duplicate:
        DUPLICATES.labels(stage).inc()
        return False
    EVENTS_OUT.labels(stage, out.subject).inc()
    return True


# Characters of the original body kept in a dead letter (see dead_letter).
MAX_DEAD_LETTER_PAYLOAD = 256 * 1024


async def dead_letter(
    broker: NatsBroker,
    stage: str,
    msg: NatsMessage,
    error: BaseException,
    deliveries: int,
    reason: str,
) -> None:
    raw = msg.raw_message
    story_id = None
    try:
        import json

        story_id = json.loads(raw.data).get("story_id")
    except Exception:  # the body may be anything: that may be why it is here
        story_id = None
    # Fix (issue 9, found by tests/faults/test_malformed_events.py): the letter must fit the
    # server's max payload (1 MiB by default). A 900 kB body whose "story_id" was the 900 kB
    # string produced a 1.8 MB letter (body + story id): publishing it raised MaxPayloadError
    # and the message came back every ack_wait for ever. Keep a plausible story id only, and cut
    # a huge body (the original stays in its stream at the sequence named in the error).
    body = raw.data.decode("utf-8", errors="replace")
    seq_note = (
        f" [payload cut to {MAX_DEAD_LETTER_PAYLOAD} of {len(body)} characters; original: "
        f"stream sequence {raw.metadata.sequence.stream if raw.metadata else '?'}]"
    )
    letter = DeadLetter(
        stage=stage,
        subject=raw.subject,
        error_type=type(error).__name__,
        error=str(error)[:4000] + (seq_note if len(body) > MAX_DEAD_LETTER_PAYLOAD else ""),
        deliveries=deliveries,
        headers={k: v for k, v in (raw.headers or {}).items()},
        payload=body[:MAX_DEAD_LETTER_PAYLOAD],
        story_id=story_id if isinstance(story_id, str) and len(story_id) <= 200 else None,
    )
    seq = raw.metadata.sequence.stream if raw.metadata else 0
    await publish_durably(
        broker, Outgoing(subjects.dlq(stage), letter, f"dlq:{stage}:{raw.subject}:{seq}"), stage
    )
    DEAD_LETTERS.labels(stage, reason).inc()
    log.error(
        "dead-lettered",
        extra={
            "stage": stage,
            "subject": raw.subject,
            "reason": reason,
            "error": letter.error[:300],
            "deliveries": deliveries,
        },
    )


async def keep_raw_body(msg: Any) -> Any:
    """Subscriber decoder that leaves the body as bytes.

    Fix (issue 9, found by tests/faults/test_malformed_events.py): FastStream's default decoder
    runs json.loads on every body before the handler is called, suppressing only JSONDecodeError
    (and not even that when the message says content-type application/json). A deeply nested body
    raised RecursionError there, outside ``consume``: the message was never acked, nacked or
    dead-lettered and came back every ack_wait for ever. ``consume`` validates the raw bytes itself,
    so the decoded body was never used (this also saves one JSON parse per message). The stages
    now use ``whole_message`` below, which parses nothing either."""
    return msg.body


async def whole_message(msg: Any) -> Any:
    """Subscriber decoder that hands the message itself to the handler, undecoded (the body stays
    raw bytes, as with ``keep_raw_body``). ``consume`` takes it as a plain argument: annotated as
    FastStream's ``NatsMessage`` (a context field) it was fetched by FastDepends on a worker thread,
    a thread hop per message for nothing (measured, issue 17)."""
    return msg


Handler = Callable[[StoryEvent], Awaitable[Sequence[Outgoing]]]


class InProgressKeeper:
    """Sends in-progress acks for the messages this process holds (fetched, not yet acked or
    nacked) every ``interval_s``, for at most ``max_handling_s`` per message (a handler stuck
    for ever then lets its message go to another process). The loop runs while it holds any."""

    def __init__(
        self,
        stage: str,
        interval_s: float,
        max_handling_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage
        self.interval_s = max(0.2, interval_s)
        self.max_handling_s = max_handling_s
        self._clock = clock
        self.held: dict[int, tuple[Any, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def hold(self, messages: Sequence[Any]) -> None:
        now = self._clock()
        for message in messages:
            self.held.setdefault(id(message), (message, now))
        if self.held and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.stage}-in-progress")

    def release(self, message: Any) -> None:
        self.held.pop(id(message), None)

    @staticmethod
    def _settled(message: Any) -> bool:
        return bool(getattr(message, "_ackd", False))

    async def beat(self) -> int:
        """One round: an in-progress ack for every held message still unsettled; returns how many."""
        now = self._clock()
        sent = 0
        for key, (message, since) in list(self.held.items()):
            if self._settled(message) or now - since > self.max_handling_s:
                self.held.pop(key, None)
                continue
            try:
                await message.in_progress()
            except Exception as exc:  # NATS reconnecting: the next round tries again
                log.info("in-progress ack failed", extra={"stage": self.stage, "error": repr(exc)[:200]})
                continue
            sent += 1
            IN_PROGRESS_ACKS.labels(self.stage).inc()
        return sent

    async def _run(self) -> None:
        while self.held:
            await asyncio.sleep(self.interval_s)
            await self.beat()


def _quiet_fetch(fetch: Callable[..., Awaitable[list[Any]]], keeper: InProgressKeeper) -> Any:
    import nats.errors

    async def fetch_and_hold(*args: Any, **kwargs: Any) -> list[Any]:
        try:
            messages = await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:  # nats-py's bare asyncio.TimeoutError: an idle fetch
            raise nats.errors.TimeoutError from exc
        keeper.hold(messages)
        return messages

    return fetch_and_hold


def _keep_fetched_messages(subscriber: Any, keeper: InProgressKeeper) -> bool:
    """Wrap the pull subscription's fetch once FastStream has created it (before its consume task
    first runs): fetched messages are held by the keeper, idle-fetch timeouts are quiet."""
    original = getattr(subscriber, "_create_subscription", None)
    if original is None:
        return False

    async def create_subscription() -> None:
        await original()
        subscription = getattr(subscriber, "subscription", None)
        if subscription is not None and not getattr(subscription, "_newsroom_keeper", False):
            subscription.fetch = _quiet_fetch(subscription.fetch, keeper)
            subscription._newsroom_keeper = True

    try:
        subscriber._create_subscription = create_subscription
    except AttributeError:  # a slotted subscriber (one worker): handlers are still kept in progress
        log.warning("cannot keep fetched messages in progress for this subscriber")
        return False
    return True


def register_stage(
    broker: NatsBroker,
    settings: Settings,
    *,
    stage: str,
    subject: str,
    durable: str,
    handler: Handler | Callable[[Any], Awaitable[Sequence[Outgoing]]],
    description: str | None = None,
    event_model: type[BaseModel] = StoryEvent,
) -> Any:
    """Wire one durable pull consumer of ``subject`` to ``handler`` with the delivery rules above.

    ``handler`` gets the validated event and returns the events to publish; it must not publish
    itself. Ack happens here, after all of its events were acknowledged by their streams.
    ``event_model``: the payload's model (a StoryEvent for every stage event; another model for
    an event that is not one, e.g. shared.events.StoryRevised)."""
    delivery = settings.delivery.for_stage(stage)
    # Streams are declared once by ensure_streams(); FastStream must not re-declare them with a
    # config of its own (it would conflict with the other stages' view of the stream).
    stream = JStream(subjects.stream_for(subject).name, declare=False)
    known_outages = outage_errors()
    keeper = InProgressKeeper(stage, delivery.ack_wait_s / 3, delivery.max_handling_s)
    handling: set[int] = set()  # stream sequences this process is working on

    async def consume(msg: Any) -> None:  # the NatsMessage, from whole_message
        raw = msg.raw_message
        deliveries = raw.metadata.num_delivered if raw.metadata else 1
        EVENTS_IN.labels(stage, subject).inc()
        if deliveries > 1:
            REDELIVERIES.labels(stage).inc()
        started = time.perf_counter()
        keeper.hold([raw])
        sequence = raw.metadata.sequence.stream if raw.metadata else None
        if sequence is not None:
            if sequence in handling:
                REDELIVERED_WHILE_HANDLED.labels(stage).inc()
                log.warning("message delivered again while being handled", extra={"stage": stage})
            handling.add(sequence)
        try:
            try:
                event: Any = event_model.model_validate_json(raw.data)
            except ValidationError as exc:
                raise PermanentError(f"invalid {subject} event: {exc}") from exc
            outgoing = await handler(event)
            for out in outgoing:
                await publish_durably(broker, out, stage)
            await msg.ack()
        except PermanentError as exc:
            await dead_letter(broker, stage, msg, exc, deliveries, "invalid_input")
            await msg.ack()
        except known_outages as exc:
            if deliveries >= settings.delivery.poison_after:
                await dead_letter(broker, stage, msg, exc, deliveries, "outage_exhausted")
                await msg.ack()
                return
            RETRIES.labels(stage, "outage").inc()
            log.warning("outage, will retry", extra={"stage": stage, "error": str(exc)[:300]})
            await msg.nack(delay=settings.delivery.outage_retry_delay_s)
        except Exception as exc:
            if deliveries >= delivery.max_deliver:
                await dead_letter(broker, stage, msg, exc, deliveries, "max_deliver")
                await msg.ack()
                return
            RETRIES.labels(stage, "error").inc()
            log.warning(
                "handler failed, will retry",
                extra={"stage": stage, "error": repr(exc)[:300], "deliveries": deliveries},
                exc_info=deliveries == 1,
            )
            await msg.nack(delay=delivery.retry_delay_s * (2 ** (deliveries - 1)))
        finally:
            keeper.release(raw)
            if sequence is not None:
                handling.discard(sequence)
            PROCESSING_SECONDS.labels(stage).observe(time.perf_counter() - started)

    subscriber = broker.subscriber(
        subject,
        stream=stream,
        durable=durable,
        pull_sub=PullSub(batch_size=delivery.batch_size, timeout=5.0),
        config=ConsumerConfig(
            # Unlimited at the server: the handler decides when to dead-letter (see module doc).
            max_deliver=-1,
            ack_wait=delivery.ack_wait_s,
            deliver_policy=DeliverPolicy.ALL,
        ),
        ack_policy=AckPolicy.MANUAL,
        decoder=whole_message,
        max_workers=delivery.workers,
        title=f"{stage}:{subject}",
        description=description,
    )
    subscriber(consume)
    _keep_fetched_messages(subscriber, keeper)
    return subscriber


def document_publisher(broker: NatsBroker, subject: str, description: str, schema: Any) -> None:
    """Declare an outgoing subject with its payload schema for the AsyncAPI document."""
    broker.publisher(subject, schema=schema, description=description, title=subject)


def msg_id(stage: str, *parts: str) -> str:
    return ":".join((stage, *parts))
