"""Which page requests count as a view of an item.

A view is a reader opening the item page: not an API listing, not a feed reader, not a crawler
(obvious bots are told apart by their User-Agent), and at most one per client per item per hour.

No personal data is kept: a client is remembered only as a keyed hash of (address, User-Agent, item)
under a random key that lives in this process's memory and is replaced every day (when the
remembered hashes are dropped too), for an hour at most. The hash cannot be reversed or linked
across days or processes; nothing about a client is written to disk or to the database.
With several read-API processes, each remembers its own clients: a client whose requests land on
two processes within the hour may count twice. The counter itself is a MongoDB ``$inc`` (atomic on
the server), so concurrent views never lose an increment.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW_S = 3600.0  # one view per client per item per hour
KEY_LIFETIME_S = 86_400.0  # the hashing key is replaced daily
MAX_REMEMBERED = 200_000  # ~20 MB at most; the oldest are forgotten beyond this

# Substrings of User-Agents that are not a person reading: crawlers, link previews, feed readers,
# HTTP libraries and automation. Matched case-insensitively.
_BOT_MARKERS = re.compile(
    r"(?<!cu)bot\b|bot/|crawl|spider|slurp|archiver|scrap|fetch|preview|monitor|uptime|checker"
    r"|validator|facebookexternalhit|embedly|whatsapp"
    r"|feed|rss|atom|reader/|newsblur|inoreader|feedly"
    r"|curl/|wget/|httpie|python-|python/|aiohttp|httpx|go-http-client|java/|okhttp|libwww|lwp-|"
    r"node-fetch|axios|ruby|perl|php/|postman|insomnia"
    r"|headless|phantomjs|puppeteer|playwright|selenium|lighthouse|pagespeed",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None) -> bool:
    """True for an obvious non-reader: no User-Agent at all, or one naming a bot, crawler, feed
    reader, HTTP library or headless browser. Browsers' own strings never contain these words."""
    if not user_agent or not user_agent.strip():
        return True
    return bool(_BOT_MARKERS.search(user_agent))


class ViewGate:
    """Decides whether a page request counts as a new view (in memory; see the module doc)."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        key_lifetime_s: float = KEY_LIFETIME_S,
        max_remembered: int = MAX_REMEMBERED,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.key_lifetime_s = key_lifetime_s
        self.max_remembered = max_remembered
        self.monotonic = monotonic
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # hash -> when it stops counting
        self._key = os.urandom(32)
        self._key_born = monotonic()

    def _digest(self, client: str, user_agent: str, item_id: str) -> bytes:
        material = "\x1f".join((client, user_agent, item_id)).encode("utf-8", "replace")
        return hashlib.blake2b(material, key=self._key, digest_size=16).digest()

    def admit(self, client: str, user_agent: str | None, item_id: str) -> bool:
        """True when this request is a view to count. Synchronous (no await), so concurrent requests
        in one event loop cannot both be admitted for the same client and item."""
        if is_bot(user_agent):
            return False
        now = self.monotonic()
        if now - self._key_born >= self.key_lifetime_s:
            self._key, self._key_born = os.urandom(32), now
            self._seen.clear()
        # Entries were added in time order with the same window, so the expired ones are in front.
        while self._seen:
            oldest, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[oldest]
        digest = self._digest(client, user_agent or "", item_id)
        if digest in self._seen:
            return False
        self._seen[digest] = now + self.window_s
        while len(self._seen) > self.max_remembered:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)


def format_count(count: int) -> str:
    """Compact count as the page shows it: 999, 1.2k, 12k, 1.2M."""
    if count < 1000:
        return str(count)
    for divisor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= divisor:
            value = count / divisor
            if value >= 999.5 and suffix == "k":
                return format_count(1_000_000 if count < 1_000_000 else count)
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + suffix
    return str(count)
