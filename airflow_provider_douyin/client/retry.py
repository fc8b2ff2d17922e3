"""Bounded retries for transient and throttled failures.

Full-jitter backoff spreads retries of many workers hitting the same throttled app; the attempt and
total-time bounds keep an Airflow task from hanging on a gateway outage. Only errors whose class says
"retrying is safe" are retried; the last typed error is re-raised unchanged so callers can branch on it.

tenacity's ``stop_before_delay`` alone bounds only when the last attempt *starts* (elapsed time plus
the coming backoff), not how long that attempt then runs; :meth:`RetryPolicy.remaining` lets the
transport cut each attempt's deadline to what is left, so attempts and waits together stay in budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import tenacity

from airflow_provider_douyin.client.errors import DouyinError, DouyinThrottledError, DouyinTransientError
from airflow_provider_douyin.client.redaction import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one API call (all times in seconds)."""

    max_attempts: int = 6
    max_delay: float = 300.0
    """Total budget of one call in seconds, attempts and backoffs included: no retry starts if its
    backoff would end past it, and the transport cuts the running attempt's deadline to what is left."""
    initial: float = 0.5
    maximum: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_delay <= 0:
            raise ValueError("max_delay (the call's time budget) must be positive")
        if min(self.initial, self.maximum) < 0:
            raise ValueError("retry delays must not be negative")

    def remaining(self, state: tenacity.RetryCallState) -> float:
        """Seconds of the budget left for the call that ``state`` tracks."""
        return self.max_delay - (time.monotonic() - state.start_time)

    def retrying(self, *, method: str, sleep: Callable[[float], None] = time.sleep) -> tenacity.Retrying:
        """A tenacity controller for one call of ``method``; ``sleep`` is injectable for tests."""
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_before_delay(self.max_delay),
            wait=tenacity.wait_random_exponential(multiplier=self.initial, max=self.maximum),
            retry=tenacity.retry_if_exception_type((DouyinTransientError, DouyinThrottledError)),
            reraise=True,
            sleep=sleep,
            before_sleep=lambda state: _log_retry(method, self.max_attempts, state),
        )


def _log_retry(method: str, max_attempts: int, state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    if not isinstance(error, DouyinError):
        return
    log.warning(
        "%s attempt %d/%d failed with %s (code=%s sub_code=%s log_id=%s); retrying in %.2fs",
        method,
        state.attempt_number,
        max_attempts,
        type(error).__name__,
        error.code,
        error.sub_code,
        error.log_id,
        state.upcoming_sleep,
    )
