"""What an OpenAI-compatible server tells about itself, asked once per endpoint and process.

- ``GET {base}/models``: vLLM gives ``max_model_len``; OpenRouter, LM Studio and others
  ``context_length`` or ``context_window``; llama.cpp's server ``meta.n_ctx_train`` (the training
  context: an upper bound only, the server may run with less).
- ``GET {root}/props`` (llama.cpp's server): ``default_generation_settings.n_ctx`` (the context it
  runs with), ``total_slots`` (requests it serves at once) and ``chat_template``.

Servers that tell nothing (OpenAI, llama-cpp-python, Ollama's OpenAI API) answer 404 or omit the
fields: nothing is learned and nothing fails. Both GETs are cheap (no generation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("newsroom.llm")

DISCOVERY_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Discovered:
    context_tokens: int | None = None
    slots: int | None = None
    chat_template: str | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def context_from_models(body: Any, model: str) -> int | None:
    """The context window of ``model`` in a /models answer (None when it does not say)."""
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return None
    chosen = [e for e in entries if isinstance(e, dict) and e.get("id") == model]
    if not chosen and len(entries) == 1 and isinstance(entries[0], dict):
        chosen = [entries[0]]  # a one-model server answers to any model name
    for entry in chosen:
        for field in ("max_model_len", "context_length", "context_window", "max_context_length"):
            value = _int(entry.get(field))
            if value:
                return value
    return None


def from_props(body: Any) -> Discovered:
    """llama.cpp's /props: runtime context, slots and chat template."""
    if not isinstance(body, dict):
        return Discovered()
    settings = body.get("default_generation_settings")
    n_ctx = _int(settings.get("n_ctx")) if isinstance(settings, dict) else None
    template = body.get("chat_template")
    return Discovered(
        context_tokens=n_ctx or _int(body.get("n_ctx")),
        slots=_int(body.get("total_slots")),
        chat_template=template if isinstance(template, str) and template.strip() else None,
    )


async def discover(base_url: str, model: str, api_key: str | None = None) -> Discovered:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base = base_url.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    context: int | None = None
    props = Discovered()
    async with httpx.AsyncClient(timeout=DISCOVERY_TIMEOUT_S, headers=headers) as client:
        try:
            response = await client.get(f"{base}/models")
            if response.status_code == 200:
                context = context_from_models(response.json(), model)
        except (httpx.HTTPError, ValueError) as exc:
            log.info("no model list from %s: %r", base, exc)
        try:
            response = await client.get(f"{root}/props")
            if response.status_code == 200:
                props = from_props(response.json())
        except (httpx.HTTPError, ValueError):
            pass
    return Discovered(
        context_tokens=props.context_tokens or context,
        slots=props.slots,
        chat_template=props.chat_template,
    )
