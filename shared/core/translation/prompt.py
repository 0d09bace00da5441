"""What the versioned translate prompt template is filled with: segments delimited as data,
glossary lines, the failures of a previous attempt."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.core.translation.glossary import Glossary, GlossaryEntry
from shared.core.translation.text import LANGUAGE_NAMES

# Tag around every piece of article text in a prompt; the prompt says its content is data.
DATA_TAG = "source_text"


@dataclass(frozen=True)
class Segment:
    """One piece of text to translate: "title", "summary" or "body.N"."""

    id: str
    text: str


_DATA_TAG_IN_TEXT = re.compile(rf"<\s*/?\s*{DATA_TAG}", re.I)


def delimit(segment: Segment) -> str:
    """The segment between data tags; a tag-like string inside the text is defused so the text
    cannot close the data block and pose as instructions."""
    text = _DATA_TAG_IN_TEXT.sub(lambda m: m.group(0).replace("<", "‹"), segment.text)
    return f'<{DATA_TAG} id="{segment.id}">\n{text}\n</{DATA_TAG}>'


def glossary_lines(entries: Sequence[GlossaryEntry], source_language: str, target_language: str) -> str:
    lines = []
    for entry in entries:
        preferred = entry.preferred(target_language)
        sources = " / ".join(t for t in entry.terms(source_language) if t != preferred) or preferred
        lines.append(f"- {sources} → {preferred}")
    return "\n".join(lines)


def translate_prompt_variables(
    segments: Sequence[Segment],
    source_language: str,
    target_language: str,
    glossary: Glossary,
    feedback: Sequence[str] = (),
) -> dict[str, str]:
    """The variables of the translate prompt template for these segments."""
    text = "\n".join(segment.text for segment in segments)
    entries = glossary.entries_in(text, source_language)
    lines = glossary_lines(entries, source_language, target_language)
    feedback_text = ""
    if feedback:
        feedback_text = (
            "A previous translation of these segments failed automatic checks:\n"
            + "\n".join(f"- {item}" for item in feedback)
            + "\nTranslate again and fix every one of these problems."
        )
    return {
        "source_language": LANGUAGE_NAMES[source_language],
        "target_language": LANGUAGE_NAMES[target_language],
        "segment_ids": ", ".join(f'"{segment.id}"' for segment in segments),
        "glossary": lines or "(no glossary terms in this text)",
        "segments": "\n\n".join(delimit(segment) for segment in segments),
        "feedback": feedback_text,
    }
