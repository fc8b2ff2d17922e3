"""Doudian's access/refresh token life cycle: create, the three refresh cases, grace and 31012.

Token strings are random per server and never logged.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import FaultConfig
from .errors import ApiError


class RefreshReplyLost(Exception):
    """A rotation whose reply is lost (the ``lost_replies_before_expiry``/``_after_expiry`` faults).

    Deliberately not an ``ApiError``: it escapes the engine, and the HTTP server closes the
    connection without writing a response, as when a reply is lost on its way back.
    """


@dataclass
class Grant:
    """One issued access/refresh pair. ``successor`` is set when a refresh rotated it."""

    app_key: str
    shop_id: int
    shop_name: str
    access_token: str
    refresh_token: str
    access_expires: float
    refresh_expires: float
    revoked: bool = False
    successor: Grant | None = field(default=None, repr=False)

    def latest(self) -> Grant:
        grant = self
        while grant.successor is not None:
            grant = grant.successor
        return grant


class TokenStore:
    """All grants of a server, indexed by both token strings; lifetimes run on ``clock``."""

    def __init__(self, seed: int, faults: FaultConfig, clock: Callable[[], float] = time.time) -> None:
        self._faults = faults
        self._clock = clock
        self._rng = random.Random(seed ^ secrets.randbits(64))
        self._lock = threading.Lock()
        self._by_access: dict[str, Grant] = {}
        self._by_refresh: dict[str, Grant] = {}
        self._in_flight: set[str] = set()
        self._codes: dict[str, tuple[int, float]] = {}
        self.refresh_cases = {
            "case1": 0,
            "case2": 0,
            "case3": 0,
            "grace_replay": 0,
            "concurrent": 0,
            "reply_lost": 0,
        }

    def _token(self, prefix: str) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(40))

    def _issue(self, app_key: str, shop_id: int, shop_name: str, now: float) -> Grant:
        grant = Grant(
            app_key=app_key,
            shop_id=shop_id,
            shop_name=shop_name,
            access_token=self._token("act."),
            refresh_token=self._token("rft."),
            access_expires=now + self._faults.access_ttl,
            refresh_expires=now + self._faults.refresh_ttl,
        )
        self._by_access[grant.access_token] = grant
        self._by_refresh[grant.refresh_token] = grant
        return grant

    @staticmethod
    def response(grant: Grant, now: float) -> dict[str, Any]:
        """token.create / token.refresh ``data``; ``expires_in`` is seconds remaining."""
        return {
            "access_token": grant.access_token,
            "expires_in": max(0, int(grant.access_expires - now)),
            "refresh_token": grant.refresh_token,
            "scope": "SCOPE",
            "shop_id": grant.shop_id,
            "shop_name": grant.shop_name,
            "authority_id": str(grant.shop_id),
            "auth_subject_type": "DouDian",
        }

    def issue_code(self, shop_id: int) -> str:
        """An authorization code for ``authorization_code`` grants, valid ``auth_code_ttl``."""
        with self._lock:
            code = self._token("")
            self._codes[code] = (shop_id, self._clock() + self._faults.auth_code_ttl)
            return code

    def redeem_code(self, code: str, now: float) -> int:
        """Single use: returns the shop id of a live code."""
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None:
            raise ApiError(50001, "dop.token-generate-failed:code-invalid", "授权码无效")
        shop_id, expires = entry
        if now >= expires:
            raise ApiError(50001, "dop.token-generate-failed:code-expired", "授权码已过期，有效期10分钟")
        return shop_id

    def create(self, app_key: str, shop_id: int, shop_name: str, now: float) -> Grant:
        with self._lock:
            return self._issue(app_key, shop_id, shop_name, now)

    def check_access(self, app_key: str, token: str, now: float) -> Grant:
        """The grant behind a data call's access_token, or the token error (expired, superseded, unknown)."""
        if not token:
            raise ApiError(40001, "isv.access-token-missing", "access_token不能为空")
        grant = self._by_access.get(token)
        if grant is None or grant.revoked:
            raise ApiError(
                40003, "isv.access-token-no-existed", "access_token不存在，请使用最新的access_token访问"
            )
        if grant.app_key != app_key:
            raise ApiError(40003, "isv.access-token-invalid", "app_key和access_token不匹配")
        if now >= grant.access_expires:
            raise ApiError(40003, "isv.access-token-expired", "access_token已过期")
        return grant

    def refresh(self, app_key: str, token: str, now: float) -> Grant:
        """Apply token.refresh's rules (rotate in the last hour, grace, dead after expiry),
        holding the grant for ``refresh_hold_ms`` so that a
        concurrent refresh of the same authorisation fails with 31012."""
        with self._lock:
            grant = self._by_refresh.get(token)
            if grant is None or grant.revoked or grant.app_key != app_key:
                raise ApiError(50001, "dop.token-generate-failed:token-invalid", "refresh_token无效")
            if now >= grant.refresh_expires:
                raise ApiError(50001, "dop.token-generate-failed:token-expired", "refresh_token已过期")
            family = grant.latest().refresh_token
            if family in self._in_flight:
                self.refresh_cases["concurrent"] += 1
                raise ApiError(50002, "isv.business-failed:31012", "刷新token失败，有并发请求")
            self._in_flight.add(family)
        try:
            time.sleep(self._faults.refresh_hold_ms / 1000.0)
            with self._lock:
                return self._rotate(grant, self._clock())
        finally:
            with self._lock:
                self._in_flight.discard(family)

    def _rotate(self, grant: Grant, now: float) -> Grant:
        if grant.successor is not None:
            # A superseded refresh token inside its grace: hand back the current pair, so a
            # client that lost the first response can recover it.
            self.refresh_cases["grace_replay"] += 1
            return grant.latest()
        remaining = grant.access_expires - now
        if remaining > self._faults.rotation_window:
            self.refresh_cases["case1"] += 1
            return grant
        new = self._issue(grant.app_key, grant.shop_id, grant.shop_name, now)
        grant.successor = new
        if remaining > 0:
            self.refresh_cases["case2"] += 1
            grant.access_expires = now + self._faults.grace
            grant.refresh_expires = min(grant.refresh_expires, now + self._faults.grace)
            self._maybe_lose_reply("lost_replies_before_expiry")
        else:
            self.refresh_cases["case3"] += 1
            grant.revoked = True
            self._maybe_lose_reply("lost_replies_after_expiry")
        return new

    def _maybe_lose_reply(self, fault: str) -> None:
        if getattr(self._faults, fault) > 0:
            setattr(self._faults, fault, getattr(self._faults, fault) - 1)
            self.refresh_cases["reply_lost"] += 1
            raise RefreshReplyLost
