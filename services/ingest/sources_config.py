"""Which sources the ingest service polls.

1. ``NEWSROOM_INGEST__SOURCES_FILE`` when set;
2. else ``<data dir>/sources.yaml`` when it exists (where `newsroom sources add/disable` write);
3. else the bundled starter list when the network is reachable, the bundled offline corpus when
   it is not.

Feeds named in ``NEWSROOM_INGEST__FEEDS`` (`newsroom up --once FEED`) are added as ad-hoc
sources; when they are given and no sources file is set, only they are polled.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from shared.events import stable_id
from shared.settings import Settings
from shared.sources import BUNDLED_SOURCES, SAMPLE_CORPUS_SOURCES, Source, SourceList, load_sources

log = logging.getLogger("newsroom.ingest")
# Marks a source made from a feed location: its display name is taken from the feed's title.
ADHOC_NOTE = "ad-hoc feed"


def operator_sources_file(settings: Settings) -> Path:
    """The file `newsroom sources add/disable` edit (a copy of the starter list at first use)."""
    if settings.ingest.sources_file is not None:
        return settings.ingest.sources_file
    path = settings.data_dir / "sources.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BUNDLED_SOURCES, path)
    return path


async def network_reachable(sources: SourceList, timeout_s: float = 2.0, probes: int = 3) -> bool:
    """True when a TCP connection to one of the first few source hosts succeeds."""
    hosts = []
    for source in sources.sources:
        parts = urlsplit(source.url)
        if parts.scheme in ("http", "https") and parts.hostname and parts.hostname not in hosts:
            hosts.append(parts.hostname)
        if len(hosts) >= probes:
            break

    async def probe(host: str) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, 443), timeout_s)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    results = await asyncio.gather(*(probe(h) for h in hosts))
    return any(results)


def adhoc_source(location: str) -> Source:
    """A source for a feed named on the command line (URL or local path); kind sniffed later."""
    url = (
        location
        if urlsplit(location).scheme in ("http", "https", "file")
        else Path(location).resolve().as_uri()
    )
    name = Path(urlsplit(url).path).name or urlsplit(url).hostname or location
    return Source(
        id=f"feed-{stable_id(url, length=10)}",
        name=name,
        url=url,
        kind="rss",
        poll_interval_s=300,
        notes=ADHOC_NOTE,
    )


async def resolve_sources(settings: Settings) -> tuple[SourceList, str]:
    """The sources to poll and a short description of where they came from."""
    feeds = list({s.id: s for s in (adhoc_source(f) for f in settings.ingest.feed_list)}.values())
    if settings.ingest.sources_file is not None:
        base, origin = load_sources(settings.ingest.sources_file), str(settings.ingest.sources_file)
    elif feeds:
        return SourceList(sources=feeds), "feeds given on the command line"
    elif (settings.data_dir / "sources.yaml").exists():
        path = settings.data_dir / "sources.yaml"
        base, origin = load_sources(path), str(path)
    else:
        starter = load_sources(BUNDLED_SOURCES)
        if await network_reachable(starter):
            base, origin = starter, "bundled starter list"
        else:
            base, origin = load_sources(SAMPLE_CORPUS_SOURCES), "bundled offline sample corpus (no network)"
    known = {s.id for s in base.sources}
    extra = [f for f in feeds if f.id not in known]
    return SourceList(sources=[*base.sources, *extra], mirrors=base.mirrors), origin
