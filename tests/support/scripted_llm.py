"""A small OpenAI-compatible Chat Completions server with scripted behaviour, for tests and benches.

It runs uvicorn + starlette in a background thread on 127.0.0.1 (a free port), so it serves the
same way whatever event loop the test uses. Behaviour, in order of precedence:

- ``down = True``: every request gets 503 (the endpoint is "down"); ``stop()`` / ``start()``
  close and reopen the port itself (connection refused in between);
- the queue of scripted ``Reply`` objects (``enqueue``): 429 with Retry-After, 500s, slow answers
  (``delay_s``), invalid or truncated JSON (``finish_reason="length"``), valid answers;
- else the ``responder`` callable (request JSON -> Reply), e.g. ``TranslatingResponder``;
- else 500 "no scripted reply".

``gate`` (an ``AnswerGate``, open by default) holds answers back until a test allows them.
``reject_json_schema = True`` answers 500 to ``response_format.type == "json_schema"`` as
llama-cpp-python's server does. Every request body is recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.core.translation import estimate_tokens


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    finish_reason: str = "stop"
    error: str = "scripted error"
    completion_tokens: int | None = None  # usage as reported (default: estimated from content)


def json_reply(data: Any, **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(data, ensure_ascii=False), **kwargs)


def segments_reply(texts: dict[str, str], **kwargs: Any) -> Reply:
    """A valid translate answer: {"segments": [{"id": ..., "text": ...}]}."""
    return json_reply({"segments": [{"id": k, "text": v} for k, v in texts.items()]}, **kwargs)


Responder = Callable[[dict[str, Any]], Reply]

_DATA_BLOCK = re.compile(r'<source_text id="(?P<id>[^"]+)">\n(?P<text>.*?)\n</source_text>', re.S)


def request_segments(request: dict[str, Any]) -> dict[str, str]:
    """The delimited segments (id -> text) of a translate request."""
    user = next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")
    return {m.group("id"): m.group("text") for m in _DATA_BLOCK.finditer(user)}


class TranslatingResponder:
    """Answers translate requests from a table of human translations, paragraph by paragraph
    (paragraphs without an entry in the table make the responder answer 500, loudly)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = {key.strip(): value for key, value in table.items()}

    def __call__(self, request: dict[str, Any]) -> Reply:
        answers = {}
        for segment_id, text in request_segments(request).items():
            separator = "\n\n" if "\n\n" in text else "\n"
            paragraphs = [p.strip() for p in text.split(separator) if p.strip()]
            missing = [p for p in paragraphs if p not in self.table]
            if missing:
                return Reply(status=500, error=f"no translation in the table for: {missing[0][:60]!r}")
            answers[segment_id] = separator.join(self.table[p] for p in paragraphs)
        return segments_reply(answers)


class AnswerGate:
    """Holds answers back: at most ``allowed`` requests are answered (``None``: every one). A stage
    that needs the model for each story can then do only as much work as a test allows, whatever
    the machine's speed; the requests beyond it wait (their clients see a slow model)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.allowed: int | None = None
        self.answered = 0
        self.waiting = 0

    def close(self) -> None:
        """No answer beyond those given so far."""
        with self._lock:
            self.allowed = self.answered

    def allow_one(self) -> None:
        with self._lock:
            self.allowed = None if self.allowed is None else self.allowed + 1

    def open(self) -> None:
        with self._lock:
            self.allowed = None

    def spent(self) -> bool:
        """Every allowed answer was given and a request is waiting for the next one."""
        with self._lock:
            return self.allowed is not None and self.answered >= self.allowed and self.waiting > 0

    async def passage(self) -> None:
        """Wait until this request may be answered."""
        with self._lock:
            self.waiting += 1
        try:
            while True:
                with self._lock:
                    if self.allowed is None or self.answered < self.allowed:
                        self.answered += 1
                        return
                await asyncio.sleep(0.01)
        finally:
            with self._lock:
                self.waiting -= 1


class ScriptedLLM:
    def __init__(self, responder: Responder | None = None, latency_s: float = 0.0) -> None:
        self.responder = responder
        self.gate = AnswerGate()  # open: every request is answered
        self.latency_s = latency_s
        self.down = False
        self.reject_json_schema = False
        self.requests: list[dict[str, Any]] = []
        self.queue: deque[Reply] = deque()
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # What GET /v1/models and GET /props answer (404 when None), for discovery tests.
        self.models_body: dict[str, Any] | None = None
        self.props_body: dict[str, Any] | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._handle, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/props", self._props, methods=["GET"]),
            ]
        )

    @property
    def url(self) -> str:
        """The base URL to give the OpenAI client."""
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self.queue.extend(replies)

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> ScriptedLLM:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("scripted LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Close the port (clients get connection refused until start() again, same port)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the endpoint ---------------------------------------------------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self.down:
            return Reply(status=503, error="scripted outage")
        response_format = body.get("response_format") or {}
        if self.reject_json_schema and response_format.get("type") == "json_schema":
            return Reply(status=500, error="response_format json_schema is not supported")
        with self._lock:
            if self.queue:
                return self.queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(status=500, error="no scripted reply left")

    async def _models(self, request: Request) -> JSONResponse:
        if self.models_body is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse(self.models_body)

    async def _props(self, request: Request) -> JSONResponse:
        if self.props_body is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse(self.props_body)

    async def _handle(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        await self.gate.passage()
        reply = self._next_reply(body)
        delay = reply.delay_s + self.latency_s
        if delay:
            await asyncio.sleep(delay)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": reply.error, "type": "scripted", "code": reply.status}},
                status_code=reply.status,
                headers=reply.headers,
            )
        content = reply.content or ""
        prompt_tokens = sum(estimate_tokens(str(m.get("content", ""))) for m in body.get("messages", []))
        completion_tokens = (
            reply.completion_tokens if reply.completion_tokens is not None else estimate_tokens(content)
        )
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            headers=reply.headers,
        )


@pytest.fixture()
def scripted_llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server
