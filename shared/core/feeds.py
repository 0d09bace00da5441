"""Feed parsing: RSS/Atom (feedparser), JSON Feed, HTML list pages (CSS selectors) and JSON APIs
(field mapping), all to one list of ``FeedEntry``. Pure: bytes in, entries out (``now`` passed in
for relative dates).

Encodings are settled here before feedparser sees the bytes: sites declare UTF-8 and send GBK,
or declare GB2312 and use GBK/GB18030 characters; feedparser's own fallback (windows-1252) turns
such Chinese text into mojibake without an error. The bytes are decoded with the first encoding
that decodes them strictly (source override, HTTP charset, XML declaration, UTF-8), else with
charset-normalizer's guess, and handed to feedparser as UTF-8.

feedparser sanitises entry HTML (scripts, event handlers and styles are removed); entries of the
other kinds are plain values and go through the same HTML-to-text step later.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from charset_normalizer import from_bytes

from shared.core.control_chars import without_escape_sequences, without_not_text
from shared.core.extraction import html_to_text
from shared.core.timeparse import parse_published, plausible
from shared.events import Engagement
from shared.sources import HtmlListSelectors, JsonApiMapping

# Encodings whose superset decodes the same bytes plus what sites really send.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "x-euc-tw": "big5hkscs",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "utf8": "utf-8",
}
_SINGLE_BYTE = frozenset({"cp1252", "windows-1252", "iso-8859-15", "cp1251", "koi8-r"})
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_XML_DECL_TEXT = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._:-]+)([\"'])")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
# Text that ends a teaser: "…", "...", "[…]", "Read more", "阅读全文", "查看全文".
_TEASER_END = re.compile(
    r"(\.\.\.|…|\[…\]|\[\.\.\.\]|read more|continue reading|阅读全文|查看全文|阅读原文|更多)\s*$",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Weighted text length under which an entry is a teaser (a CJK character counts as three).
TEASER_MAX_WEIGHTED_CHARS = 350


class FeedParseError(ValueError):
    """Nothing usable could be read; the message is the reason (it goes to the dead letter)."""


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str
    summary_html: str | None = None
    content_html: str | None = None
    published: datetime | None = None
    author: str | None = None
    engagement: Engagement | None = None
    guid: str | None = None


@dataclass
class ParsedFeed:
    title: str | None
    entries: list[FeedEntry]
    encoding: str
    warnings: list[str] = field(default_factory=list)
    # The language the feed declares (RSS <language>, Atom xml:lang, JSON Feed "language"), as
    # written; a hint for language detection of short entries (h16a).
    language: str | None = None


def normalise_encoding(name: str | None) -> str | None:
    if not name:
        return None
    lowered = name.strip().lower().replace("_", "-")
    lowered = _SUPERSETS.get(lowered, lowered)
    try:
        import codecs

        codecs.lookup(lowered)
    except LookupError:
        return None
    return lowered


def decode_bytes(raw: bytes, declared: str | None = None, override: str | None = None) -> tuple[str, str]:
    """Text and the encoding that produced it (see the module docstring for the order)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace"), "utf-16"
    in_document = _XML_DECL.match(raw) or _META_CHARSET.search(raw[:4096])
    candidates: list[str] = []
    for name in (override, declared, in_document.group(1).decode("ascii") if in_document else None, "utf-8"):
        encoding = normalise_encoding(name)
        if encoding is None or encoding in candidates:
            continue
        if encoding in _SINGLE_BYTE and "utf-8" not in candidates and name is not override:
            # A single-byte codec decodes anything; UTF-8 declared as latin-1 is the common lie.
            candidates.append("utf-8")
        candidates.append(encoding)
    for encoding in candidates:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    best = from_bytes(raw).best()
    if best is not None and best.encoding:
        return str(best), normalise_encoding(best.encoding) or best.encoding
    return raw.decode("utf-8", errors="replace"), "utf-8 (with replacement characters)"


