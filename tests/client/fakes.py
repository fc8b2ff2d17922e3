"""Test doubles: a controllable clock and a fake Doudian gateway with token.refresh's rotation rules."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_douyin.client.errors import error_for
from airflow_provider_douyin.client.signing import sign_request
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


class FakeGateway:
    """Doudian token semantics: 7 d / 14 d lifetimes, the three refresh cases, the 1-hour grace and 31012.

    ``handle`` answers one call with an envelope; ``token_call`` adapts it to the TokenManager's call
    signature; ``mock_callback`` adapts it to requests-mock and checks the sign over the received body.
    ``while_refreshing`` runs inside an in-flight refresh so tests can make another one arrive concurrently.
    """

    ACCESS_TTL = 7 * DAY
    REFRESH_TTL = 14 * DAY
    GRACE = 3600.0

    def __init__(self, clock: Callable[[], float], *, access_ttl: float = ACCESS_TTL) -> None:
        self.clock = clock
        self.access_ttl = access_ttl
        self.access: dict[str, float] = {}
        self.refresh: dict[str, tuple[float, str]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.issued: list[str] = []
        self.rotations = 0
        self.races = 0
        self.while_refreshing: Callable[[], None] | None = None
        self.raced = threading.Event()
        self.data_responses: dict[str, Any] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self._refreshing = False

    def issue(self) -> dict[str, Any]:
        n = next(self._serial)
        access, refresh = f"act.fake-access-{n:03d}-9c1d", f"rft.fake-refresh-{n:03d}-4b7e"
        now = self.clock()
        self.issued += [access, refresh]
        self.access[access] = now + self.access_ttl
        self.refresh[refresh] = (now + self.REFRESH_TTL, access)
        return self._token_data(access, refresh)

    def register(self, pair: TokenPair) -> None:
        """Make the gateway know a pair that a token store already holds."""
        self.access[pair.access_token] = pair.access_expires_at
        self.refresh[pair.refresh_token] = (pair.refresh_expires_at, pair.access_token)

    def _token_data(self, access: str, refresh: str) -> dict[str, Any]:
        expires_in = int(self.access[access] - self.clock())
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": expires_in,
            "scope": "SCOPE",
            "shop_id": int(SHOP_ID),
            "shop_name": "测试店铺",
        }

    def handle(
        self, method: str, params: Mapping[str, Any], access_token: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((method, dict(params)))
        if method == "token.create":
            with self._lock:
                return envelope(data=self.issue())
        if method == "token.refresh":
            return self._refresh(str(params.get("refresh_token")))
        expiry = self.access.get(access_token or "")
        if expiry is None:
            return envelope(40003, sub_code="isv.access-token-no-existed", msg="非法的参数（平台校验）")
        if self.clock() >= expiry:
            return envelope(40003, sub_code="isv.access-token-expired", msg="非法的参数（平台校验）")
        return envelope(data=self.data_responses.get(method, {"method": method}))

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        with self._lock:
            if self._refreshing:
                self.races += 1
                self.raced.set()
                return envelope(
                    50002, sub_code="isv.business-failed:31012", sub_msg="刷新token失败，有并发请求"
                )
            self._refreshing = True
        try:
            if self.while_refreshing:
                self.while_refreshing()
            with self._lock:
                return self._rotate(refresh_token)
        finally:
            self._refreshing = False

    def _rotate(self, refresh_token: str) -> dict[str, Any]:
        now = self.clock()
        known = self.refresh.get(refresh_token)
        if known is None:
            return envelope(50001, sub_code="dop.token-generate-failed:token-invalid", msg="平台处理失败")
        refresh_expiry, access = known
        if now >= refresh_expiry:
            return envelope(50001, sub_code="dop.token-generate-failed:token-expired", msg="平台处理失败")
        remaining = self.access.get(access, now) - now
        if remaining > self.GRACE:  # case 1: too early, same pair
            return envelope(data=self._token_data(access, refresh_token))
        self.rotations += 1
        if remaining > 0:  # case 2: the old pair lives one more hour
            self.access[access] = now + self.GRACE
            self.refresh[refresh_token] = (now + self.GRACE, access)
        else:  # case 3: the old pair dies now
            self.access.pop(access, None)
            self.refresh.pop(refresh_token)
        return envelope(data=self.issue())

    def token_call(self, method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        env = self.handle(method, params)
        if env["code"] != 10000:
            raise error_for(env, method=method, http_status=200)
        return env["data"]

    def mock_callback(self, request: Any, context: Any) -> dict[str, Any]:
        query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        expected = sign_request(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            method=query["method"],
            param_json=body,
            timestamp=query["timestamp"],
            sign_method=query["sign_method"],
        )
        context.status_code = 200
        if query["sign"] != expected:
            return envelope(40003, sub_code="isv.signature-invalid", sub_msg="签名校验失败")
        return self.handle(query["method"], json.loads(body), query.get("access_token"))
