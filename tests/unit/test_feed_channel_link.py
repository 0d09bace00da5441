"""Issue 13.11: the RSS <channel><link> is the site (RSS 2.0: "the URL to the HTML website
corresponding to the channel"), not the feed itself; the feed's own URL is the atom:link self."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from services.publish.feeds import FeedContext, render_feed
from services.publish.queries import ItemSummary
from tests.support.items import as_document, sample_items

SITE = "http://news.example.org"
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
ATOM = "http://www.w3.org/2005/Atom"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_rss_channel_link_is_the_site_and_self_is_the_feed(language: str) -> None:
    items = [ItemSummary.from_document(as_document(i)) for i in sample_items(NOW)]
    feed_url = f"{SITE}/feeds/{language}.rss"
    ctx = FeedContext(language=language, site_url=SITE, feed_url=feed_url, updated_fallback=NOW)  # type: ignore[arg-type]
    body, _media_type = render_feed(items, ctx, "rss")
    channel = etree.fromstring(body).find("channel")
    assert channel is not None
    assert channel.findtext("link") == SITE + "/"
    selves = [link.get("href") for link in channel.findall(f"{{{ATOM}}}link") if link.get("rel") == "self"]
    assert selves == [feed_url]
