"""Client-side pacing so a sync uses the gateway's per-app limit fully without tripping 60000.

Both platforms throttle per app, so every client of one app_key draws from one limiter
(:func:`app_limiter`): by default one per process; with a ``rate_limit_url`` (``redis://...``) one
schedule in Redis shared by every process and machine syncing that app.

The pace adapts (AIMD, :class:`AdaptiveRate`): it starts just under the limit, is cut
multiplicatively when the gateway answers "throttled" and creeps back up additively with every
success, so a limit shared with traffic the provider cannot see, or jitter that bunches arrivals in
the gateway's sliding second, costs a few throttles instead of a steady stream of them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from airflow_provider_douyin.client.redaction import get_logger

log = get_logger(__name__)

START = 0.985
"""Pace at first, and at most, as a fraction of the limit. The gateway counts arrivals in a sliding
second, rejected ones included; at 98.5% twenty-one paced requests at QPS 20 span 1.015 s, so
arrivals bunched by up to 15 ms of jitter still never make a 21st in one second. A gateway whose
arrivals bunch more answers "throttled" now and then, and each cut also lowers the most the pace
creeps back to (``CEILING_STEP``), so the margin grows to what that gateway needs."""
CEILING_STEP = 0.005
"""Each cut lowers the most the pace creeps back to by this fraction of the limit ..."""
LOWEST_CEILING = 0.95
"""... down to this fraction: 50 ms of bunching at QPS 20."""
DECREASE = 0.9
"""A throttle reply soon after another multiplies the pace by this."""
GENTLE_DECREASE = 0.97
"""A throttle after ``CALM`` seconds without one multiplies the pace by this: an isolated throttle
is jitter bunching a few arrivals, and a 10% cut for it would waste far more than it saves."""
CALM = 2.0
"""A gentle cut leaves the pace back at its ceiling within a second, so a limit that really is lower
(traffic the provider cannot see) throttles again well inside ``CALM`` and gets ``DECREASE``; bunched
arrivals a few seconds apart each cost only a gentle cut (10 s here cost a QPS 50 read ~2%)."""
INCREASE_PER_SECOND = 0.05
"""Successes raise the pace by this fraction of the limit per second of requests at that pace."""
FLOOR = 0.2
"""The pace never falls below this fraction of the limit."""
BANK_S = 0.1
"""Seconds of pace the in-process bucket banks. A slot that passes while every worker is busy (a
page slow to come back, a thread waiting for the CPU) is made up by the next free worker instead of
being lost: with one slot banked, a QPS 50 read lost some 2% of the limit that way. The sliding
counts of :meth:`AdaptiveLimiter.depart` and :meth:`AdaptiveLimiter.on_wire` still keep any ``limit``
consecutive requests apart by the pace, so a made-up slot never crowds the gateway's second.

The pace's first cut ends the bank. A gateway that stamps arrivals after queueing them (a busy
server stamping in its handlers) sees a made-up burst bunched: with the sandbox stamping that way at
QPS 50, a bank halved on every cut threw 4-9 throttles a run and read 86-87% of the limit, one slot
0-4 throttles and 84-90%, a bank ended by the first cut 1-2 throttles and 81-92%."""
COOLDOWN = 1.0
"""Seconds after a cut in which further throttles are not cut again: requests already under way when
the first throttle came answer "throttled" too, and one crowded second must not count as several."""
SHARED_RETRY_AFTER = 30.0
"""Seconds a process paces on its own after the shared limiter's Redis failed, before trying it again."""
REDIS_TIMEOUT = 2.0
"""Seconds to connect to, or wait for, the shared limiter's Redis."""


class Limiter(Protocol):
    """What the transport paces its attempts with."""

    def acquire(self) -> float:
        """Block until one request's turn in the pace; return the seconds waited."""
        ...

    def depart(self) -> float:
        """Called as the request, built and signed, is about to be sent: hold it while it would still
        leave too close to the ones before it; return the seconds held."""
        ...

    def on_wire(self) -> None:
        """Called as the request's first bytes are written to the socket: the same check on the moments
        requests really reach the wire (holds only what happened between :meth:`depart` and here)."""
        ...

    def throttled(self) -> None:
        """The gateway answered an attempt with its "throttled" code."""
        ...

    def succeeded(self) -> None:
        """An attempt got a reply that was not a throttle."""
        ...


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


