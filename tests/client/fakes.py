"""Test doubles: a controllable clock, Doudian-shaped envelopes and stored token pairs.

Token-rotation rules are not copied here: tests that need them run against the sandbox gateway
(``sandbox_gateway.py``).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_douyin.client.tokens import TokenPair

APP_KEY = "3409409348479354011"
APP_SECRET = "2ad2355c-01d0-11f8-91dc-05a8cd1054b1"
SHOP_ID = "123456"
BASE_URL = "https://openapi-fxg.jinritemai.com"
T0 = 1_700_000_000.0
DAY = 86400.0


def stored_pair(now: float = T0, *, access_ttl: float = 7 * DAY, suffix: str = "1") -> TokenPair:
    """A freshly issued pair, as a token store would hold it."""
    return TokenPair(
        access_token=f"act.stored-access-{suffix}-e5a0",
        refresh_token=f"rft.stored-refresh-{suffix}-71bd",
        access_expires_at=now + access_ttl,
        refresh_expires_at=now + 14 * DAY,
        obtained_at=now,
        shop_id=SHOP_ID,
    )


class FakeClock:
    """Epoch-seconds clock that only moves when told to (or when something sleeps on it)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def envelope(
    code: int = 10000,
    data: Any = None,
    *,
    sub_code: str = "",
    msg: str | None = None,
    sub_msg: str = "",
    log_id: str = "20231115061320010194059098259B567F",
) -> dict[str, Any]:
    """A response envelope shaped like Doudian's: code, msg, sub_code, sub_msg, log_id, data."""
    return {
        "code": code,
        "msg": msg if msg is not None else ("success" if code == 10000 else "业务处理失败"),
        "sub_code": sub_code,
        "sub_msg": sub_msg,
        "log_id": log_id,
        "data": {} if data is None else data,
    }
