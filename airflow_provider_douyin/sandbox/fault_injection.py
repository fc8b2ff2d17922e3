"""The faults one platform injects, drawn from one seeded RNG, and the counts behind
``faults_injected`` in its statistics. Both platforms read the same live ``FaultConfig``."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque

from .config import FaultConfig
from .drift import PageDrift
from .reply import NGINX_502, Reply

_arrival = threading.local()


def mark_arrival() -> None:
    """The server's handler thread saw a request's first line (see :meth:`FaultInjector.over_qps`)."""
    _arrival.at = time.monotonic()


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
        self._qps: dict[str, deque[float]] = {}
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

        A request counts from when it arrived (its first line was read), as at a gateway's edge, not
        from when its signature had been checked: that takes this server's threads a varying few to
        tens of milliseconds on a busy CPU, which would bunch arrivals that were evenly spaced.
        """
        limit = self.faults.qps_limit
        now -= _since_arrival()
        with self._lock:
            window = self._qps.setdefault(key, deque())
            window.append(now)
            while window and window[0] <= now - 1.0:
                window.popleft()
            over = limit > 0 and len(window) > limit
            if over:
                self._injected["qps_limit"] += 1
        return over

    def injected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._injected)

    def reset(self) -> None:
        with self._lock:
            self._injected.clear()