class AdaptiveRate:
    """The AIMD pace for one app: requests per second, between ``FLOOR`` of ``limit`` and ``ceiling``
    (``START`` of it at first, lowered by every cut to no less than ``LOWEST_CEILING``)."""

    def __init__(self, limit: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._cut_at = -float("inf")
        self.cuts = 0
        self.limit = self.rate = self.ceiling = 0.0
        self.configure(limit)

    def configure(self, limit: float) -> None:
        """Set the app's limit; a changed limit restarts the pace just under it."""
        if limit <= 0:
            raise ValueError("qps must be positive")
        with self._lock:
            if self.limit != limit:
                self.limit = float(limit)
                self.rate = self.ceiling = self.limit * START
                self.cuts = 0

    def throttled(self) -> None:
        with self._lock:
            now = self._clock()
            since = now - self._cut_at
            if since < COOLDOWN:
                return
            self._cut_at = now
            self.cuts += 1
            factor = GENTLE_DECREASE if since >= CALM else DECREASE
            self.rate = max(self.limit * FLOOR, self.rate * factor)
            self.ceiling = max(self.limit * LOWEST_CEILING, self.ceiling - self.limit * CEILING_STEP)
        log.info(
            "Throttled: pacing this app at %.1f requests/s, at most %.1f from now on (limit %g)",
            self.rate,
            self.ceiling,
            self.limit,
        )

    def succeeded(self) -> None:
        with self._lock:
            # At ``rate`` successes per second this adds INCREASE_PER_SECOND of the limit per second.
            step = INCREASE_PER_SECOND * self.limit / self.rate
            self.rate = min(self.ceiling, self.rate + step)


class RedisSchedule:
    """The next free send time of one app, kept in Redis so every process draws on one budget.

    Generic cell rate scheduling in one Lua script, atomic on the server: each caller reserves the
    slot after the last one handed out (``max(now, next) + interval``) and sleeps until its slot, so
    callers in any process are paced in arrival order, never rejected. The server's ``TIME`` is the
    clock, so machines whose clocks disagree still share one schedule; ``clock`` overrides it (tests).
    """

    SCRIPT = """
    local now = tonumber(ARGV[2])
    if not now then
      local t = redis.call('TIME')
      now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    local interval = tonumber(ARGV[1])
    local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or now))
    local wait = slot - now
    redis.call('SET', KEYS[1], string.format('%.6f', slot + interval),
               'PX', math.ceil((wait + interval) * 1000) + 60000)
    return string.format('%.6f', wait)
    """

    def __init__(self, client: Any, key: str, *, clock: Callable[[], float] | None = None) -> None:
        import redis  # the [redis] extra; imported only by connections that name a URL

        self.errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._key = f"airflow_provider_douyin:rate:{key}"
        self._clock = clock
        self._reserve = client.register_script(self.SCRIPT)

    def reserve(self, interval: float) -> float:
        """Reserve the next slot ``interval`` seconds wide; return the seconds until it starts."""
        now = "" if self._clock is None else repr(self._clock())
        return float(self._reserve(keys=[self._key], args=[repr(interval), now]))


class _SlidingCount:
    """The moments of the last requests, admitting one more only while fewer than ``count`` of them fall
    within the last ``span`` seconds."""

    def __init__(self) -> None:
        self._moments: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, now: float, count: int, span: float) -> float:
        """Record ``now`` and return 0, or return the seconds until a request may be admitted."""
        with self._lock:
            moments = self._moments
            while len(moments) > count or (moments and now - moments[0] >= span):
                moments.popleft()
            if len(moments) < count:
                moments.append(now)
                return 0.0
            return moments[0] + span - now


def _bank(pace: AdaptiveRate) -> int:
    """``BANK_S`` of slots until the pace's first cut, one slot after it."""
    return 1 if pace.cuts else max(1, round(pace.rate * BANK_S))


