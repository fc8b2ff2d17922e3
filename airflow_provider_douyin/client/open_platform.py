"""The Douyin Open Platform's wire protocol (open.douyin.com).

Unlike Doudian, nothing is signed: the token travels in an ``access-token`` header, queries are GET
with query parameters, and the OAuth endpoints take the app's ``client_key``/``client_secret`` in the
body. The method name of a call is its path (``/goodlife/v1/trade/order/query/``), as in Douyin's own
documentation; :data:`ENDPOINTS` declares how each known path is called, and ``"GET /path/"`` or
``"POST /path/"`` calls any other.

A success needs HTTP 200 and a zero code wherever the envelope carries one: ``extra.error_code``,
``extra.sub_error_code`` and ``data.error_code`` on the new-style APIs (codes may arrive as numeric
strings), ``err_no`` on the older ``{err_no, err_msg, log_id, data}`` APIs. A reply without any code
or without ``data`` proves nothing and is an error, never an empty answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import requests

from airflow_provider_douyin import __version__
from airflow_provider_douyin.client.errors import DouyinRequestError, DouyinResponseShapeError
from airflow_provider_douyin.client.open_errors import as_code, open_error_for
from airflow_provider_douyin.client.redaction import register_secret
from airflow_provider_douyin.client.transport import ApiResponse, HttpCall

OPEN_PRODUCTION_URL = "https://open.douyin.com"
USER_AGENT = f"airflow-provider-douyin/{__version__} {requests.utils.default_user_agent()}"

CREDENTIAL_FIELDS = ("access_token", "refresh_token", "client_secret", "code")
"""Values registered for redaction whenever they appear in a request or a token reply."""


@dataclass(frozen=True)
class OpenEndpoint:
    """How one Open Platform path is called and what it needs."""

    path: str
    http_method: Literal["GET", "POST"] = "GET"
    body: Literal["query", "json", "form"] = "query"
    token: Literal["client", "user", "none"] = "client"
    """Which token goes in the ``access-token`` header: the app's client token, a user's, or none."""
    scope: str = ""
    """The permission the app (client token) or the user (user token) must hold, named in errors."""


CLIENT_TOKEN = "/oauth/client_token/"
ACCESS_TOKEN = "/oauth/access_token/"
REFRESH_TOKEN = "/oauth/refresh_token/"
RENEW_REFRESH_TOKEN = "/oauth/renew_refresh_token/"
LIFE_ORDER_QUERY = "/goodlife/v1/trade/order/query/"
LIFE_PRODUCT_ONLINE_QUERY = "/goodlife/v1/goods/product/online/query/"
LIFE_VERIFY_RECORD_QUERY = "/goodlife/v1/fulfilment/certificate/verify_record/query/"
LIFE_AFTER_SALE_QUERY = "/goodlife/v1/akte/after_sale/order/query/"
# A Douyin user's own data, read with that user's token (``act.…``) and their ``open_id`` in the query.
ROOM_IDS = "/room/data/room_id/get/"
ROOM_BASE = "/room/data/base/get/"
ROOM_AUDIENCE = "/room/data/audience/get/"
ROOM_INTERACTIVE = "/room/data/interactive/get/"
VIDEO_LIST = "/api/douyin/v1/video/video_list/"
FANS_DATA = "/api/douyin/v1/user/fans_data/"
ITEM_DATA = {metric: f"/data/external/item/{metric}/" for metric in ("like", "comment", "play", "share")}
"""Per-video daily series; only videos created within the last 30 days answer (doc:
https://developer.open-douyin.com/docs/resource/zh-CN/dop/develop/openapi/data-open-service/video-data/get-share-data)."""
USER_SERIES = ("item", "fans", "like", "comment", "share", "profile")
USER_DATA = {series: f"/data/external/user/{series}/" for series in USER_SERIES}
"""The account's daily series, one path per series."""
ITEM_SCOPE = "data.external.item"

ENDPOINTS: dict[str, OpenEndpoint] = {
    endpoint.path: endpoint
    for endpoint in (
        OpenEndpoint(CLIENT_TOKEN, "POST", "json", token="none"),
        OpenEndpoint(ACCESS_TOKEN, "POST", "form", token="none"),
        OpenEndpoint(REFRESH_TOKEN, "POST", "form", token="none"),
        OpenEndpoint(RENEW_REFRESH_TOKEN, "POST", "form", token="none", scope="renew_refresh_token"),
        OpenEndpoint(LIFE_ORDER_QUERY, scope="life.capacity.order.query"),
        OpenEndpoint(LIFE_PRODUCT_ONLINE_QUERY, scope="life.capacity.goods.query"),
        OpenEndpoint(LIFE_VERIFY_RECORD_QUERY),
        OpenEndpoint(LIFE_AFTER_SALE_QUERY),
        *(
            OpenEndpoint(path, token="user")
            for path in (ROOM_IDS, ROOM_BASE, ROOM_AUDIENCE, ROOM_INTERACTIVE, VIDEO_LIST, FANS_DATA)
        ),
        *(OpenEndpoint(path, token="user", scope=ITEM_SCOPE) for path in ITEM_DATA.values()),
        *(OpenEndpoint(path, token="user") for path in USER_DATA.values()),
    )
}

TOKEN_ENDPOINTS = frozenset(path for path, endpoint in ENDPOINTS.items() if endpoint.token == "none")


def endpoint_for(method: str) -> OpenEndpoint:
    """The declared endpoint for ``method``: a known path, or ``"GET /path/"`` / ``"POST /path/"``."""
    verb, _, path = method.partition(" ")
    if not path:
        if method in ENDPOINTS:
            return ENDPOINTS[method]
        raise DouyinRequestError(
            f"unknown Open Platform path {method!r}; call it as 'GET {method}' or 'POST {method}'",
            method=method,
        )
    if verb not in ("GET", "POST") or not path.startswith("/"):
        raise DouyinRequestError(f"method {method!r} must read 'GET /path/' or 'POST /path/'", method=method)
    known = ENDPOINTS.get(path)
    if known is not None and known.http_method == verb:
        return known
    return OpenEndpoint(path, verb, "query" if verb == "GET" else "json")


class OpenPlatformProtocol:
    """Builds Open Platform requests and reads its two envelope styles.

    ``life_account_id`` (the 来客 root account) is sent as ``Rpc-Transit-Life-Account`` on every
    life-service call when set. The client secret goes only into the OAuth endpoints' bodies.
    """

    def __init__(
        self,
        *,
        client_key: str,
        client_secret: str,
        base_url: str = OPEN_PRODUCTION_URL,
        life_account_id: str | None = None,
    ) -> None:
        register_secret(client_secret)
        self.client_key = client_key
        self._client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self.life_account_id = life_account_id

    def __repr__(self) -> str:
        return f"OpenPlatformProtocol(client_key={self.client_key!r}, base_url={self.base_url!r})"

    def prepare(self, method: str, params: Mapping[str, Any] | None, access_token: str | None) -> HttpCall:
        endpoint = endpoint_for(method)
        fields = dict(params or {})
        for name in CREDENTIAL_FIELDS:
            register_secret(fields.get(name))
        register_secret(access_token)
        headers = {"User-Agent": USER_AGENT}
        if endpoint.path in TOKEN_ENDPOINTS:
            fields = {"client_key": self.client_key, **fields}
            if endpoint.path in (CLIENT_TOKEN, ACCESS_TOKEN):
                fields["client_secret"] = self._client_secret
        elif access_token is None:
            raise DouyinRequestError("this Open Platform call needs an access token", method=method)
        else:
            headers["access-token"] = access_token
        if self.life_account_id and endpoint.path.startswith("/goodlife/"):
            headers["Rpc-Transit-Life-Account"] = self.life_account_id
        query: list[tuple[str, str]] = []
        body: bytes | None = None
        if endpoint.body == "query":
            query = [(key, _query_value(value)) for key, value in fields.items() if value is not None]
            headers["Content-Type"] = "application/json"
        elif endpoint.body == "json":
            body = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = urlencode({key: _query_value(value) for key, value in fields.items()}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return HttpCall(
            url=f"{self.base_url}{endpoint.path}",
            params=query,
            body=body,
            headers=headers,
            http_method=endpoint.http_method,
        )

    def parse(self, method: str, http_status: int, payload: Any) -> ApiResponse:
        if not isinstance(payload, Mapping):
            raise open_error_for({}, method=method, http_status=http_status, scope=_scope(method))
        data = payload.get("data")
        codes = _codes(payload)
        if http_status != 200 or any(code != 0 for code in codes.values()):
            raise open_error_for(payload, method=method, http_status=http_status, scope=_scope(method))
        log_id = _log_id(payload)
        if not codes or not isinstance(data, Mapping):
            raise DouyinResponseShapeError(
                "success reply without "
                + ("any error code" if not codes else f"a data object (data is {type(data).__name__})"),
                method=method,
                log_id=log_id,
                http_status=http_status,
            )
        for name in CREDENTIAL_FIELDS:
            register_secret(data.get(name))
        return ApiResponse(
            method=method,
            data=data,
            log_id=log_id,
            code=0,
            http_status=http_status,
            server_time=_server_time(payload),
        )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_query_value(item) for item in value)
    return str(value)


def _scope(method: str) -> str:
    try:
        return endpoint_for(method).scope
    except DouyinRequestError:
        return ""


def _codes(payload: Mapping[str, Any]) -> dict[str, int | None]:
    """Every status code the envelope carries, by where it was found (unparseable codes are None)."""
    found: dict[str, int | None] = {}
    extra, data = payload.get("extra"), payload.get("data")
    if isinstance(extra, Mapping):
        for key in ("error_code", "sub_error_code"):
            if key in extra:
                found[f"extra.{key}"] = as_code(extra[key])
    if isinstance(data, Mapping) and "error_code" in data:
        found["data.error_code"] = as_code(data["error_code"])
    if "err_no" in payload:
        found["err_no"] = as_code(payload["err_no"])
    return found


def _server_time(payload: Mapping[str, Any]) -> float | None:
    """``extra.now`` (milliseconds, a number or a numeric string) in epoch seconds, or None."""
    extra = payload.get("extra")
    now = extra.get("now") if isinstance(extra, Mapping) else None
    if isinstance(now, bool):
        return None
    try:
        return float(now) / 1000 if now not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _log_id(payload: Mapping[str, Any]) -> str:
    extra = payload.get("extra")
    logid = extra.get("logid") if isinstance(extra, Mapping) else None
    return str(logid or payload.get("log_id") or "")
