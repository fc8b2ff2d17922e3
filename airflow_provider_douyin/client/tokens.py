"""Doudian access/refresh token lifecycle.

Doudian's rules: a refresh in the last hour before access expiry rotates both tokens; the old pair
keeps working for a grace period (an hour) after that rotation, and a refresh of the superseded
refresh token inside the grace answers the current pair; a refresh after access expiry rotates and
kills the old pair at once; an already-rotated (dead) refresh token is refused (50001
``token-invalid``); a refresh while another refresh of the same token is in flight answers 50002
``isv.business-failed:31012``.

So: refreshes are serialised per store in-process, the store is re-read on every token error and
again inside the lock right before a refresh (another worker may have rotated already), a stored
pair is adopted only while its access token is unexpired, both tokens and both absolute expiries are
saved in one write, and 31012 or a refused refresh token means "someone else rotated: re-read and
try again" until the newest stored refresh token itself is refused.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from airflow_provider_douyin.client.errors import (
    DouyinAuthError,
    DouyinError,
    DouyinReauthorizationRequired,
    DouyinRequestError,
    DouyinTokenRaceError,
)
from airflow_provider_douyin.client.redaction import get_logger

log = get_logger(__name__)

REFRESH_TTL = 14 * 86400.0
"""Refresh-token lifetime (14 days); the API does not return it."""

REFUSAL_BACKOFF = (0.25, 0.5, 1.0, 2.0, 2.0)
"""Seconds between store re-reads after a refused refresh token, before re-authorization is concluded."""

TokenCall = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""Performs a token API call (``token.create`` / ``token.refresh``) and returns the envelope's data."""


@dataclass(frozen=True)
class TokenPair:
    """Both tokens with absolute expiries (epoch seconds); repr never shows the token values."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: float
    refresh_expires_at: float
    obtained_at: float
    """When this access token was first issued; with access_expires_at it gives the token's lifetime."""
    shop_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, value: str | Mapping[str, Any]) -> TokenPair:
        """Parse :meth:`to_json` output; errors name the problem, never the content."""
        try:
            raw = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError("stored token pair is not valid JSON") from None
        if not isinstance(raw, Mapping):
            raise ValueError("stored token pair must be a JSON object")
        missing = [
            name
            for name in ("access_token", "refresh_token", "access_expires_at", "refresh_expires_at")
            if raw.get(name) in (None, "")
        ]
        if missing:
            raise ValueError(f"stored token pair lacks {', '.join(missing)}")
        return cls(
            access_token=str(raw["access_token"]),
            refresh_token=str(raw["refresh_token"]),
            access_expires_at=float(raw["access_expires_at"]),
            refresh_expires_at=float(raw["refresh_expires_at"]),
            obtained_at=float(raw.get("obtained_at") or 0.0),
            shop_id=None if raw.get("shop_id") in (None, "") else str(raw["shop_id"]),
        )


class TokenStore(Protocol):
    """Persistence for one shop's token pair; ``save`` must write both tokens in one operation."""

    def load(self) -> TokenPair | None: ...

    def save(self, pair: TokenPair) -> None: ...


class InMemoryTokenStore:
    """Process-local store for tests and short-lived scripts."""

    def __init__(self, pair: TokenPair | None = None) -> None:
        self._pair = pair
        self._lock = threading.Lock()

    def load(self) -> TokenPair | None:
        with self._lock:
            return self._pair

    def save(self, pair: TokenPair) -> None:
        with self._lock:
            self._pair = pair


_locks: dict[Hashable, threading.RLock] = {}
_locks_guard = threading.Lock()


def _lock_for(key: Hashable) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(key, threading.RLock())


