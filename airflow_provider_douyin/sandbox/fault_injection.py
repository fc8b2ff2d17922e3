"""The faults one platform injects, drawn from one seeded RNG, and the counts behind
``faults_injected`` in its statistics. Both platforms read the same live ``FaultConfig``."""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections import Counter

from .config import FaultConfig
from .drift import PageDrift
from .reply import NGINX_502, Reply

_arrival = threading.local()
_QPS_KEPT_S = 2.0
"""Arrivals kept per app: a second for the window, and a second for requests checked late."""


def mark_arrival(at: float | None = None) -> None:
    """The server's handler thread read a request's first line; it arrived ``at`` (monotonic), or now
    (see :meth:`FaultInjector.over_qps`)."""
    _arrival.at = time.monotonic() if at is None else at


def _since_arrival() -> float:
    at = getattr(_arrival, "at", None)
    return 0.0 if at is None else max(0.0, time.monotonic() - at)


class FaultInjector:
    """Seeded fault decisions, so a run with the same seed and requests injects the same faults."""

    def __init__(self, faults: FaultConfig, seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        """Guards ``rng``; hold it for any other draw from it (shuffles)."""
        self._lock = threading.Lock()
        self._injected: Counter[str] = Counter()
        self._qps: dict[str, list[float]] = {}
        """Per app, the arrival times of recent requests, in order."""
        self.drift = PageDrift(faults, self.rng, self.rng_lock, self.count)

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self._injected[kind] += n

    def fires(self, kind: str, rate: float) -> bool:
        """Roll for a fault of probability ``rate``; counted when it fires."""
        if rate <= 0:
            return False
        with self.rng_lock:
            fired = self.rng.random() < rate
        if fired:
            self.count(kind)
        return fired

    def transport(self) -> tuple[Reply | None, float]:
        """A connection reset or an nginx 502 to send instead of an answer (else ``None``),
        and the delay before replying: the configured latency, plus ``slow_ms`` when it fires."""
        delay = self.faults.latency_ms / 1000.0
        if self.fires("reset", self.faults.reset_rate):
            return Reply(action="reset", delay_s=delay), delay
        if self.fires("http502", self.faults.http502_rate):
            page = Reply(status=502, body=NGINX_502, content_type="text/html", delay_s=delay,
                         headers={"Server": "nginx"})  # fmt: skip
            return page, delay
        if self.fires("slow", self.faults.slow_rate):
            delay += self.faults.slow_ms / 1000.0
        return None, delay

    def over_qps(self, key: str, now: float) -> bool:
        """Sliding one-second window per app over every request that got this far; counted.

        A request counts from when it arrived (see :func:`mark_arrival`), as at a gateway's edge, not
        from when its signature had been checked: that takes this server's threads a varying few to
        tens of milliseconds on a busy CPU, which would bunch arrivals that were evenly spaced. So
        requests reach this check out of their order of arrival: each is judged by the arrivals in
        the second up to its own.
        """
        limit = self.faults.qps_limit
        now -= _since_arrival()
        with self._lock:
            window = self._qps.setdefault(key, [])
            bisect.insort(window, now)
            del window[: bisect.bisect_right(window, window[-1] - _QPS_KEPT_S)]
            inside = bisect.bisect_right(window, now) - bisect.bisect_right(window, now - 1.0)
            over = limit > 0 and inside > limit
            if over:
                self._injected["qps_limit"] += 1
        return over

    def injected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._injected)

    def reset(self) -> None:
        with self._lock:
            self._injected.clear()
