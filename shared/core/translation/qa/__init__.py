"""Translation QA: quantities, names and the checks that combine them."""

from shared.core.translation.qa.checks import (
    EN_PER_ZH_CHAR,
    FACT_CHECKS,
    MIN_CHARS_FOR_RATIO,
    QAFailure,
    SegmentOutcome,
    added_facts,
    check_translation,
    missing_facts,
)
from shared.core.translation.qa.names import latin_names
from shared.core.translation.qa.quantities import Quantity, QuantityKind, extract_quantities

__all__ = [
    "EN_PER_ZH_CHAR",
    "FACT_CHECKS",
    "MIN_CHARS_FOR_RATIO",
    "QAFailure",
    "Quantity",
    "QuantityKind",
    "SegmentOutcome",
    "added_facts",
    "check_translation",
    "extract_quantities",
    "latin_names",
    "missing_facts",
]
