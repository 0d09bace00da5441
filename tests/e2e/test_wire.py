"""The wire end to end, as a reader and a downstream service see it: the bundled sample corpus →
five real service processes + the read API on a real nats-server and nx-27017 → items in MongoDB
→ a Python subscriber (docs/examples/subscribe.py) gets exactly one published event per story and
an updated event when a second source joins, and a webhook receiver gets the same item shape
(`id`, signed) → the API lists them in Hot order and finds them by a
Chinese and an English query → the RSS and JSON feeds validate → headless Chromium renders both
languages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import feedparser
import httpx
import jsonschema
import pytest

from services.publish.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from shared.runtime.embedded import EmbeddedServer, free_port, nats_url, wait_for_port
from tests.support.stack import REPO, Stack, messages, settle, write_feed
from tests.support.waits import PIPELINE_TEST_TIMEOUT_S, WAIT_S
from tests.unit.test_feeds_output import FORMATS, JSON_FEED_SCHEMA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(PIPELINE_TEST_TIMEOUT_S)]
CORPUS_SOURCES = REPO / "shared" / "sample_corpus" / "sources.yaml"
WEBHOOK_SECRET = "e2e-webhook-secret"


class WebhookReceiver(BaseHTTPRequestHandler):
    """Records every delivery (headers + body) and answers 204."""

    deliveries: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def wire(
    nats: EmbeddedServer, mongo_server: str, mongo_db_name: str, tmp_path: Path
) -> Iterator[tuple[Stack, str]]:
    stack = Stack(nats_url(nats), mongo_server, mongo_db_name, tmp_path, embeddings=True)
    stack.env_extra = {"NEWSROOM_INGEST__SOURCES_FILE": str(CORPUS_SOURCES), "NEWSROOM_INGEST__POLL": "false"}
    api_port = free_port()
    stack.env_extra["NEWSROOM_PUBLISH__API_PORT"] = str(api_port)
    WebhookReceiver.deliveries = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), WebhookReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    stack.env_extra["NEWSROOM_PUBLISH__WEBHOOK_URLS"] = f"http://127.0.0.1:{receiver.server_port}/hook"
    stack.env_extra["NEWSROOM_PUBLISH__WEBHOOK_SECRET"] = WEBHOOK_SECRET
    stack.start_all()
    api_log = open(tmp_path / "api.log", "ab")
    api = subprocess.Popen(
        [sys.executable, "-m", "services.publish.read_api"],
        env=stack.env(),
        cwd=REPO,
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    api_log.close()
    try:
        wait_for_port("127.0.0.1", api_port, None, 60, "read API")
        yield stack, f"http://127.0.0.1:{api_port}"
    finally:
        api.terminate()
        api.wait(timeout=15)
        stack.stop_all()
        receiver.shutdown()


def delivered() -> list[dict[str, Any]]:
    """The webhook bodies received so far."""
    return [json.loads(body) for _, body in list(WebhookReceiver.deliveries)]


def subscriber(stack: Stack, durable: str, count: int) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "docs" / "examples" / "subscribe.py"),
            "--nats",
            stack.nats_url,
            "--durable",
            durable,
            "--count",
            str(count),
            "--timeout",
            str(WAIT_S),
        ],
        capture_output=True,
        text=True,
        timeout=WAIT_S + 60,  # the subscriber's own limit, plus its start-up
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_the_wire_end_to_end(wire: tuple[Stack, str], tmp_path: Path) -> None:
    stack, api = wire
    items = settle(stack)
    stories = {item["_id"] for item in items}
    assert len(items) >= 8, "the sample corpus has at least eight distinct stories"
    assert any(item["origin_language"] == "zh" for item in items) and any(
        item["origin_language"] == "en" for item in items
    )
    assert any(len(item["sources"]) >= 2 for item in items), (
        "coverage of one story by several sources is clustered"
    )

    # One embedding per story: every news.ingested event carries the vector the clustering computed.
    ingested = [data for _, data, _ in messages(stack.nats_url, "NEWS_PIPELINE", "news.ingested")]
    # The default runtime (onnx q4; the stack's services get no NEWSROOM_EMBEDDING__ setting).
    default = "onnx/multilingual-e5-small-q4/"
    assert ingested and all(e["vector"] and e["vector"]["model"].startswith(default) for e in ingested)

    # Exactly one published event per story, seen by a downstream subscriber.
    published = [data for _, data, _ in messages(stack.nats_url, "NEWS_OUT", "news.published.>")]
    assert Counter(e["story_id"] for e in published) == Counter({story: 1 for story in stories})
    seen = subscriber(stack, "e2e-reader", count=len(messages(stack.nats_url, "NEWS_OUT")))
    assert {e["story_id"] for e in seen if e["kind"] == "published"} == stories

    # A second source joins a known story: one updated event with a higher version.
    target = next(i for i in items if i["origin_language"] == "en" and i["summary"].get("en"))
    copy = write_feed(
        tmp_path / "copy.xml",
        [("https://copy.example.net/2026/11/wire-copy", target["title"]["en"], target["summary"]["en"])],
        title="Copy Desk",
    )
    stack.kill("ingest")
    stack.env_extra["NEWSROOM_INGEST__FEEDS"] = str(copy)
    stack.start("ingest")
    # Drained: the new ingest pass is done and every stage has handled what it caused, so the
    # updated event is in the stream and an item the copy would wrongly have made is stored.
    stack.wait_drained()
    updated = [
        d
        for _, d, _ in messages(stack.nats_url, "NEWS_OUT", "news.updated.>")
        if d["story_id"] == target["_id"] and len(d["item"]["sources"]) > len(target["sources"])
    ]
    assert updated, f"no updated event after a second source joined\n{stack.logs()}"
    assert updated[-1]["version"] > target["version"]
    assert stack.mongo().items.count_documents({}) == len(items), (
        "the copy joined the story, it is no new item"
    )

    # Webhooks: signed deliveries carrying the item in the events' shape (``id``, never the
    # storage key ``_id``), one "published" per story and the update of the joined story. They
    # are sent after publish has handled the event, so the test waits for all it expects.
    def hooks_of(event: str) -> set[str]:
        return {h["item"]["id"] for h in delivered() if h["event"] == event}

    stack.wait_until(
        "a webhook per story and the joined story's update",
        lambda: hooks_of("published") >= stories and target["_id"] in hooks_of("updated"),
        timeout_s=WAIT_S,
        every_s=0.25,
    )
    hooks = delivered()
    assert hooks_of("published") == stories
    assert target["_id"] in hooks_of("updated")
    assert not any("_id" in h["item"] for h in hooks)
    for headers, body in WebhookReceiver.deliveries:
        stamp = headers[TIMESTAMP_HEADER.lower()]
        signature = headers[SIGNATURE_HEADER.lower()]
        assert verify_signature(WEBHOOK_SECRET.encode(), body, stamp, signature, now=int(stamp))

    with httpx.Client(base_url=api, timeout=30) as client:
        listed = client.get("/api/v1/items", params={"sort": "hot", "limit": 100}).json()["items"]
        hots = [entry["scores"]["hot"] for entry in listed if entry["scores"].get("hot") is not None]
        assert len(listed) == len(items) and hots == sorted(hots, reverse=True)

        zh_titles = [i["title"]["zh"] for i in items if i["origin_language"] == "zh"]
        zh_title, zh_query = next(
            (t, term) for t in zh_titles for term in ("台积电", "字节跳动", "小米", "智能体") if term in t
        )
        found = client.get("/api/v1/search", params={"q": zh_query}).json()["items"]
        assert any(zh_query in (entry["title"].get("zh") or "") for entry in found)
        en_found = client.get("/api/v1/search", params={"q": "Nuro"}).json()["items"]
        assert any("Nuro" in (entry["title"].get("en") or "") for entry in en_found)

        rss = feedparser.parse(client.get("/feeds/en.rss").content)
        assert rss.bozo == 0 and len(rss.entries) >= 1
        atom = feedparser.parse(client.get("/feeds/zh.atom").content)
        assert atom.bozo == 0 and len(atom.entries) >= 1
        jsonschema.validate(client.get("/feeds/zh.json").json(), JSON_FEED_SCHEMA, format_checker=FORMATS)

    if shutil.which("chromium"):
        profile = tmp_path / "chromium-profile"
        dom = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                f"{api}/?lang=both",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        ).stdout
        assert target["title"]["en"].split()[0] in dom
        assert zh_title[:4] in dom
