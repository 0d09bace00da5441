"""`newsroom sources list|add|disable|enable|test` and `newsroom submit URL` (registered by
newsroom/cli.py through ``register_commands``)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from shared.console import terminal_safe
from shared.settings import load_settings
from shared.sources import SOURCE_KINDS, Source, SourceConfigError, append_source, load_sources, set_enabled


def _print(text: str) -> None:
    # `sources test` prints a live feed's titles and errors: no escape sequence reaches the terminal.
    print(terminal_safe(text, one_line=False), flush=True)


def _sources_file(args: argparse.Namespace) -> Path:
    from services.ingest.sources_config import operator_sources_file

    return Path(args.file) if args.file else operator_sources_file(load_settings())


def _readable_sources_file(args: argparse.Namespace) -> tuple[Path, str]:
    """The file `list` and `test` read, without creating anything: the operator's file when it
    exists, else the bundled list the ingest service would poll (reading changes no configuration)."""
    from services.ingest.sources_config import network_reachable
    from shared.sources import BUNDLED_SOURCES, SAMPLE_CORPUS_SOURCES

    if args.file:
        return Path(args.file), ""
    settings = load_settings()
    if settings.ingest.sources_file is not None:
        return settings.ingest.sources_file, ""
    own = settings.data_dir / "sources.yaml"
    if own.exists():
        return own, ""
    if asyncio.run(network_reachable(load_sources(BUNDLED_SOURCES))):
        note = f"bundled starter list; `newsroom sources add/disable` would copy it to {own}"
        return BUNDLED_SOURCES, note
    note = f"bundled offline sample corpus (no network); `newsroom sources add/disable` would create {own}"
    return SAMPLE_CORPUS_SOURCES, note


def cmd_sources(args: argparse.Namespace) -> int:
    try:
        if args.action in ("list", "test"):
            read_path, note = _readable_sources_file(args)
            if args.action == "list":
                return _list(read_path, args, note)
            return asyncio.run(_test(read_path, args.id))
        path = _sources_file(args)
        if args.action == "add":
            source = Source(
                id=args.id,
                name=args.name or args.id,
                url=args.url,
                kind=args.kind,
                language=args.language,
                weight=args.weight,
                poll_interval_s=args.interval,
            )
            append_source(path, source)
            _print(f"added {source.id} to {path}")
            return 0
        if args.action in ("disable", "enable"):
            set_enabled(path, args.id, args.action == "enable")
            _print(f"{args.action}d {args.id} in {path}")
            return 0
    except SourceConfigError as exc:
        _print(f"newsroom: {exc}")
        return 2
    except ValueError as exc:  # an invalid Source from `add`
        _print(f"newsroom: invalid source: {exc}")
        return 2
    return 2


def _list(path: Path, args: argparse.Namespace, note: str = "") -> int:
    sources = load_sources(path)
    health = asyncio.run(_health()) if args.health else {}
    if args.json:
        _print(
            json.dumps(
                [{**s.model_dump(exclude_none=True), "health": health.get(s.id)} for s in sources.sources],
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )
        return 0
    _print(f"# {path}" + (f"  ({note})" if note else ""))
    for s in sources.sources:
        flag = "on " if s.enabled else "off"
        language = s.language or "-"
        interval = f"{s.poll_interval_s:>6.0f}s"
        line = f"{flag} {s.id:<22} {s.kind:<9} {language:<3} w={s.weight:<4} {interval}  {s.name}"
        h = health.get(s.id)
        if h:
            line += f"  [fails={h.get('consecutive_failures', 0)} last_ok={h.get('last_success_at') or '-'}"
            line += f" last_error={(h.get('last_error') or '-')[:60]}]"
        _print(line)
    return 0


async def _health() -> dict[str, dict[str, Any]]:
    from shared.source_health import SourceHealthStore
    from shared.storage import MongoStore

    settings = load_settings()
    store = MongoStore(
        settings.require_mongo_url(), settings.mongo_db, settings.mongo_driver, timeout_ms=2000
    )
    try:
        return {k: v.model_dump() for k, v in (await SourceHealthStore(store).all()).items()}
    except Exception as exc:
        _print(f"(source health unavailable: {exc})")
        return {}
    finally:
        await store.close()


async def _test(path: Path, source_id: str) -> int:
    """Fetch and parse one source now, print what would be ingested; publishes nothing."""
    from services.ingest.articles import source_timezone
    from shared.adapters.fetch import Fetcher, FetchError, FetchPolicy
    from shared.core.feeds import FeedParseError, is_teaser, parse_feed
    from shared.sources import private_origins

    sources = load_sources(path)
    source = sources.get(source_id)
    if source is None:
        _print(f"newsroom: no source {source_id!r} in {path}")
        return 2
    async with Fetcher(load_settings().ingest.user_agent, mirrors=sources.mirrors) as fetcher:
        try:
            result = await fetcher.fetch(
                source.url,
                # The operator's own configured source: it may be a local file.
                FetchPolicy(private_origins(source, sources.mirrors), source.id, local_source=True),
            )
        except FetchError as exc:
            _print(f"FAIL fetch ({exc.kind}): {exc}")
            return 1
        from datetime import UTC, datetime

        try:
            parsed = parse_feed(
                result.content,
                source.kind,
                base_url=result.base_url,
                now=datetime.now(UTC),
                declared_encoding=result.declared_encoding,
                encoding_override=source.encoding,
                assume_tz=source_timezone(source),
                html_list=source.html_list,
                json_api=source.json_api,
            )
        except FeedParseError as exc:
            _print(f"FAIL parse: {exc}")
            return 1
    teasers = sum(is_teaser(e) for e in parsed.entries)
    _print(
        f"OK {source.id}: {len(parsed.entries)} entries ({teasers} teasers), encoding {parsed.encoding}, "
        f"{result.transferred_bytes} bytes, final URL {result.final_url}"
    )
    for warning in parsed.warnings:
        _print(f"  warning: {warning}")
    for entry in parsed.entries[:10]:
        when = entry.published.isoformat() if entry.published else "no date"
        _print(f"  - {when}  {entry.title[:90]}  <{entry.url}>")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from shared.events import SubmitReply, SubmitRequest

    async def run() -> int:
        from shared import ops

        settings = load_settings()
        request = SubmitRequest(url=args.url, language=args.language)
        nc = await ops.connect(settings.require_nats_url())
        try:
            answer = await nc.request("news.submit", request.model_dump_json().encode(), timeout=args.timeout)
        except Exception as exc:
            _print(f"newsroom: no answer from the ingest service on news.submit: {type(exc).__name__} {exc}")
            return 1
        finally:
            await nc.close()
        reply = SubmitReply.model_validate_json(answer.data)
        _print(json.dumps(reply.model_dump(), ensure_ascii=False))
        return 0 if reply.ok else 1

    return asyncio.run(run())


def register_commands(sub: Any) -> None:
    sources = sub.add_parser("sources", help="list, add, disable/enable or test the configured sources")
    sources.add_argument("action", choices=["list", "add", "disable", "enable", "test"])
    sources.add_argument("id", nargs="?", help="source id (add, disable, enable, test)")
    sources.add_argument("url", nargs="?", help="feed/page/API URL (add)")
    sources.add_argument(
        "--file", help="sources file (default: NEWSROOM_INGEST__SOURCES_FILE or <data dir>/sources.yaml)"
    )
    sources.add_argument("--name")
    sources.add_argument("--kind", choices=SOURCE_KINDS, default="rss")
    sources.add_argument("--language", choices=["en", "zh"])
    sources.add_argument("--weight", type=float, default=1.0)
    sources.add_argument("--interval", type=float, default=900.0, help="poll interval in seconds")
    sources.add_argument("--health", action="store_true", help="list: add health from MongoDB (source_state)")
    sources.add_argument("--json", action="store_true", help="list: JSON output")
    sources.set_defaults(func=_checked_sources)

    submit = sub.add_parser("submit", help="ingest one URL now (through the running ingest service)")
    submit.add_argument("url")
    submit.add_argument("--language", choices=["en", "zh"])
    submit.add_argument("--timeout", type=float, default=60.0)
    submit.set_defaults(func=cmd_submit)


def _checked_sources(args: argparse.Namespace) -> int:
    needs_id = args.action in ("add", "disable", "enable", "test")
    if needs_id and not args.id:
        _print(f"newsroom sources {args.action}: a source id is required")
        return 2
    if args.action == "add" and not args.url:
        _print("newsroom sources add: usage: newsroom sources add ID URL [--kind K --language L --name N]")
        return 2
    return cmd_sources(args)
