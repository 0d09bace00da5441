"""Translation core (pure: no I/O, no network, no clock), one concern per module:

- ``budget``: ``estimate_tokens``, a rough token count for budgets and rate limits.
- ``chunking``: ``chunk_body`` and friends: long bodies split on paragraph boundaries within a token
  budget so the chunks can be translated in parallel and joined in order.
- ``glossary``: ``Glossary``: bilingual names and terms; the ones occurring in a chunk go into its
  prompt and are enforced afterwards.
- ``prompt``: ``translate_prompt_variables``: what the versioned prompt template is filled with
  (segments delimited as data, glossary lines, the failures of a previous attempt).
- ``qa``: ``check_translation``, the automatic QA checks. Every number, amount, percentage, year,
  month and Latin-script name of the source must reappear (or map through the glossary) in the
  translation; the translation must be in the target language; the length ratio must be
  plausible. It returns named failures; an empty list means the translation passed.

A model tried here turned "CFO Sarah Friar" into "CEO Sam Altman" and 2026 into 2023: these
checks exist to catch exactly that before anything is published.

The public names stay importable from ``shared.core.translation``.
"""

from shared.core.translation.budget import estimate_tokens
from shared.core.translation.chunking import (
    chunk_body,
    join_chunks,
    paragraph_separator,
    split_paragraphs,
)
from shared.core.translation.glossary import HINT_ONLY_KINDS, Glossary, GlossaryEntry, GlossaryMatch
from shared.core.translation.prompt import (
    DATA_TAG,
    Segment,
    delimit,
    glossary_lines,
    translate_prompt_variables,
)
from shared.core.translation.qa import (
    EN_PER_ZH_CHAR,
    FACT_CHECKS,
    MIN_CHARS_FOR_RATIO,
    QAFailure,
    Quantity,
    QuantityKind,
    SegmentOutcome,
    added_facts,
    check_translation,
    extract_quantities,
    latin_names,
    missing_facts,
)
from shared.core.translation.text import LANGUAGE_NAMES, TextLanguage, other_language

__all__ = [
    "DATA_TAG",
    "EN_PER_ZH_CHAR",
    "FACT_CHECKS",
    "HINT_ONLY_KINDS",
    "LANGUAGE_NAMES",
    "MIN_CHARS_FOR_RATIO",
    "Glossary",
    "GlossaryEntry",
    "GlossaryMatch",
    "QAFailure",
    "Quantity",
    "QuantityKind",
    "Segment",
    "SegmentOutcome",
    "TextLanguage",
    "added_facts",
    "check_translation",
    "chunk_body",
    "delimit",
    "estimate_tokens",
    "extract_quantities",
    "glossary_lines",
    "join_chunks",
    "latin_names",
    "missing_facts",
    "other_language",
    "paragraph_separator",
    "split_paragraphs",
    "translate_prompt_variables",
]
