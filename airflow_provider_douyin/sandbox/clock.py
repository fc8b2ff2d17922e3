"""The sandbox's business clock: when orders happen, settlements publish and fund flows post.

It is wall time plus an offset, so it ticks like a real clock, but tests and demos can start
it at any instant and move it forward (days in a second) to watch T+1 publication happen.
It never runs backwards: records already stamped later than "now" would make no sense.

Protocol time stays on the wall clock: the 600 s request-timestamp check, the QPS window and
token lifetimes, because a client signs, paces and stores token expiries with its real clock.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from .constants import SHANGHAI


class BusinessClock:
    """Wall time plus a forward-only offset; ``start`` (epoch seconds) is "now" at creation."""

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0 if start is None else float(start) - time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def set(self, *, now: float | None = None, advance_s: float | None = None) -> float:
        """Move to ``now`` (epoch seconds) or by ``advance_s``; returns the new time.

        ``ValueError`` when neither or both are given, or when the move would go backwards.
        """
        if (now is None) == (advance_s is None):
            raise ValueError("give exactly one of 'now' (epoch seconds) or 'advance_s' (seconds)")
        with self._lock:
            current = self.now()
            target = float(now) if now is not None else current + float(advance_s or 0)
            if target < current:
                raise ValueError(
                    f"the business clock only moves forward: {format_instant(target)} is before "
                    f"{format_instant(current)}"
                )
            self._offset += target - current
            return target

    def state(self) -> dict[str, Any]:
        """What ``GET /sandbox/clock`` answers."""
        now = self.now()
        return {"now": now, "iso": format_instant(now), "offset_s": round(self._offset, 3)}


def format_instant(epoch: float) -> str:
    """ISO 8601 in Asia/Shanghai, to the second: the time zone every Doudian bill uses."""
    return datetime.fromtimestamp(int(epoch), SHANGHAI).isoformat()


def parse_instant(text: str) -> float:
    """Epoch seconds, or ISO 8601 with an offset (``2026-11-30T12:00:00+08:00``)."""
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; write e.g. 2026-11-30T12:00:00+08:00")
    return moment.timestamp()
