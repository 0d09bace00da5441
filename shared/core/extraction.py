"""Article extraction from fetched HTML pages and feed summaries (pure: no network, no disk).

``extract_article`` is the one function the ingest service uses for an article body; the
benchmark in ``bench/extraction.py`` measures exactly this function (see ``bench/README.md``
for the measured numbers and why these options were chosen).

Strategy (trafilatura 2.3.1 with its own readability/jusText fallbacks):
1. trafilatura in precision mode, comments excluded: the best single configuration.
2. When that result is short and less than half of what trafilatura's balanced mode finds,
   take the balanced result: precision mode skips the baseline rescue, so on a page whose
   main container holds only a notice (reprint terms, a paywall blurb) it returns that notice.
3. Before extracting, article bodies split by ad rows into several containers with the same
   class are joined, because trafilatura keeps only the first matching container.
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import charset_normalizer
import lxml.html
import trafilatura
from lxml.etree import ParserError, XPath, _Element
from lxml.html import HtmlElement
from trafilatura.xml import xmltotxt

LOGGER = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

# Labels browsers treat as a superset encoding (WHATWG Encoding Standard): decoding with the
# superset keeps the characters a mislabelled page really uses (GBK on "gb2312" pages, cp1252
# quotes on "iso-8859-1" pages, HKSCS on "big5" pages).
_SUPERSET_CODECS: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "utf8": "utf-8",
}

# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# Pages put the declaration late more often than the HTML spec's 1,024-byte prescan allows.
_META_PRESCAN_BYTES = 16_384


def normalise_encoding(label: str | None) -> str | None:
    """A Python codec name for a charset label (superset for legacy labels), None if unknown."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").lower()
    cleaned = _SUPERSET_CODECS.get(cleaned, cleaned)
    try:
        name = codecs.lookup(cleaned).name
    except LookupError:
        return None
    return _SUPERSET_CODECS.get(name, name)


@functools.lru_cache(maxsize=64)
def _is_single_byte(codec: str) -> bool:
    """True for codecs mapping each byte to one character: any byte string decodes with them,
    so a clean decode says nothing about whether the label is right."""
    if codec.startswith(("utf-", "utf_")):
        return False
    high_bytes = bytes(range(0x80, 0x100))
    return len(high_bytes.decode(codec, errors="replace")) == len(high_bytes)


def _meta_charset(raw: bytes) -> str | None:
    match = _META_CHARSET_RE.search(raw[:_META_PRESCAN_BYTES])
    return match.group(1).decode("ascii", "ignore") if match else None


