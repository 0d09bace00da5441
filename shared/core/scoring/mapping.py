"""Monotone maps from a raw score to 0..100, and small shared helpers."""

from __future__ import annotations

import math

from shared.core.scoring.config import Band, HillMapping, LogisticMapping


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def hill(raw: float, mapping: HillMapping) -> float:
    """100 * raw^p / (raw^p + k^p): 0 at 0, 50 at k, towards 100; strictly increasing for raw > 0."""
    if raw <= 0:
        return 0.0
    # Divide through by raw^p to stay finite for large raw.
    try:
        return 100.0 / (1.0 + (mapping.k / raw) ** mapping.p)
    except OverflowError:
        # raw so far below k that (k/raw)^p exceeds a float (a real 2016 story decayed to ~1e-200
        # raised here and was never scored or published): the value is 0 to double precision.
        return 0.0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logistic_stretch(unit: float, mapping: LogisticMapping) -> float:
    """A 0..1 score stretched around `mid` so that values spread over 0..100 (0 -> 0, 1 -> 100)."""
    low = _sigmoid(-mapping.mid / mapping.scale)
    high = _sigmoid((1.0 - mapping.mid) / mapping.scale)
    value = (_sigmoid((clamp(unit) - mapping.mid) / mapping.scale) - low) / (high - low)
    return 100.0 * clamp(value)


def saturate(x: float, scale: float) -> float:
    """1 - exp(-x / scale): 0 at 0, 0.63 at scale, towards 1."""
    return 1.0 - math.exp(-max(0.0, x) / scale)


def log_ramp(x: float, floor: float, full: float) -> float:
    """0 at or below floor, 1 at or above full, linear in log10 in between."""
    if x <= floor:
        return 0.0
    return clamp(math.log10(x / floor) / math.log10(full / floor))


def log_hill(x: float, base: float, half: float) -> float:
    """L = log10(1 + x / base); L^2 / (L^2 + half^2): strictly increasing in x > 0, below 1."""
    level = math.log10(1.0 + max(0.0, x) / base)
    return level * level / (level * level + half * half)


def trapezoid(x: float, band: Band) -> float:
    """1 inside the ideal range, linear down to 0 at zero_min / zero_max."""
    if x <= band.zero_min or x >= band.zero_max:
        return 0.0
    if x < band.ideal_min:
        return (x - band.zero_min) / (band.ideal_min - band.zero_min)
    if x > band.ideal_max:
        return (band.zero_max - x) / (band.zero_max - band.ideal_max)
    return 1.0


def rounded(components: dict[str, float], digits: int = 4) -> dict[str, float]:
    return {k: round(v, digits) for k, v in components.items()}
