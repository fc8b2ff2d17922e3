"""OAuth 2.0 token rules of the Open Platform, with lifetimes read from the runtime knobs.

* ``client_credential`` → a client token (2 h). A new fetch leaves the previous token
  ``client_token_grace`` (5 min) to live and kills every older one at once, so only the
  latest two are ever valid. More than 500 calls per client_key in 5 minutes → 10020; the
  rejected calls count too.
* ``authorization_code`` → a user access token (15 d) and refresh token (30 d); the code is
  single use and lives ``auth_code_ttl``.
* ``refresh_token`` → a new access token (15 d); the refresh token and its expiry stay. The
  previous access token keeps working until its own expiry.
* ``renew_refresh_token`` → a new refresh token (30 d); the old one dies at once; at most
  ``open_renewals`` (5) renewals per authorisation, then 10020.

Every method takes ``now`` so the caller decides which clock is in force. Token strings are
random per server and never logged.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from ..config import FaultConfig
from .envelope import (
    ACCESS_TOKEN_EXPIRED_OAUTH,
    AUTH_CODE_EXPIRED,
    LIMIT_EXCEEDED,
    MISSING_PARAMS,
    PARAM_INVALID,
    REFRESH_TOKEN_EXPIRED,
    Alternating,
    OpenError,
)

CLIENT_FETCH_LIMIT = 500
CLIENT_FETCH_WINDOW = 300.0
DEFAULT_SCOPE = "user_info,renew_refresh_token"


def _token(prefix: str) -> str:
    return prefix + secrets.token_hex(20)


@dataclass
class ClientToken:
    client_key: str
    token: str
    expires_at: float
    dies_at: float = math.inf
    """When a newer fetch invalidates it (grace for the previous token, at once for older ones)."""


@dataclass
class UserGrant:
    """One authorisation of a Douyin user: the live refresh token and its renewal count."""

    client_key: str
    open_id: str
    account_id: int
    scope: str
    refresh_token: str
    refresh_expires: float
    renewals: int = 0


class TokenRules:
    """Client tokens, user grants and authorisation codes of one server."""

    def __init__(self, clients: dict[str, str], faults: FaultConfig) -> None:
        self.clients = clients
        self._faults = faults
        self._lock = threading.Lock()
        self._client_tokens: dict[str, ClientToken] = {}
        self._latest_client: dict[str, list[ClientToken]] = {}
        self._fetch_times: dict[str, deque[float]] = {}
        self._grants_by_refresh: dict[str, UserGrant] = {}
        self._access: dict[str, tuple[UserGrant, float]] = {}
        self._codes: dict[str, tuple[int, str, str, float]] = {}
        self.expired = Alternating(2190008, 28001008)
        self.invalid = Alternating(2190002, 28001003)
        self.client_fetches: Counter[str] = Counter()
        self.client_rejections: Counter[str] = Counter()
        self.user_calls: Counter[str] = Counter()

    # ----------------------------------------------------------------- credentials
    def _check_client(self, client_key: str, secret: str | None) -> None:
        """``secret=None`` for the endpoints that take no client_secret."""
        known = self.clients.get(client_key)
        if known is None or (secret is not None and not secrets.compare_digest(known, secret)):
            raise OpenError(PARAM_INVALID, "client_key或client_secret不合法")

    # ----------------------------------------------------------------- client tokens
    def fetch_client_token(self, params: dict[str, str], now: float) -> dict[str, Any]:
        client_key, secret = params.get("client_key", ""), params.get("client_secret", "")
        if not client_key or not secret or not params.get("grant_type"):
            raise OpenError(MISSING_PARAMS, "缺少参数client_key、client_secret或grant_type")
        if params["grant_type"] != "client_credential":
            raise OpenError(PARAM_INVALID, "grant_type必须为client_credential")
        self._check_client(client_key, secret)
        with self._lock:
            window = self._fetch_times.setdefault(client_key, deque())
            window.append(now)
            while window and window[0] <= now - CLIENT_FETCH_WINDOW:
                window.popleft()
            if len(window) > CLIENT_FETCH_LIMIT:
                self.client_rejections[client_key] += 1
                raise OpenError(LIMIT_EXCEEDED, "client_token调用次数超限，5分钟内最多500次")
            token = ClientToken(client_key, _token("clt."), now + self._faults.client_token_ttl)
            live = self._latest_client.setdefault(client_key, [])
            for older in live[:-1]:
                older.dies_at = min(older.dies_at, now)
            if live:
                live[-1].dies_at = min(live[-1].dies_at, now + self._faults.client_token_grace)
            self._latest_client[client_key] = [*live[-1:], token]
            self._client_tokens[token.token] = token
            self.client_fetches[client_key] += 1
        return {"access_token": token.token, "expires_in": int(self._faults.client_token_ttl)}

    def check_client_token(self, token: str, now: float) -> ClientToken:
        """The client token behind a goodlife call, or the expired/invalid error."""
        found = self._client_tokens.get(token) if token else None
        if found is None or now >= found.dies_at:
            raise self.invalid.error()
        if now >= found.expires_at:
            raise self.expired.error()
        return found

    # ----------------------------------------------------------------- user tokens
    def issue_code(self, account_id: int, open_id: str, scope: str, now: float) -> str:
        """A single-use code, as the authorise page would redirect with; any sandbox app may redeem it."""
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = (
                account_id,
                open_id,
                scope or DEFAULT_SCOPE,
                now + self._faults.auth_code_ttl,
            )
        return code

    def exchange_code(self, params: dict[str, str], now: float) -> dict[str, Any]:
        client_key, secret, code = (params.get(k, "") for k in ("client_key", "client_secret", "code"))
        if not client_key or not secret or not code or not params.get("grant_type"):
            raise OpenError(MISSING_PARAMS, "缺少参数client_key、client_secret、code或grant_type")
        if params["grant_type"] != "authorization_code":
            raise OpenError(PARAM_INVALID, "grant_type必须为authorization_code")
        self._check_client(client_key, secret)
        with self._lock:
            entry = self._codes.pop(code, None)
            if entry is None or now >= entry[3]:
                raise OpenError(AUTH_CODE_EXPIRED, "授权码已过期或已使用")
            account_id, open_id, scope, _ = entry
            grant = UserGrant(
                client_key, open_id, account_id, scope, _token("rft."), now + self._faults.open_refresh_ttl
            )
            self._grants_by_refresh[grant.refresh_token] = grant
            access = self._new_access(grant, now)
            self.user_calls["access_token"] += 1
        return self._user_reply(grant, access, now)

    def refresh_access(self, params: dict[str, str], now: float) -> dict[str, Any]:
        client_key, refresh = params.get("client_key", ""), params.get("refresh_token", "")
        if not client_key or not refresh or not params.get("grant_type"):
            raise OpenError(MISSING_PARAMS, "缺少参数client_key、refresh_token或grant_type")
        if params["grant_type"] != "refresh_token":
            raise OpenError(PARAM_INVALID, "grant_type必须为refresh_token")
        self._check_client(client_key, None)
        with self._lock:
            grant = self._live_grant(client_key, refresh, now)
            access = self._new_access(grant, now)
            self.user_calls["refresh_token"] += 1
        return self._user_reply(grant, access, now)

    def renew_refresh(self, params: dict[str, str], now: float) -> dict[str, Any]:
        client_key, refresh = params.get("client_key", ""), params.get("refresh_token", "")
        if not client_key or not refresh:
            raise OpenError(MISSING_PARAMS, "缺少参数client_key或refresh_token")
        self._check_client(client_key, None)
        with self._lock:
            grant = self._live_grant(client_key, refresh, now)
            if grant.renewals >= self._faults.open_renewals:
                self.user_calls["renew_refused"] += 1
                raise OpenError(LIMIT_EXCEEDED, "refresh_token刷新次数超限，请用户重新授权")
            del self._grants_by_refresh[grant.refresh_token]
            grant.refresh_token = _token("rft.")
            grant.refresh_expires = now + self._faults.open_refresh_ttl
            grant.renewals += 1
            self._grants_by_refresh[grant.refresh_token] = grant
            self.user_calls["renew_refresh_token"] += 1
        return {"refresh_token": grant.refresh_token, "expires_in": int(self._faults.open_refresh_ttl)}

    def user_info(self, params: dict[str, str], now: float) -> dict[str, Any]:
        token, open_id = params.get("access_token", ""), params.get("open_id", "")
        if not token or not open_id:
            raise OpenError(MISSING_PARAMS, "缺少参数access_token或open_id")
        entry = self._access.get(token)
        if entry is None or entry[0].open_id != open_id:
            raise self.invalid.error()
        grant, expires = entry
        if now >= expires:
            raise OpenError(ACCESS_TOKEN_EXPIRED_OAUTH, "access_token已过期")
        return {
            "open_id": grant.open_id,
            "union_id": f"{grant.open_id}-union",
            "nickname": "来客沙盒用户",
            "avatar": "https://p3.douyinpic.com/aweme/100x100/sandbox-avatar.jpeg",
            "e_account_role": "",
        }

    def check_user_token(self, token: str, now: float) -> UserGrant:
        """The grant behind a user-token call, or the expired/invalid error."""
        entry = self._access.get(token) if token else None
        if entry is None:
            raise self.invalid.error()
        grant, expires = entry
        if now >= expires:
            raise self.expired.error()
        return grant

    def _live_grant(self, client_key: str, refresh: str, now: float) -> UserGrant:
        """A refresh token that is unknown, superseded by a renewal or expired is refused alike."""
        grant = self._grants_by_refresh.get(refresh)
        if grant is None or grant.client_key != client_key or now >= grant.refresh_expires:
            raise OpenError(REFRESH_TOKEN_EXPIRED, "refresh_token已过期或无效，请用户重新授权")
        return grant

    def _new_access(self, grant: UserGrant, now: float) -> str:
        token = _token("act.")
        self._access[token] = (grant, now + self._faults.open_access_ttl)
        return token

    def _user_reply(self, grant: UserGrant, access: str, now: float) -> dict[str, Any]:
        return {
            "access_token": access,
            "expires_in": int(self._faults.open_access_ttl),
            "open_id": grant.open_id,
            "refresh_expires_in": max(0, int(grant.refresh_expires - now)),
            "refresh_token": grant.refresh_token,
            "scope": grant.scope,
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            keys = sorted(set(self.client_fetches) | set(self.client_rejections))
            return {
                "client_token": {
                    k: {"fetched": self.client_fetches[k], "rejected": self.client_rejections[k]}
                    for k in keys
                },
                "user_token": dict(self.user_calls),
            }

    def reset_stats(self) -> None:
        with self._lock:
            self.client_fetches.clear()
            self.client_rejections.clear()
            self.user_calls.clear()