class AdaptiveLimiter:
    """Paces one app at its :class:`AdaptiveRate`, in-process or on a shared :class:`RedisSchedule`.

    If Redis cannot be reached, requests are paced by the in-process bucket for the next
    ``SHARED_RETRY_AFTER`` seconds (with one warning): a sync slowed by throttles beats a sync failed,
    or stalled, by its rate limiter.
    """

    def __init__(
        self,
        limit: float,
        *,
        schedule: RedisSchedule | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pace = AdaptiveRate(limit, clock=clock)
        self._local = TokenBucket(self.pace.rate, _bank(self.pace), clock=clock, sleep=sleep)
        self._schedule = schedule
        self._shared_failed_at = -float("inf")
        self._clock = clock
        self._sleep = sleep
        self._departed = _SlidingCount()
        self._on_wire = _SlidingCount()

    def configure(self, limit: float) -> None:
        self.pace.configure(limit)

    @property
    def _shared(self) -> bool:
        """Pacing on the shared schedule (named, and not in the pause after a Redis failure)."""
        return self._schedule is not None and self._clock() - self._shared_failed_at >= SHARED_RETRY_AFTER

    def acquire(self) -> float:
        rate = self.pace.rate
        if self._shared:
            try:
                wait = self._schedule.reserve(1.0 / rate)
            except self._schedule.errors as exc:
                self._shared_failed_at = self._clock()
                log.warning(
                    "Shared rate limiter unavailable (%s); pacing in this process only for %.0fs",
                    exc,
                    SHARED_RETRY_AFTER,
                )
            else:
                if wait > 0:
                    self._sleep(wait)
                return wait
        if self._local.rate != rate:
            self._local.configure(rate, _bank(self.pace))
        return self._local.acquire()

    def depart(self) -> float:
        """Hold a request whose ``limit``-th predecessor left less than ``limit / rate`` s ago.

        The bucket spaces the slots, but banked slots (``BANK_S``) go at once, and a thread that wakes
        late from its slot, or is slow to build its request, goes out together with later ones that
        were quick, and the gateway counts a sliding second of arrivals: checking the moments
        requests really leave keeps any ``limit`` + 1 of them apart by the pace. (With a shared
        schedule the other processes' departures are not seen here; the schedule's slots alone space
        them.)
        """
        return self._hold(self._departed)

    def on_wire(self) -> None:
        """:meth:`depart`'s check again as the request is written: between the two, a busy CPU can keep
        a thread from running for tens of milliseconds while quick ones pass it."""
        self._hold(self._on_wire)

    def _hold(self, moments: _SlidingCount) -> float:
        if self._shared:
            return 0.0
        count = max(1, int(self.pace.limit))
        span = count / self.pace.rate
        held = 0.0
        while (wait := moments.admit(self._clock(), count, span)) > 0:
            self._sleep(wait)
            held += wait
        return held

    def throttled(self) -> None:
        self.pace.throttled()

    def succeeded(self) -> None:
        self.pace.succeeded()


RATE_LIMIT_SCHEMES = ("redis://", "rediss://", "unix://")


def check_rate_limit_url(url: str) -> str:
    """``url`` if it names a Redis server the shared limiter can use, else ``ValueError``."""
    if not url.startswith(RATE_LIMIT_SCHEMES):
        raise ValueError(f"must be a Redis URL ({', '.join(RATE_LIMIT_SCHEMES)}...)")
    return url


_registry: dict[tuple[str, str | None], AdaptiveLimiter] = {}
_registry_lock = threading.Lock()


def app_limiter(key: str, qps: float, rate_limit_url: str | None = None) -> AdaptiveLimiter:
    """The process's limiter for app ``key`` (e.g. ``doudian:<app_key>``) at ``qps``, shared via
    ``rate_limit_url`` (``redis://host:6379/0``) when given; created once, then reconfigured."""
    with _registry_lock:
        limiter = _registry.get((key, rate_limit_url))
        if limiter is None:
            schedule = None
            if rate_limit_url:
                import redis

                client = redis.Redis.from_url(
                    rate_limit_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
                )
                schedule = RedisSchedule(client, key)
            limiter = _registry[(key, rate_limit_url)] = AdaptiveLimiter(qps, schedule=schedule)
        else:
            limiter.configure(qps)
        return limiter
