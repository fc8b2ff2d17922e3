"""The deterministic 64-bit hash both sandbox platforms derive their generated data from.

Attributes that never change after a record is created (amounts, names, buyers) are
re-derived from ``mix(seed, ...)`` whenever a record is shown, so they cost no memory.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1


def mix(*parts: int) -> int:
    """A cheap 64-bit hash; the order generator derives immutable attributes from it."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & MASK64)) * 0xBF58476D1CE4E5B9) & MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & MASK64
        h ^= h >> 29
    return h
