"""The ``page_drift`` fault, shared by the Doudian and the Open Platform search handlers."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from .config import FaultConfig
from .store import Selection


class PageDrift:
    """Touch k random records of the requested window before a search answers.

    It fires on every search request, page 0 included: a real shop updates records
    whatever page a client happens to be on, and a client that restarts at page 0
    (keyset paging) must be shown to survive it too. ``k`` is read from the live
    ``faults`` on every call, so ``POST /sandbox/faults`` takes effect at once.
    """

    def __init__(
        self,
        faults: FaultConfig,
        rng: random.Random,
        rng_lock: threading.Lock,
        count_fault: Callable[[str, int], None],
    ) -> None:
        self._faults = faults
        self._rng = rng
        self._rng_lock = rng_lock
        self._count_fault = count_fault

    def __call__(self, selection: Selection, touch: Callable[[int], None]) -> bool:
        """Touch up to k records of ``selection``; ``True`` if any was, so the caller searches again."""
        k = min(self._faults.page_drift, len(selection))
        if k <= 0:
            return False
        with self._rng_lock:
            positions = self._rng.sample(range(len(selection)), k)
        for pos in positions:
            touch(selection.slice(pos, pos + 1)[0])
        self._count_fault("page_drift", k)
        return True
