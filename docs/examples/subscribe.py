"""Subscribe to AI Newsroom from your own service (needs only nats-py).

    python docs/examples/subscribe.py --nats nats://127.0.0.1:4222 --durable my-service

A durable JetStream consumer on the NEWS_OUT stream: it gets every `news.published.<tag>` (once per
story) and `news.updated.<tag>` (each material change) event, resumes where it stopped after a
restart, and acknowledges each event after handling it. Each payload is an ItemEvent
(docs/asyncapi.json): {"kind", "story_id", "version", "occurred_at", "item": {...}}.
Keep the highest `version` you have seen per story: an older one arriving late can be ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def main(url: str, durable: str, subject: str, count: int | None, timeout_s: float) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        subject,
        durable=durable,
        stream="NEWS_OUT",
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, max_deliver=10
        ),
    )
    latest: dict[str, int] = {}
    handled = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (count is None or handled < count) and loop.time() < deadline:
        try:
            messages = await sub.fetch(10, timeout=1.0)
        except TimeoutError:
            # Nothing new yet: keep waiting. The builtin TimeoutError covers both what nats-py
            # raises, nats.errors.TimeoutError and a bare asyncio.TimeoutError (when its no-wait
            # probe is answered after the deadline, e.g. on a busy machine).
            continue
        for msg in messages:
            event = json.loads(msg.data)
            story, version = event["story_id"], event["version"]
            if version > latest.get(story, 0):
                latest[story] = version
                title = event["item"]["title"]
                print(
                    json.dumps(
                        {
                            "kind": event["kind"],
                            "story_id": story,
                            "version": version,
                            "en": title.get("en"),
                            "zh": title.get("zh"),
                        },
                        ensure_ascii=False,
                    ),
                    flush=True,
                )
            await msg.ack()
            handled += 1
    await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--durable", default="example-subscriber")
    parser.add_argument("--subject", default="news.*.>", help="e.g. news.published.chips for one tag")
    parser.add_argument("--count", type=int, help="stop after this many events")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop after this many seconds")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.nats, args.durable, args.subject, args.count, args.timeout))
    except KeyboardInterrupt:
        pass  # Ctrl-C: the durable consumer remembers where we were
