"""The score mappings stay finite and in 0..100 for any raw value, however far a story has decayed
(a real 2016 feed item re-scored today raised OverflowError in ``hill`` and was never published)."""

from __future__ import annotations

import pytest

from shared.core.scoring.config import HillMapping
from shared.core.scoring.mapping import hill


@pytest.mark.parametrize("raw", [1e-320, 1e-200, 1e-120, 1e-9, 0.5, 1.0, 1e9, 1e300])
def test_hill_is_finite_and_in_range(raw: float) -> None:
    value = hill(raw, HillMapping(k=2.0, p=3.0))
    assert 0.0 <= value <= 100.0


def test_hill_of_a_vanishing_raw_is_zero() -> None:
    assert hill(1e-200, HillMapping(k=2.0, p=3.0)) == 0.0
    assert hill(1e-200, HillMapping(k=2.0, p=3.0)) <= hill(1e-100, HillMapping(k=2.0, p=3.0))


def test_hill_is_half_at_k() -> None:
    assert hill(2.0, HillMapping(k=2.0, p=3.0)) == pytest.approx(50.0)
