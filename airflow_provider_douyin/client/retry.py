"""Bounded retries for transient and throttled failures.

Full-jitter backoff spreads retries of many workers hitting the same throttled app; the attempt and
total-time bounds keep an Airflow task from hanging on a gateway outage. Only errors whose class says
"retrying is safe" are retried; the last typed error is re-raised unchanged so callers can branch on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import tenacity

from airflow_provider_douyin.client.errors import DouyinError, DouyinThrottledError, DouyinTransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one API call (all times in seconds)."""

    max_attempts: int = 6
    max_delay: float = 120.0
    """Total budget: no retry is started if its backoff would end past this many seconds."""
    initial: float = 0.5
    maximum: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_delay, self.initial, self.maximum) < 0:
            raise ValueError("retry delays must not be negative")

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
