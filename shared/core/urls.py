"""Canonical URLs and article identity.

One article reached through a feed link, a share link with tracking parameters, an AMP page or a
mobile host must get one canonical URL and therefore one article id. The rules are explicit here
(and tested) rather than delegated wholesale: courlan's tracker pattern is broad enough to drop
content parameters such as ``cid`` or ``source`` that some news sites use as article keys, so only
courlan's input scrubbing (stray markup, ``&amp;``, whitespace, CDATA) is reused.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import idna
from courlan.clean import scrub_url

from shared.events import stable_id

# Query parameters that only say how a reader arrived, never which article it is.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # ad click ids
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "vero_id",
        "wickedid",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "ncid",
        "cmpid",
        "icid",
        "ocid",
        # referral / share markers (English and Chinese sites)
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "source",
        "share",
        "share_token",
        "shareid",
        "from",
        "spm",
        "scm",
        "spm_id_from",
        "share_source",
        "share_medium",
        "share_from",
        "sharefrom",
        "tt_from",
        "wfr",
        "isappinstalled",
        "timestamp",
        "wxshare_count",
        "scene",
        "clicktime",
        "enterid",
        "sessionid",
        "sr_share",
        "smid",
        "cmp",
        "taid",
        "xtor",
        "mbid",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "rss",
        "rss_id",
        "feature",
        "chksm",
        "srcid",
        "amp",
        "amp_js_v",
        "usqp",
        "_amp",
        "__twitter_impression",
    }
)
# Prefixes of tracking parameter families (utm_source, utm_medium, pk_campaign, …).
TRACKING_PREFIXES: tuple[str, ...] = (
    "utm_",
    "pk_",
    "mtm_",
    "matomo_",
    "hsa_",
    "itm_",
    "ga_",
    "ss_",
    "sharer_",
)
# Parameters that select an AMP rendition (?output=amp) and otherwise may carry meaning.
AMP_SWITCH_PARAMS: frozenset[str] = frozenset({"output", "outputtype", "format"})
# Host prefixes of mobile and AMP mirrors of the same site.
MIRROR_HOST_PREFIXES: tuple[str, ...] = ("amp.", "m.", "mobile.", "wap.", "www.")
DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}
# AMP renditions of a page: a trailing /amp segment (/amp, /amp/, /amp.html) or story.amp.html.
_AMP_SEGMENT = re.compile(r"/amp(?:\.html?)?$", re.IGNORECASE)
_AMP_EXTENSION = re.compile(r"\.amp(\.html?)$", re.IGNORECASE)
# Characters kept unescaped in a canonical path (RFC 3986 pchar, minus what must be escaped).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = ":@!$'()*+,;/?-._~"


class InvalidURLError(ValueError):
    """The text is not an absolute http(s) URL."""


def _is_tracking(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in AMP_SWITCH_PARAMS:
        return value.lower() == "amp"
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _canonical_host(host: str) -> str:
    host = host.strip(".").lower()
    # Strip mirror prefixes repeatedly (m.www.example.com) but never down to a bare suffix.
    stripped = True
    while stripped:
        stripped = False
        for prefix in MIRROR_HOST_PREFIXES:
            rest = host[len(prefix) :]
            if host.startswith(prefix) and "." in rest:
                host = rest
                stripped = True
    try:
        # IDNA 2008 with UTS 46 mapping: one ASCII form for Unicode and punycode spellings.
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        try:
            return host.encode("idna").decode("ascii")  # IDNA 2003 accepts some legacy names
        except UnicodeError as exc:
            raise InvalidURLError(f"host is not a valid domain name: {host!r}") from exc


def _canonical_path(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path)
    path = _AMP_SEGMENT.sub("", path.rstrip("/")).rstrip("/")
    path = _AMP_EXTENSION.sub(r"\1", path)
    # Re-quote so that percent-encoded and literal spellings (中文 vs %E4%B8%AD%E6%96%87) agree.
    return quote(unquote(path), safe=_PATH_SAFE) or ""


def canonical_url(url: str) -> str:
    """The one spelling of an article URL used for identity and exact-match clustering.

    Lower-cases scheme and host, maps the host to its ASCII IDNA form, drops default ports,
    ``www.``/``m.``/``mobile.``/``amp.`` host prefixes, fragments, trailing slashes, AMP path
    suffixes and tracking parameters (utm_*, fbclid, gclid, spm, from, …), and sorts the
    remaining query parameters. ``http`` is mapped to ``https``: news sites serve one article
    on both, and a feed that still links ``http://`` must not create a second article.
    Raises InvalidURLError for anything that is not an absolute http(s) URL.
    """
    text = scrub_url(url.strip())
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidURLError(f"not an absolute http(s) URL: {url!r}")
    host = _canonical_host(parts.hostname)
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"bad port in URL: {url!r}") from exc
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    # userinfo (user:password@) is dropped: it never identifies an article.
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(name, value)
    ]
    query.sort()
    query_text = urlencode(query, quote_via=quote, safe=_QUERY_SAFE)
    return urlunsplit(("https", netloc, _canonical_path(parts.path), query_text, ""))


def article_id(url: str) -> str:
    """Stable article id: a hash of the canonical URL (so every spelling of a link agrees)."""
    return stable_id("article", canonical_url(url))