def decode_html(raw: bytes, declared_encoding: str | None = None) -> str:
    """Decode a fetched page: BOM, then valid UTF-8, then the declared charsets, then detection.

    ``declared_encoding`` is the charset of the HTTP Content-Type header, if any. Valid UTF-8
    wins over a declaration because text in another multi-byte encoding is almost never valid
    UTF-8 by accident, while "utf-8" or "iso-8859-1" labels on GBK/Big5 pages are common.
    A declared multi-byte charset is used only if the bytes decode cleanly with it; otherwise
    the encoding is detected (charset_normalizer), and bytes that fit nothing are replaced.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return raw[len(bom) :].decode(codec, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass

    declared = [
        c for c in (normalise_encoding(declared_encoding), normalise_encoding(_meta_charset(raw))) if c
    ]
    single_byte_declared: str | None = None
    for codec in declared:
        if codec == "utf-8":
            continue  # already failed above
        if _is_single_byte(codec):
            single_byte_declared = single_byte_declared or codec
            continue
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            LOGGER.debug("declared charset %s does not fit the bytes", codec)

    best = charset_normalizer.from_bytes(raw).best()
    detected = normalise_encoding(best.encoding) if best is not None else None
    if detected is not None and (single_byte_declared is None or not _is_single_byte(detected)):
        # A detected multi-byte encoding beats a single-byte label (e.g. GBK served as latin-1).
        return raw.decode(detected, errors="replace")
    return raw.decode(single_byte_declared or "utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Feed summaries
# ---------------------------------------------------------------------------------------------

_DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "head",
)
# Blocks become paragraphs (a blank line around them); rows and list items become lines.
_PARAGRAPH_TAGS = frozenset(
    "address article aside blockquote div dl figcaption figure footer h1 h2 h3 h4 h5 h6 header "
    "hr main nav ol p pre section table ul".split()
)
_LINE_TAGS = frozenset("dd dt li tr".split())
_INLINE_SPACE_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (a feed summary): no scripts or styles, entities decoded,
    spaces collapsed, paragraphs separated by a blank line, list items and <br> as lines."""
    if not fragment or not fragment.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return ""
    for element in list(root.iter(*_DROPPED_TAGS)):
        element.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions carry no text content
        tag = element.tag.lower()
        if tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif tag in _PARAGRAPH_TAGS:
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
        elif tag in _LINE_TAGS:
            element.tail = "\n" + (element.tail or "")
        elif tag in ("td", "th"):
            element.tail = " " + (element.tail or "")
    text = root.text_content().replace("\r", "\n")
    lines = [_INLINE_SPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


# ---------------------------------------------------------------------------------------------
# Article bodies
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractorSettings:
    """Options of ``extract_article``; the defaults are the measured best (bench/README.md)."""

    favor_precision: bool = True
    favor_recall: bool = False  # only used when favor_precision is off
    fast: bool = False  # True skips trafilatura's readability/jusText comparison
    include_tables: bool = True
    include_comments: bool = False
    # Step 2 of the module docstring: fall back to the balanced mode when the precision
    # result is shorter than short_text_chars and than fallback_ratio x the balanced result.
    balanced_fallback: bool = True
    short_text_chars: int = 1_000
    fallback_ratio: float = 0.5
    # Step 3: join an article body split into same-class containers.
    merge_split_bodies: bool = True
    # Below this many characters a result is not an article (trafilatura's own minimum).
    min_text_chars: int = 50

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_SETTINGS = ExtractorSettings()


@dataclass(frozen=True)
class ExtractedArticle:
    """The main text of a page and what the page says about itself."""

    text: str  # plain text, paragraphs separated by a blank line, list items one per line
    title: str | None = None
    author: str | None = None
    published: str | None = None  # ISO date (YYYY-MM-DD) found in the page, if any
    language: str | None = None  # primary tag the page declares (<html lang>), a hint only
    method: str = ""  # which trafilatura mode produced the text: "precision", "balanced", "recall"


# Containers that hold an article body (class/itemprop vocabulary shared by common CMSs).
_BODY_CLASS_TOKEN = (
    r"(^|\s)(article[-_]{0,2}body|articleBody|article[-_]{0,2}content|entry-content|post-content"
    r"|story-body|body__container)(\s|$)"
)
_BODY_CONTAINER_XPATH = XPath(
    "//*[self::div or self::section or self::article]"
    f"[@itemprop='articleBody' or re:test(@class, '{_BODY_CLASS_TOKEN}')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)
# A split article starts with a real chunk of text; a list of teasers does not.
_SPLIT_BODY_MIN_FIRST_CHARS = 500


def _merge_split_bodies(tree: HtmlElement) -> int:
    """Move the content of later same-class article-body containers into the first one.

    Some CMSs cut one article into several sibling containers around ad rows; trafilatura keeps
    only the first. Returns how many containers were merged (0 when the page is not split)."""
    containers: list[HtmlElement] = _BODY_CONTAINER_XPATH(tree)
    if len(containers) < 2:
        return 0
    found = set(containers)
    outermost = [c for c in containers if not any(a in found for a in c.iterancestors())]
    first = outermost[0]
    signature = (first.tag, first.get("class"), first.get("itemprop"))
    same = [c for c in outermost[1:] if (c.tag, c.get("class"), c.get("itemprop")) == signature]
    if not same or len(first.text_content().strip()) < _SPLIT_BODY_MIN_FIRST_CHARS:
        return 0
    for container in same:
        if container.text and container.text.strip():
            loose_text = lxml.html.Element("p")
            loose_text.text = container.text
            first.append(loose_text)
        for child in list(container):
            first.append(child)  # append moves the element (with its tail)
        container.drop_tree()
    return len(same)


def _body_text(body: _Element) -> str:
    """Plain text of trafilatura's body tree: one blank line between top-level blocks."""
    blocks = (xmltotxt(child, include_formatting=False).strip() for child in body)
    return "\n\n".join(block for block in blocks if block)


def _declared_language(tree: HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        return None
    primary = lang.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def _run_trafilatura(
    tree: HtmlElement,
    url: str | None,
    settings: ExtractorSettings,
    *,
    precision: bool,
    metadata: bool,
    now: datetime | None,
) -> Any:
    date_params = None
    if now is not None:
        # htmldate otherwise bounds plausible dates by the wall clock.
        date_params = {"original_date": True, "extensive_search": True, "max_date": now.strftime("%Y-%m-%d")}
    return trafilatura.bare_extraction(
        tree,  # bare_extraction works on its own copy of a tree
        url=url,
        favor_precision=precision,
        favor_recall=settings.favor_recall and not settings.favor_precision,
        fast=settings.fast,
        include_comments=settings.include_comments,
        include_tables=settings.include_tables,
        with_metadata=metadata,
        date_extraction_params=date_params,
    )


def extract_article(
    html: str | bytes,
    url: str | None = None,
    *,
    settings: ExtractorSettings = DEFAULT_SETTINGS,
    now: datetime | None = None,
) -> ExtractedArticle | None:
    """The article body of a page, or None (reason logged) when the page has no article text.

    ``html`` as bytes is decoded with ``decode_html`` (no HTTP charset known); pass a str when
    the caller decoded it with the response's charset. ``now`` bounds plausible publication
    dates; without it trafilatura's date finder uses the current clock.
    """
    if isinstance(html, bytes):
        html = decode_html(html)
    if not html.strip():
        LOGGER.info("no article: empty page %s", url)
        return None
    tree = trafilatura.load_html(html)
    if tree is None:
        LOGGER.info("no article: not parseable as HTML %s", url)
        return None
    if settings.merge_split_bodies and (merged := _merge_split_bodies(tree)):
        LOGGER.debug("joined %d split article-body containers %s", merged, url)

    first = _run_trafilatura(tree, url, settings, precision=settings.favor_precision, metadata=True, now=now)
    text = _body_text(first.body) if first is not None and first.body is not None else ""
    method = "precision" if settings.favor_precision else "recall" if settings.favor_recall else "balanced"
    if settings.favor_precision and settings.balanced_fallback and len(text) < settings.short_text_chars:
        # metadata again only if the first run discarded the page (it returns None then)
        second = _run_trafilatura(tree, url, settings, precision=False, metadata=first is None, now=now)
        balanced = _body_text(second.body) if second is not None and second.body is not None else ""
        if len(text) < settings.fallback_ratio * len(balanced):
            text, method = balanced, "balanced"
            first = first if first is not None else second

    if len(text) < settings.min_text_chars:
        LOGGER.info("no article: extracted text too short (%d chars) %s", len(text), url)
        return None
    return ExtractedArticle(
        text=text,
        title=(first.title or None) if first is not None else None,
        author=(first.author or None) if first is not None else None,
        published=(first.date or None) if first is not None else None,
        language=_declared_language(tree),
        method=method,
    )