def clean_text(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tabs and line breaks
    kept)."""
    # NEL (U+0085) is a line break in old encodings: kept as one, the other controls go.
    return without_not_text(without_escape_sequences(text).replace("\x85", "\n"))


def one_line(text: object) -> str:
    """A title or name from a feed: clean (``clean_text``), on one line, spaces collapsed."""
    return " ".join(clean_text(str(text or "")).split())


def html_text_length(html: str | None) -> int:
    """Weighted visible-text length of an HTML fragment (a CJK character counts as three)."""
    text = plain_text(html)
    return len(text) + 2 * len(_CJK.findall(text))


def plain_text(html: str | None) -> str:
    if not html or not html.strip():
        return ""
    try:
        fragment = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return html.strip()
    return " ".join(fragment.text_content().split())


# "Score: 3421", "By: someone", "Discussion: https://…", "作者：某人", "# Comments: 45" (hnrss):
# a label and one value.
_METADATA_LINE = re.compile(r"^(?:#\s?)?[^\W\d_][\w .'-]{0,24}[:：]\s*\S+$")
_COUNTER_LINE = re.compile(
    r"^(?:#\s?)?([^\W\d_][\w .'-]{0,24}?)\s*[:：]\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)$"
)
# A counter above this is not a real one (and would not fit MongoDB's 64-bit integers).
MAX_COUNT = 10**12
# Which Engagement field an aggregator's counter is: votes are the readers' likes.
_COUNTER_FIELDS = {
    "score": "likes",
    "points": "likes",
    "votes": "likes",
    "upvotes": "likes",
    "likes": "likes",
    "comments": "comments",
    "views": "views",
    "评论": "comments",
    "点赞": "likes",
    "阅读": "views",
}


def is_metadata_only(text: str) -> bool:
    """True when every line of ``text`` is a "Label: value" pair (an aggregator's score, author and
    discussion link): the entry carries no prose of its own."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and all(_METADATA_LINE.match(line) for line in lines)


def feed_count(value: object) -> int | None:
    """A feed's counter ("1,022", 45) as an int; None for anything else (unicode digits such as
    "²", negative or absurd numbers)."""
    text = str(value).replace(",", "").strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    count = int(text)
    return count if count <= MAX_COUNT else None


def counters_engagement(text: str) -> Engagement | None:
    """The counters of an aggregator's metadata-only entry ("Score: 3421 / Comments: 1022", hnrss's
    "Points: 120 / # Comments: 45") as engagement. Prose is never read for numbers: only a text
    whose every line is a "Label: value" pair (``is_metadata_only``) counts."""
    if not is_metadata_only(text):
        return None
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = _COUNTER_LINE.match(line.strip())
        field = _COUNTER_FIELDS.get(match.group(1).strip().lower()) if match else None
        count = feed_count(match.group(2)) if match else None
        if field and count is not None and field not in found:
            found[field] = count
    return Engagement(**found) if found else None


def is_teaser(entry: FeedEntry) -> bool:
    """True when the feed carries only a teaser: the article page has the body."""
    best = max((entry.content_html or "", entry.summary_html or ""), key=html_text_length)
    if html_text_length(best) < TEASER_MAX_WEIGHTED_CHARS:
        return True
    return bool(_TEASER_END.search(plain_text(best)))


def parse_feed(
    raw: bytes,
    kind: str,
    *,
    base_url: str,
    now: datetime,
    declared_encoding: str | None = None,
    encoding_override: str | None = None,
    assume_tz: tzinfo = UTC,
    html_list: HtmlListSelectors | None = None,
    json_api: JsonApiMapping | None = None,
) -> ParsedFeed:
    """Entries of one fetched feed/page/API answer. Raises FeedParseError when nothing is usable."""
    if not raw.strip():
        raise FeedParseError("empty response body")
    text, encoding = decode_bytes(raw, declared_encoding, encoding_override)
    stripped = text.lstrip()
    if kind == "jsonfeed" or (kind in ("rss", "atom") and stripped.startswith("{")):
        parsed = _parse_json_feed(text, base_url, now, assume_tz)
    elif kind == "json_api":
        if json_api is None:
            raise FeedParseError("json_api source without a field mapping")
        parsed = _parse_json_api(text, json_api, base_url, now, assume_tz)
    elif kind == "html_list":
        if html_list is None:
            raise FeedParseError("html_list source without selectors")
        parsed = _parse_html_list(text, html_list, base_url, now, assume_tz)
    else:
        parsed = _parse_xml_feed(text, base_url, now, assume_tz)
    parsed.encoding = encoding
    return parsed


