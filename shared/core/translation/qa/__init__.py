"""Translation QA: quantities, names and the checks that combine them."""

from shared.core.translation.qa.checks import (
    EN_PER_ZH_CHAR,
    MIN_CHARS_FOR_RATIO,
    QAFailure,
    SegmentOutcome,
    check_translation,
)
from shared.core.translation.qa.names import latin_names
from shared.core.translation.qa.quantities import Quantity, QuantityKind, extract_quantities

__all__ = [
    "EN_PER_ZH_CHAR",
    "MIN_CHARS_FOR_RATIO",
    "QAFailure",
    "Quantity",
    "QuantityKind",
    "SegmentOutcome",
    "check_translation",
    "extract_quantities",
    "latin_names",
]
