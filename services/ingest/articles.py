"""From a feed entry (and, for teasers, the article page) to an ``Article``: canonical URL and id,
plain-text summary and body, language, published time. Pure: no I/O, ``now`` passed in.

Text that is not the article's is left out: control characters and terminal escapes (a broken or
hostile feed's ESC in a title reached the operator's console and every page), and an aggregator's
metadata-only description ("Score: 233 / Comments: 97 / By: … / Discussion: …", every Hacker News
entry): it became the story's summary. Its counters are read into ``engagement`` by the feed
parser; the article then has no summary, and analysis says there is no sentence to summarise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from shared.core.extraction import ExtractedArticle, html_to_text
from shared.core.feeds import FeedEntry, clean_text, is_metadata_only, one_line
from shared.core.language import detect_article_language
from shared.core.timeparse import BEIJING, parse_published
from shared.core.urls import InvalidURLError, canonical_url
from shared.events import Article, Language, stable_id
from shared.sources import Source

SUMMARY_MAX_CHARS = 1200
UTC = timezone.utc  # noqa: UP017 - one spelling with timeparse's tz objects
LEAD_CHARS = 500


@dataclass(frozen=True)
class Identity:
    url: str
    canonical_url: str
    article_id: str


def identify(url: str) -> Identity:
    """Canonical URL and article id; a non-web URL (a local file feed's relative link) keeps its
    own spelling as identity rather than being refused."""
    try:
        canonical = canonical_url(url)
        # article_id(url), without canonicalising the URL a second time (every entry of every poll).
        return Identity(url, canonical, stable_id("article", canonical))
    except InvalidURLError:
        return Identity(url, url, stable_id("article", url))


def source_timezone(source: Source) -> timezone:
    # Chinese sites write Beijing time without a zone.
    return BEIJING if source.language == "zh" else UTC


def build_article(
    source: Source,
    entry: FeedEntry,
    identity: Identity,
    now: datetime,
    *,
    page: ExtractedArticle | None = None,
    teaser: bool = False,
    feed_language: str | None = None,
) -> Article:
    summary_source = entry.summary_html or (entry.content_html if teaser else None)
    summary = _prose(summary_source)[:SUMMARY_MAX_CHARS] if summary_source else None
    body: str | None
    page_text = clean_text(page.text).strip() if page is not None else ""
    feed_text = _prose(entry.content_html or entry.summary_html or "") if not teaser else ""
    if page_text:
        body, origin = page_text, "page"
    elif feed_text:
        body, origin = feed_text, "feed"
    else:
        body, origin = None, "none"
    if body is not None and summary and summary.strip() == body.strip():
        summary = None
    title = one_line(entry.title) or (one_line(page.title) if page and page.title else "")
    published = entry.published
    if published is None and page is not None and page.published:
        published = parse_published(page.published, now, source_timezone(source))
    language = article_language(title, summary, body, source.language, feed_language)
    return Article(
        article_id=identity.article_id,
        source_id=source.id,
        source_name=source.name,
        source_weight=source.weight,
        url=identity.url,
        canonical_url=identity.canonical_url,
        title=title,
        summary=summary or None,
        body=body or None,
        language=language,
        published_at=published,
        fetched_at=now,
        author=one_line(entry.author or (page.author if page else None)) or None,
        engagement=entry.engagement,
        body_origin=origin,  # type: ignore[arg-type]
        translate_body=source.translate_body,
    )


def _prose(html: str) -> str:
    """The article's own text from an entry's HTML: without control characters (cleaned before
    the HTML parser sees them: lxml returns no text at all for a fragment with an ESC in it), and
    empty when every line is an aggregator's "Label: value" metadata (no sentence of its own)."""
    text = clean_text(html_to_text(clean_text(html))).strip()
    return "" if is_metadata_only(text) else text


def article_language(
    title: str,
    summary: str | None,
    body: str | None,
    hint: str | None,
    feed_language: str | None = None,
) -> Language:
    """Detected from the text, the body before the title (see ``detect_article_language``); the
    source's configured language, then the feed's declared one, decide only what the text cannot."""
    text = " ".join(part for part in ((summary or "")[:300], (body or "")[:500]) if part)
    return detect_article_language(title, text, configured=hint, declared=feed_language)


def lead_of(article: Article) -> str:
    """The start of the article's text, for the clustering. An aggregator's entry that carries only
    "Score: … / By: … / Discussion: …" has no lead: the same labels in every entry of the feed
    would make unrelated stories embed alike (one real pass merged seven Hacker News stories)."""
    text = article.body or article.summary or ""
    return "" if is_metadata_only(text) else text[:LEAD_CHARS]