# --- RSS / Atom -------------------------------------------------------------------------------


def _parse_xml_feed(text: str, base_url: str, now: datetime, assume_tz: tzinfo) -> ParsedFeed:
    # The text is already decoded: tell feedparser it is UTF-8, in the declaration too.
    utf8_text = _XML_DECL_TEXT.sub(r"\g<1>utf-8\g<3>", text, count=1)
    document = feedparser.parse(
        utf8_text.encode("utf-8"),
        response_headers={"content-type": "application/xml; charset=utf-8", "content-location": base_url},
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    warnings: list[str] = []
    problem = document.get("bozo_exception") if document.get("bozo") else None
    if problem is not None and not isinstance(problem, feedparser.CharacterEncodingOverride):
        warnings.append(f"malformed feed recovered by the lenient parser: {_describe(problem)}")
    entries: list[FeedEntry] = []
    skipped = 0
    for raw_entry in document.entries:
        entry = _xml_entry(raw_entry, base_url, now, assume_tz)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    if skipped:
        warnings.append(f"{skipped} entries without a usable link or title were skipped")
    if not entries:
        if not document.get("version") and not document.entries:
            detail = f" ({_describe(problem)})" if problem is not None else ""
            raise FeedParseError(f"not an RSS/Atom feed: no feed root element found{detail}")
        if problem is not None:
            raise FeedParseError(f"malformed feed with no usable entries: {_describe(problem)}")
        if skipped:
            raise FeedParseError(f"feed has {skipped} entries and none has a usable link and title")
    feed_title = document.feed.get("title") if document.get("feed") else None
    feed_language = document.feed.get("language") if document.get("feed") else None
    return ParsedFeed(
        title=feed_title, entries=entries, encoding="utf-8", warnings=warnings, language=feed_language
    )


def _describe(error: BaseException) -> str:
    line = getattr(error, "getLineNumber", None)
    where = f" at line {line()}" if callable(line) else ""
    return f"{type(error).__name__}: {error}{where}"


def _xml_entry(raw: Any, base_url: str, now: datetime, assume_tz: tzinfo) -> FeedEntry | None:
    link = raw.get("link") or _first_alternate(raw)
    guid = raw.get("id")
    if not link and guid and str(guid).startswith(("http://", "https://")):
        link = guid
    title = one_line(raw.get("title"))
    if not link:
        return None
    url = _absolute(link, base_url)
    if url is None:
        return None
    contents = raw.get("content") or []
    content_html = max((c.get("value") or "" for c in contents), key=len, default="") or None
    summary_html = raw.get("summary") or None
    if summary_html and content_html and plain_text(summary_html) == plain_text(content_html):
        summary_html = None if len(contents) else summary_html
    if not title:
        title = one_line(plain_text(clean_text(summary_html or content_html or "")))[:120]
    if not title:
        return None
    published = None
    for key in ("published", "updated", "created"):
        if raw.get(key):
            published = parse_published(raw.get(key), now, assume_tz)
        if published is None and raw.get(f"{key}_parsed"):
            published = plausible(datetime.fromtimestamp(calendar.timegm(raw[f"{key}_parsed"]), UTC), now)
        if published is not None:
            break
    comments = feed_count(raw.get("slash_comments") or "")
    engagement = counters_engagement(html_to_text(summary_html or content_html or ""))
    if comments is not None:
        engagement = (engagement or Engagement()).model_copy(update={"comments": comments})
    return FeedEntry(
        url=url,
        title=title,
        summary_html=summary_html,
        content_html=content_html,
        published=published,
        author=raw.get("author") or None,
        engagement=engagement,
        guid=str(guid) if guid else None,
    )


def _first_alternate(raw: Any) -> str | None:
    for link in raw.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None


def _absolute(link: str, base_url: str) -> str | None:
    url = urljoin(base_url, link.strip())
    if urlsplit(url).scheme not in ("http", "https"):
        # javascript:, mailto:, data: links are not articles, and a file: link (or a relative link
        # in a local feed) must never make the fetcher read the disk: remote content names no file.
        return None
    return url


# --- JSON Feed --------------------------------------------------------------------------------


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedParseError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def _parse_json_feed(text: str, base_url: str, now: datetime, assume_tz: tzinfo) -> ParsedFeed:
    document = _load_json(text)
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise FeedParseError("not a JSON Feed: no 'items' list")
    version = str(document.get("version", ""))
    warnings = [] if "jsonfeed.org" in version else [f"unexpected JSON Feed version {version!r}"]
    feed_base = str(document.get("home_page_url") or base_url)
    entries: list[FeedEntry] = []
    skipped = 0
    for item in document["items"]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        link = item.get("url") or item.get("external_url")
        title = one_line(item.get("title"))
        content_html = item.get("content_html") or _text_as_html(item.get("content_text"))
        summary_html = _text_as_html(item.get("summary"))
        if not title:
            title = one_line(plain_text(clean_text(summary_html or content_html or "")))[:120]
        url = _absolute(str(link), urljoin(base_url, feed_base)) if link else None
        if url is None or not title:
            skipped += 1
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        author = (
            ", ".join(str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")) or None
        )
        published = parse_published(item.get("date_published") or item.get("date_modified"), now, assume_tz)
        entries.append(
            FeedEntry(
                url=url,
                title=title,
                summary_html=summary_html,
                content_html=content_html,
                published=published,
                author=author,
                guid=str(item.get("id") or "") or None,
            )
        )
    if skipped:
        warnings.append(f"{skipped} items without a usable url or title were skipped")
    if not entries and document["items"]:
        raise FeedParseError(f"JSON Feed has {len(document['items'])} items and none has a url and title")
    language = document.get("language") if isinstance(document.get("language"), str) else None
    return ParsedFeed(
        title=document.get("title"), entries=entries, encoding="utf-8", warnings=warnings, language=language
    )


def _text_as_html(value: object) -> str | None:
    if not value:
        return None
    import html

    paragraphs = [p.strip() for p in str(value).split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) or None


# --- JSON API ---------------------------------------------------------------------------------


def json_path(document: Any, path: str | None) -> Any:
    """Value at a dotted path (``data.items``, ``stats.views``, ``authors.0.name``); None if absent."""
    if path is None:
        return None
    value = document
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        cleaned = value.replace(",", "").strip()
        multiplier = 1
        if cleaned.endswith("万"):  # 1.2万 = 12,000 (Chinese sites abbreviate counts)
            cleaned, multiplier = cleaned[:-1], 10_000
        elif cleaned[-1:].lower() == "k":
            cleaned, multiplier = cleaned[:-1], 1_000
        try:
            return int(float(cleaned) * multiplier)
        except ValueError:
            return None
    return None


def _parse_json_api(
    text: str, mapping: JsonApiMapping, base_url: str, now: datetime, assume_tz: tzinfo
) -> ParsedFeed:
    document = _load_json(text)
    items = json_path(document, mapping.items) if mapping.items else document
    if not isinstance(items, list):
        raise FeedParseError(f"JSON API: path {mapping.items or '(root)'!r} is not a list")
    entries: list[FeedEntry] = []
    skipped = 0
    for position, item in enumerate(items, start=1):
        link = json_path(item, mapping.url)
        title = one_line(json_path(item, mapping.title))
        url = _absolute(str(link), base_url) if link else None
        if url is None or not title:
            skipped += 1
            continue
        rank = _as_int(json_path(item, mapping.rank)) if mapping.rank else position
        engagement = Engagement(
            rank=rank,
            views=_as_int(json_path(item, mapping.views)),
            comments=_as_int(json_path(item, mapping.comments)),
            likes=_as_int(json_path(item, mapping.likes)),
        )
        summary = json_path(item, mapping.summary)
        content = json_path(item, mapping.content)
        author = json_path(item, mapping.author)
        entries.append(
            FeedEntry(
                url=url,
                title=title,
                summary_html=_maybe_html(summary),
                content_html=_maybe_html(content),
                published=parse_published(json_path(item, mapping.published), now, assume_tz),
                author=str(author) if author else None,
                engagement=engagement,
            )
        )
    warnings = [f"{skipped} items without a url or title were skipped"] if skipped else []
    if not entries and items:
        raise FeedParseError(f"JSON API: {len(items)} items and none maps to a url and title")
    return ParsedFeed(title=None, entries=entries, encoding="utf-8", warnings=warnings)


def _maybe_html(value: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    return text if "<" in text and ">" in text else _text_as_html(text)


# --- HTML list page ---------------------------------------------------------------------------


def _parse_html_list(
    text: str, selectors: HtmlListSelectors, base_url: str, now: datetime, assume_tz: tzinfo
) -> ParsedFeed:
    try:
        root = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise FeedParseError(f"unreadable HTML list page: {exc}") from exc
    base = root.xpath("string(//base/@href)") or base_url
    try:
        items = root.cssselect(selectors.item)
    except Exception as exc:  # cssselect raises its own SelectorSyntaxError family
        raise FeedParseError(f"bad CSS selector {selectors.item!r}: {exc}") from exc
    if not items:
        raise FeedParseError(f"the item selector {selectors.item!r} matched nothing (page layout changed?)")
    entries: list[FeedEntry] = []
    skipped = 0
    for position, item in enumerate(items, start=1):
        link_element = _select_one(item, selectors.link)
        if link_element is None and item.tag == "a":
            link_element = item
        href = link_element.get("href") if link_element is not None else None
        title_element = _select_one(item, selectors.title) if selectors.title else link_element
        title = one_line(title_element.text_content()) if title_element is not None else ""
        url = _absolute(href, urljoin(base_url, str(base))) if href else None
        if url is None or not title:
            skipped += 1
            continue
        summary_element = _select_one(item, selectors.summary) if selectors.summary else None
        summary_html = (
            lxml.html.tostring(summary_element, encoding="unicode") if summary_element is not None else None
        )
        published = None
        time_element = _select_one(item, selectors.published) if selectors.published else None
        if time_element is not None:
            published = parse_published(
                time_element.get("datetime") or time_element.get("title") or time_element.text_content(),
                now,
                assume_tz,
            )
        author_element = _select_one(item, selectors.author) if selectors.author else None
        author = one_line(author_element.text_content()) if author_element is not None else None
        entries.append(
            FeedEntry(
                url=url,
                title=title,
                summary_html=summary_html,
                published=published,
                author=author or None,
                engagement=Engagement(rank=position),
            )
        )
    warnings = [f"{skipped} list items without a link or title were skipped"] if skipped else []
    if not entries:
        raise FeedParseError(f"{len(items)} list items matched and none has a link and title")
    page_title = root.xpath("string(//title)").strip() or None
    return ParsedFeed(title=page_title, entries=entries, encoding="utf-8", warnings=warnings)


def _select_one(element: Any, selector: str | None) -> Any:
    if not selector:
        return None
    try:
        found = element.cssselect(selector)
    except Exception as exc:
        raise FeedParseError(f"bad CSS selector {selector!r}: {exc}") from exc
    return found[0] if found else None
