"""Stored text made fit to show: without the control characters a hostile or broken feed can carry.

A title with an ESC or a vertical tab (both came through ingest from a real malformed feed) shows as
a box on the page and is not allowed in XML at all: feedgen refuses the whole feed (one item's title
took every RSS and Atom feed down with a 500). Tabs and line breaks are kept; so are zero-width
joiners and bidi characters, which real text needs (the page isolates each text with dir="auto").
"""

from __future__ import annotations

import re

from markupsafe import Markup

from shared.core.control_chars import BIDI_CONTROLS, ZERO_WIDTH, without_not_text

# Bidi controls and zero-width characters: kept in the page's text, but not in a document <title>,
# which has no markup to isolate them.
_INVISIBLE = re.compile(f"[{ZERO_WIDTH}{BIDI_CONTROLS}]")


def showable(text: str) -> str:
    """``text`` without control characters (valid in XML 1.0, nothing invisible left to render)."""
    return without_not_text(text)


def plain_title(text: str) -> str:
    """Text for a document <title>: showable and without bidi controls or zero-width characters."""
    return _INVISIBLE.sub("", showable(text))


def finalize_output(value: object) -> object:
    """Jinja's ``finalize``: every string a template prints is made showable first (markup built
    by the templates themselves stays markup; it is made of already-showable pieces)."""
    if isinstance(value, Markup):
        return Markup(showable(str(value)))
    if isinstance(value, str):
        return showable(value)
    return value