class TokenManager:
    """Hands out a valid access token and owns every refresh of one shop's token pair.

    ``auth_mode="self"`` (self-use app) obtains pairs with ``token.create`` ``authorization_self`` for
    ``shop_id``, also when the refresh token has lapsed. ``auth_mode="code"`` (tool app) can only
    refresh: an empty store is seeded from the bootstrap ``refresh_token``, and a dead refresh token
    raises :class:`DouyinReauthorizationRequired`. ``lock_key`` names the store for the in-process
    refresh lock (default: the store's ``key`` attribute, e.g. the Airflow Variable key, else the store
    object); managers with the same key never refresh at once. ``token_call`` sends ``token.create`` /
    ``token.refresh`` and returns their data: the manager's only way to the gateway, never the client.
    ``auth_mode``, ``shop_id`` and ``refresh_token`` arrive validated (a :class:`ShopConfig`'s fields).
    """

    def __init__(
        self,
        *,
        store: TokenStore,
        token_call: TokenCall,
        auth_mode: str = "self",
        shop_id: str | None = None,
        refresh_token: str | None = None,
        label: str = "",
        lock_key: Hashable | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        secret_masker: Callable[[str], None] | None = None,
        rotation_window: float = 3600.0,
        expiry_margin: float = 300.0,
        refresh_ttl: float = REFRESH_TTL,
        race_attempts: int = 5,
        may_refresh: bool = True,
    ) -> None:
        self._store = store
        self._token_call = token_call
        self._auth_mode = auth_mode
        self._shop_id = shop_id
        self._bootstrap_refresh_token = refresh_token
        self._label = label or (f"shop {shop_id}" if shop_id else "this Doudian app")
        self._lock = _lock_for(lock_key if lock_key is not None else getattr(store, "key", None) or id(store))
        self._clock = clock
        self._sleep = sleep
        self._mask = secret_masker or (lambda _secret: None)
        self._rotation_window = rotation_window
        self._expiry_margin = expiry_margin
        self._refresh_ttl = refresh_ttl
        self._race_attempts = race_attempts
        self._may_refresh = may_refresh
        self._cached: TokenPair | None = None
        self._unrotated: str | None = None
        if refresh_token:
            self._mask(refresh_token)

    def current(self) -> TokenPair | None:
        """The stored pair, without refreshing anything."""
        return self._store.load()

    def access_token(self) -> str:
        """A token valid for the next call, refreshing only when it is (nearly) expired."""
        pair = self._cached
        if pair is None or self._stale(pair):
            pair = self._refresh_if(self._stale)
        return pair.access_token

    def refresh(self, *, force: bool = False) -> TokenPair:
        """Maintenance path: rotate when inside ``rotation_window`` of access expiry (or ``force``)."""
        return self._refresh_if(
            lambda pair: force or self._clock() >= pair.access_expires_at - self._rotation_window
        )

    def invalidate(self, failed_access_token: str) -> str:
        """After the gateway rejected ``failed_access_token``: adopt a newer stored token or refresh once."""
        return self._refresh_if(lambda pair: pair.access_token == failed_access_token).access_token

    def _stale(self, pair: TokenPair) -> bool:
        # The margin is capped at 10% of the pair's lifetime so compressed (sandbox) lifetimes of a few
        # seconds do not put every call inside the margin. A pair the gateway declined to rotate
        # (refreshed too early) is used until it actually expires instead of being refreshed per call.
        now = self._clock()
        if pair.access_token == self._unrotated:
            return now >= pair.access_expires_at
        lifetime = max(pair.access_expires_at - pair.obtained_at, 0.0)
        return now >= pair.access_expires_at - min(self._expiry_margin, 0.1 * lifetime)

    def _refresh_if(self, needed: Callable[[TokenPair], bool]) -> TokenPair:
        with self._lock:
            attempt, tried = 0, None
            while True:
                attempt += 1
                pair = self._store.load()
                if self._usable(pair) and ((attempt > 1 and pair != tried) or not needed(pair)):
                    return self._adopt(pair)
                tried = pair
                if not self._may_refresh:
                    raise DouyinAuthError(
                        f"the stored token for {self._label} needs a refresh, which this caller may not do",
                        method="token.refresh",
                        hint="a worker task refreshes it (DouyinTokenRefreshOperator or the next sync)",
                    )
                try:
                    fresh = self._obtain(pair)
                except DouyinTokenRaceError:
                    if attempt >= self._race_attempts:
                        raise
                    log.warning("Concurrent token refresh for %s (31012); re-reading the store", self._label)
                    self._sleep(random.uniform(0.2, 1.0))
                    continue
                except DouyinReauthorizationRequired as exc:
                    refused_by_gateway = exc.method == "token.refresh" and exc.code is not None
                    if not refused_by_gateway or not self._store_moves_past(pair):
                        raise
                    continue
                self._store.save(fresh)
                log.info(
                    "Saved Doudian token pair for %s: access expires at %.0f, refresh expires at %.0f",
                    self._label,
                    fresh.access_expires_at,
                    fresh.refresh_expires_at,
                )
                unrotated = pair is not None and fresh.access_token == pair.access_token
                self._unrotated = fresh.access_token if unrotated else None
                return self._adopt(fresh)

    def _usable(self, pair: TokenPair | None) -> bool:
        return pair is not None and self._clock() < pair.access_expires_at

    def _store_moves_past(self, refused: TokenPair | None) -> bool:
        """After a refused refresh: wait (bounded) for another worker to save a newer pair.

        A refresh token is refused once another worker has rotated it after access expiry, and that
        worker saves the new pair only after the gateway answered it; so a refusal is final only
        when the store still holds the refused refresh token after the backoff.
        """
        refused_token = refused.refresh_token if refused else self._bootstrap_refresh_token
        for delay in REFUSAL_BACKOFF:
            pair = self._store.load()
            if pair is not None and pair.refresh_token != refused_token:
                log.warning("Refresh token for %s was refused; adopting a newer stored pair", self._label)
                return True
            self._sleep(delay)
        pair = self._store.load()
        return pair is not None and pair.refresh_token != refused_token

    def _adopt(self, pair: TokenPair) -> TokenPair:
        if pair != self._cached:
            self._mask(pair.access_token)
            self._mask(pair.refresh_token)
            self._cached = pair
        return pair

    def _obtain(self, previous: TokenPair | None) -> TokenPair:
        refresh_token = self._live_refresh_token(previous)
        try:
            if refresh_token:
                try:
                    params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
                    return self._pair_from("token.refresh", params, previous)
                except DouyinReauthorizationRequired:
                    if self._auth_mode == "code":
                        raise
            if self._auth_mode == "self":
                return self._pair_from("token.create", self._create_params(), previous)
        except DouyinReauthorizationRequired as exc:
            raise self._reauth(f"{exc.method} was refused", exc) from None
        raise self._reauth(
            "the stored refresh token has expired"
            if previous
            else "the token store is empty and no bootstrap refresh_token is configured"
        )

    def _live_refresh_token(self, previous: TokenPair | None) -> str | None:
        if previous is not None:
            return previous.refresh_token if self._clock() < previous.refresh_expires_at else None
        return self._bootstrap_refresh_token if self._auth_mode == "code" else None

    def _create_params(self) -> dict[str, str]:
        return {"code": "", "grant_type": "authorization_self", "shop_id": str(self._shop_id)}

    def _pair_from(self, method: str, params: Mapping[str, Any], previous: TokenPair | None) -> TokenPair:
        data = self._token_call(method, params)
        try:
            access, refresh = str(data["access_token"]), str(data["refresh_token"])
            self._mask(access)
            self._mask(refresh)
            expires_in = float(data["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise DouyinRequestError(
                "token response lacks access_token, refresh_token or a numeric expires_in", method=method
            ) from None
        now = self._clock()
        shop_id = data.get("shop_id") or self._shop_id or (previous.shop_id if previous else None)
        pair = TokenPair(
            access_token=access,
            refresh_token=refresh,
            access_expires_at=now + expires_in,
            refresh_expires_at=now + self._refresh_ttl,
            obtained_at=now,
            shop_id=str(shop_id) if shop_id else None,
        )
        if previous is not None and refresh == previous.refresh_token:
            pair = replace(pair, refresh_expires_at=previous.refresh_expires_at)
        if previous is not None and access == previous.access_token:
            pair = replace(pair, obtained_at=previous.obtained_at)
        return pair

    def _reauth(self, reason: str, cause: DouyinError | None = None) -> DouyinReauthorizationRequired:
        if self._auth_mode == "code":
            fix = (
                "have the shop authorize the app again to get a new authorization code, exchange it with "
                "token.create (grant_type authorization_code), and re-run the token bootstrap with the new "
                "refresh token"
            )
        else:
            fix = "check the shop's authorization of the app in the Doudian console, then re-run the token "
            fix += "bootstrap (token.create, authorization_self)"
        if cause is None:
            hint = f"Re-authorization needed for {self._label}: {fix}."
            return DouyinReauthorizationRequired(reason, method="token.refresh", hint=hint)
        return DouyinReauthorizationRequired(
            cause.msg,
            method=cause.method,
            code=cause.code,
            sub_code=cause.sub_code,
            sub_msg=cause.sub_msg,
            log_id=cause.log_id,
            http_status=cause.http_status,
            hint=f"Re-authorization needed for {self._label} ({reason}): {fix}.",
        )
