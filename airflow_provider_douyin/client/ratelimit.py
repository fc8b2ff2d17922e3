"""Client-side pacing so a sync stays under the gateway's per-app limit instead of tripping 60000.

Doudian throttles per app, so every client of one app_key in a process must draw from one bucket
(:func:`shared_bucket`). Limits across processes are the Airflow pool's job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, at most ``burst`` banked.

    A caller that finds the bucket short reserves its tokens (the balance goes negative) and sleeps
    outside the lock, so waiting threads are served in arrival order at exactly ``rate``.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.configure(rate, burst)
        self._tokens = float(self.burst)
        self._updated = clock()

    def configure(self, rate: float, burst: int | None = None) -> None:
        """Change the rate and burst in place (a connection's QPS may be edited while a process lives)."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        with self._lock:
            self.rate = float(rate)
            self.burst = burst if burst is not None else 1

    def acquire(self, tokens: int = 1) -> float:
        """Block until ``tokens`` may be spent; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


_registry: dict[str, TokenBucket] = {}
_registry_lock = threading.Lock()


def shared_bucket(key: str, rate: float, burst: int | None = None) -> TokenBucket:
    """Return the process-wide bucket for ``key`` (e.g. the app_key), created or reconfigured."""
    with _registry_lock:
        bucket = _registry.get(key)
        if bucket is None:
            bucket = _registry[key] = TokenBucket(rate, burst)
        else:
            bucket.configure(rate, burst)
        return bucket
