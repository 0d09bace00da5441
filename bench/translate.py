"""Translate stage throughput against a scripted model server with a fixed latency, and the
tokens one story costs.

Throughput: one translate process (``python -m services.translate``) on an embedded nats-server
and nx-27017 (LLM cache), pointed at the scripted OpenAI-compatible server of tests/support with a
fixed answer latency (default 1 s) and human translations as answers (so every story passes QA in
one request). N distinct stories of about 1,500 Chinese characters are published to news.ingested;
the bench times their arrival on news.translated. The bound is concurrency ÷ latency: the service
should reach at least 80% of it (it waits on the model, not on itself).

Tokens: the prompt tokens sent per story (system prompt, glossary lines, delimiters, article),
for a typical 1,500-character article in each direction, estimated as the gateway does (about one
token per Han character, one per four other characters).

    python bench/translate.py [--stories 80] [--latency 1.0] [--concurrency 8] [--workers 16]

Prints JSON. Numbers depend on the machine; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nats  # noqa: E402

from services.translate.usecase import TranslateUseCase  # noqa: E402
from shared import subjects  # noqa: E402
from shared.core.translation import estimate_tokens  # noqa: E402
from shared.events import Article, Cluster, StoryEvent, StoryMember  # noqa: E402
from shared.llm import LLMGateway, load_glossary, load_prompt  # noqa: E402
from shared.runtime.embedded import (  # noqa: E402
    free_port_block,
    mongo_url,
    mongo_wire_server,
    nats_server,
    nats_url,
)
from shared.settings import STAGE_PORT_OFFSET, LLMSettings  # noqa: E402
from tests.support.scripted_llm import ScriptedLLM, TranslatingResponder  # noqa: E402
from tests.support.translation_samples import PARAGRAPHS, SUMMARY, TITLE, translation_table  # noqa: E402

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TARGET_CHARS = 1500


def typical_article(language: Literal["en", "zh"], index: int = 0) -> Article:
    """Title, summary and whole paragraphs up to about 1,500 characters in all; the title carries
    the story number so that every story is a distinct input (no cache hits between stories)."""
    pick = 0 if language == "zh" else 1
    title = f"{TITLE[pick]} 第{index}期" if language == "zh" else f"{TITLE[pick]} (issue {index})"
    summary = SUMMARY[pick]
    paragraphs: list[str] = []
    for pair in PARAGRAPHS:
        if len(title) + len(summary) + sum(len(p) for p in paragraphs) >= TARGET_CHARS:
            break
        paragraphs.append(pair[pick])
    return Article(
        article_id=f"bench-{language}-{index}",
        source_id="bench",
        source_name="Bench",
        url=f"https://b.example/{index}",
        canonical_url=f"https://b.example/{index}",
        title=title,
        summary=summary,
        body="\n\n".join(paragraphs),
        language=language,
        fetched_at=NOW,
    )


def story_event(article: Article) -> StoryEvent:
    member = StoryMember(
        article_id=article.article_id,
        source_id="bench",
        source_name="Bench",
        url=article.url,
        title=article.title,
        language=article.language,
        joined_at=NOW,
    )
    return StoryEvent(
        story_id=f"s-{article.article_id}",
        article_id=article.article_id,
        article=article,
        cluster=Cluster(story_id=f"s-{article.article_id}", is_new=True, method="new", members=[member]),
    )


def responder_for(count: int) -> TranslatingResponder:
    table = translation_table()
    for i in range(count):
        table[f"{TITLE[0]} 第{i}期"] = f"{TITLE[1]} (issue {i})"
        table[f"{TITLE[1]} (issue {i})"] = f"{TITLE[0]} 第{i}期"
    return TranslatingResponder(table)


def article_chars(article: Article) -> int:
    return len(article.title) + len(article.summary or "") + len(article.body or "")


async def tokens_per_story(language: Literal["en", "zh"]) -> dict[str, object]:
    """Prompt tokens of one typical story, measured on the requests the scripted server receives."""
    with ScriptedLLM(responder=responder_for(1)) as server:
        gateway = LLMGateway(LLMSettings(base_url=server.url, model="bench"), "translate")
        usecase = TranslateUseCase(gateway, load_glossary(), load_prompt("translate"))
        article = typical_article(language)
        translation = await usecase.translate(article)
        await gateway.aclose()
        sent = sum(estimate_tokens(str(m["content"])) for r in server.requests for m in r["messages"])
        text = sum(estimate_tokens(t) for t in (article.title, article.summary or "", article.body or ""))
        return {
            "direction": f"{language}->{'en' if language == 'zh' else 'zh'}",
            "article_chars": article_chars(article),
            "requests": len(server.requests),
            "qa_flags": translation.qa_flags,
            "prompt_tokens_sent": sent,
            "article_tokens": text,
            "overhead_tokens": sent - text,
            "overhead_share": round((sent - text) / sent, 3),
            "glossary_lines": server.requests[0]["messages"][1]["content"]
            .split("\n\nTranslate")[0]
            .count("\n- ")
            + 1,
        }


async def count_translated(url: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("NEWS_PIPELINE", subjects_filter=subjects.TRANSLATED)
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def publish_all(url: str, events: list[StoryEvent]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(
                subjects.INGESTED,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"bench:{event.story_id}"},
            )
    finally:
        await nc.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("translate service exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("translate service not ready in time")


def throughput(
    stories: int, latency_s: float, concurrency: int, workers: int, workdir: Path
) -> dict[str, object]:
    nats_srv = nats_server(workdir / "n").start()
    mongo_srv = mongo_wire_server(workdir / "m").start()
    base_port = free_port_block(5)
    proc: subprocess.Popen[bytes] | None = None
    try:
        with ScriptedLLM(responder=responder_for(stories), latency_s=latency_s) as server:
            env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_")}
            env.update(
                {
                    "NEWSROOM_NATS_URL": nats_url(nats_srv),
                    "NEWSROOM_MONGO_URL": mongo_url(mongo_srv),
                    "NEWSROOM_MONGO_DB": "bench",
                    "NEWSROOM_METRICS_BASE_PORT": str(base_port),
                    "NEWSROOM_DATA_DIR": str(workdir),
                    "NEWSROOM_LOG_LEVEL": "WARNING",
                    "NEWSROOM_LLM__BASE_URL": server.url,
                    "NEWSROOM_LLM__MODEL": "bench",
                    "NEWSROOM_TRANSLATE__SOURCE_WAIT_S": "0",  # the model's throughput, not the grace
                    "NEWSROOM_LLM__CONCURRENCY": str(concurrency),
                    "NEWSROOM_DELIVERY__TRANSLATE__WORKERS": str(workers),
                    "PYTHONPATH": str(REPO),
                }
            )
            with open(workdir / "translate.log", "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "services.translate"],
                    env=env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            wait_ready(base_port + STAGE_PORT_OFFSET["translate"], proc)
            events = [story_event(typical_article("zh", i)) for i in range(stories)]
            url = nats_url(nats_srv)
            started = time.perf_counter()
            asyncio.run(publish_all(url, events))
            marks: list[tuple[float, int]] = []
            deadline = started + stories * latency_s + 120
            while time.perf_counter() < deadline:
                done = asyncio.run(count_translated(url))
                marks.append((time.perf_counter() - started, done))
                if done >= stories:
                    break
                time.sleep(0.05)
            elapsed, done = marks[-1]
            # Steady state: from 10% to 90% of the stories translated.
            t10 = next(t for t, n in marks if n >= stories * 0.1)
            t90 = next(t for t, n in marks if n >= stories * 0.9)
            steady = (stories * 0.8) / (t90 - t10) if t90 > t10 else float("nan")
            bound = concurrency / latency_s
            return {
                "stories": stories,
                "translated": done,
                "requests": len(server.requests),
                "latency_s": latency_s,
                "concurrency": concurrency,
                "workers": workers,
                "bound_stories_per_s": bound,
                "elapsed_s": round(elapsed, 2),
                "stories_per_s_overall": round(done / elapsed, 2),
                "stories_per_s_steady": round(steady, 2),
                "share_of_bound_steady": round(steady / bound, 3),
                "share_of_bound_overall": round(done / elapsed / bound, 3),
                "target_share": 0.8,
            }
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats_srv.stop()
        mongo_srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=80)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8, help="NEWSROOM_LLM__CONCURRENCY")
    # Messages in flight: above the LLM concurrency, so that a slot freed by a finished request is
    # taken at once while other messages do their cache look-up, QA checks and publish.
    parser.add_argument(
        "--workers", type=int, default=0, help="NEWSROOM_DELIVERY__TRANSLATE__WORKERS (0: 2 x concurrency)"
    )
    args = parser.parse_args()
    tokens = [asyncio.run(tokens_per_story("zh")), asyncio.run(tokens_per_story("en"))]
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        workers = args.workers or 2 * args.concurrency
        result = throughput(args.stories, args.latency, args.concurrency, workers, Path(tmp))
    print(
        json.dumps(
            {
                "bench": "translate",
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "token_estimate": "1 per Han character, 1 per 4 other characters",
                "throughput": result,
                "tokens_per_story": tokens,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
