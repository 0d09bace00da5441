"""A stage must see every body as raw bytes: FastStream's default decoder parses JSON before the
handler runs and lets RecursionError through (and JSONDecodeError too when the message declares
content-type application/json), so such a message was neither acked nor dead-lettered."""

from __future__ import annotations

import pytest
from faststream.message.utils import decode_message

from shared.pipeline import keep_raw_body


class Body:
    def __init__(self, body: bytes, content_type: str | None = None) -> None:
        self.body = body
        self.content_type = content_type


DEEP = b"[" * 50_000 + b"]" * 50_000


def test_default_decoder_raises_outside_the_handler() -> None:
    # Why the stage needs its own decoder (if FastStream changes this, the fix is harmless).
    with pytest.raises(RecursionError):
        decode_message(Body(DEEP))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decode_message(Body(b"not json", "application/json"))  # type: ignore[arg-type]


@pytest.mark.parametrize("message", [Body(DEEP), Body(b"not json", "application/json"), Body(b"\xff\xfe")])
async def test_stage_decoder_keeps_the_raw_body(message: Body) -> None:
    assert await keep_raw_body(message) == message.body


class FakeBroker:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    async def publish(self, body: bytes, subject: str, **kwargs: object) -> None:
        self.sizes.append(len(body))


class RawMessage:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.subject = "news.ingested"
        self.headers = {"Nats-Msg-Id": "x"}
        self.metadata = None


class Message:
    def __init__(self, data: bytes) -> None:
        self.raw_message = RawMessage(data)


async def test_dead_letter_of_a_huge_body_fits_the_max_payload() -> None:
    import json

    from shared.pipeline import dead_letter

    broker = FakeBroker()
    body = json.dumps({"story_id": "x" * 900_000}).encode()  # a huge body whose story id is huge too
    await dead_letter(broker, "translate", Message(body), ValueError("invalid"), 1, "invalid_input")  # type: ignore[arg-type]
    assert broker.sizes and broker.sizes[0] < 1024 * 1024  # nats-server's default max_payload
