"""Opt-in (NEWSROOM_TEST_LLM_URL): the whole pipeline against a real OpenAI-compatible model server,
with the default LLM and delivery settings, on the two sample-corpus feeds of issue 18
(bandaoti-gbk.rss and regional-roundup.rss: 3 stories).

It asserts what a weak model cannot fake: every story is published; every translation is either
QA-clean or flagged with a reason; no published text states a number or name the article does
not (nothing invented); no dead letters; no request over the model's context; HTTP requests per
story within a bound; no message redelivered while a handler works on it. A small model is slow
(minutes per story on 2 CPU cores): NEWSROOM_TEST_LLM_TIMEOUT (seconds, default 5400) bounds it.

    NEWSROOM_TEST_LLM_URL=http://127.0.0.1:18080/v1 [NEWSROOM_TEST_LLM_MODEL=name] \\
        .venv/bin/python -m pytest -q tests/e2e/test_real_llm_pipeline.py
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.errors import NotFoundError

from shared.core.analysis_llm import SourceText, fact_failures
from shared.core.entities import load_gazetteer
from shared.core.translation import check_translation
from shared.llm import load_glossary
from shared.runtime.embedded import EmbeddedServer, nats_url
from shared.settings import STAGE_PORT_OFFSET
from tests.support.stack import REPO, Stack, messages

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("NEWSROOM_TEST_LLM_URL"), reason="NEWSROOM_TEST_LLM_URL is not set"
    ),
]

FEEDS = REPO / "shared" / "sample_corpus" / "feeds"
# translate: one request + one QA retry (+ splits); analyze: one + one fact-check retry (+ a repair
# each); score: one rubric call (+ a repair). Anything beyond this is a request pattern gone wrong.
MAX_REQUESTS_PER_STORY = 14


def model_name(base_url: str) -> str:
    configured = os.environ.get("NEWSROOM_TEST_LLM_MODEL")
    if configured:
        return configured
    models = httpx.get(f"{base_url.rstrip('/')}/models", timeout=120).json()
    return str(models["data"][0]["id"])


def scrape(port: int) -> dict[str, float]:
    """Sums of each metric family (all labels) from one service's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{")[0]
        key = name
        if name == "newsroom_llm_requests_total":
            outcome = name_labels.split('outcome="')[1].split('"')[0]
            key = f"{name}:{outcome}"
        totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def sources(item: dict[str, Any]) -> list[SourceText]:
    origin = item["origin_language"]
    other = "en" if origin == "zh" else "zh"
    texts = []
    for language in (origin, other):
        parts = [(item.get(field) or {}).get(language) for field in ("title", "summary", "body")]
        text = "\n".join(p for p in parts if p)
        if text and language in ("en", "zh"):
            texts.append(SourceText(text, language))  # type: ignore[arg-type]
    return texts


def test_three_sample_stories_through_a_real_model(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path
) -> None:
    base_url = os.environ["NEWSROOM_TEST_LLM_URL"]
    timeout_s = float(os.environ.get("NEWSROOM_TEST_LLM_TIMEOUT", "5400"))
    url = nats_url(nats)
    stack = Stack(url, mongo_server, mongo_db_name, tmp_path)
    stack.env_extra = {
        # Only what says where the model is: every LLM and delivery setting keeps its default.
        "NEWSROOM_LLM__BASE_URL": base_url,
        "NEWSROOM_LLM__MODEL": model_name(base_url),
        "NEWSROOM_INGEST__FEEDS": f"{FEEDS / 'bandaoti-gbk.rss'},{FEEDS / 'regional-roundup.rss'}",
        "NEWSROOM_INGEST__POLL": "false",
    }
    if os.environ.get("NEWSROOM_TEST_LLM_KEY"):
        stack.env_extra["NEWSROOM_LLM__API_KEY"] = os.environ["NEWSROOM_TEST_LLM_KEY"]
    stack.start_all()
    try:
        deadline = time.monotonic() + timeout_s
        stories = 0
        while time.monotonic() < deadline:
            time.sleep(10)
            try:
                stories = len(messages(url, "NEWS_PIPELINE", "news.ingested"))
                published = len(messages(url, "NEWS_OUT", "news.published.>"))
            except NotFoundError:  # the services have not declared the streams yet
                continue
            if stories and published >= stories:
                break
        items = list(stack.mongo().items.find({}))
        assert stories and len(items) == stories, f"{len(items)} of {stories} published\n{stack.logs()}"
        metrics = {
            stage: scrape(stack.base_port + STAGE_PORT_OFFSET[stage])
            for stage in ("translate", "analyze", "score")
        }
    finally:
        stack.stop_all()

    report_path = os.environ.get("NEWSROOM_TEST_LLM_REPORT")
    if report_path:  # what the run did, for the operator (written before anything is asserted)
        report = {
            "stories": stories,
            "metrics": metrics,
            "items": [
                {
                    "title": item["title"],
                    "translation": item["translation"],
                    "analysis": item.get("analysis"),
                    "analysis_reason": item.get("analysis_reason"),
                    "scores_reason": (item.get("scores") or {}).get("reason"),
                }
                for item in items
            ],
            "dead_letters": len(messages(url, "NEWS_DLQ", "news.dlq.>")),
        }
        Path(report_path).write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        (Path(report_path).parent / "logs.txt").write_text(stack.logs())

    assert messages(url, "NEWS_DLQ", "news.dlq.>") == []
    for stage, values in metrics.items():
        assert values.get("newsroom_redelivered_while_handled_total", 0) == 0, stage
        assert values.get("newsroom_redeliveries_total", 0) == 0, stage
        assert values.get("newsroom_llm_requests_total:context_exceeded", 0) == 0, stage
    requests = sum(
        v for m in metrics.values() for k, v in m.items() if k.startswith("newsroom_llm_requests_total:")
    )
    assert requests / stories <= MAX_REQUESTS_PER_STORY, metrics

    glossary, gazetteer = load_glossary(), load_gazetteer()
    for item in items:
        translation = item["translation"]
        origin = item["origin_language"]
        target = "en" if origin == "zh" else "zh"
        if translation["status"] == "ok":
            assert translation["qa_flags"] == []
            title = item["title"]
            assert check_translation(title[origin], title[target], origin, target, glossary) == []
        else:
            assert translation["reason"], item["_id"]
        # Nothing invented: every published model text names only facts of the article.
        article = sources(item)
        for language in ("en", "zh"):
            commentary = (item.get("analysis") or {}).get(language)
            if commentary:
                assert fact_failures(commentary, language, article, glossary, gazetteer, "commentary") == []
        if not (item.get("analysis") or {}).get("en"):
            assert item["analysis_reason"], item["_id"]
