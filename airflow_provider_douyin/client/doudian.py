"""The Doudian shop gateway's wire protocol: signed requests and the code/msg/sub_code/log_id envelope.

Common parameters go in the query string, the business parameters as the raw JSON body, and the body
is exactly the canonical string that was signed, so the gateway's re-serialisation always matches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from airflow_provider_douyin import __version__
from airflow_provider_douyin.client.errors import DouyinRequestError, error_for, http_error_class
from airflow_provider_douyin.client.redaction import register_secret
from airflow_provider_douyin.client.signing import canonical_param_json, sign_request
from airflow_provider_douyin.client.transport import ApiResponse, HttpCall

PRODUCTION_URL = "https://openapi-fxg.jinritemai.com"
USER_AGENT = f"airflow-provider-douyin/{__version__} {requests.utils.default_user_agent()}"

TOKEN_FIELDS = ("access_token", "refresh_token")
AUTHORIZATION_CODE = "code"
"""``token.create``'s authorization code; other methods' ``code`` params are business values."""


class DoudianProtocol:
    """Builds signed Doudian requests and reads the ``code``/``msg``/``sub_code``/``log_id`` envelope.

    Headers: ``Content-Type: application/json``, ``x-open-no-old-err-code: 1`` (drop the legacy
    ``err_no``/``message`` pair) and a User-Agent naming this provider. The official SDKs' ``from: sdk``
    and ``sdk-type`` headers are not sent: this is not one of those SDKs.
    """

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        base_url: str = PRODUCTION_URL,
        sign_method: str = "hmac-sha256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        register_secret(app_secret)
        self.app_key = app_key
        self._app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.sign_method = sign_method
        self._clock = clock

    def __repr__(self) -> str:
        return f"DoudianProtocol(app_key={self.app_key!r}, base_url={self.base_url!r})"

    def prepare(self, method: str, params: Mapping[str, Any] | None, access_token: str | None) -> HttpCall:
        _register_credentials(method, params)
        register_secret(access_token)
        param_json = canonical_param_json(params)
        timestamp = str(int(self._clock()))
        query = [("app_key", self.app_key), ("method", method)]
        if access_token is not None:
            query.append(("access_token", access_token))
        query += [
            ("timestamp", timestamp),
            ("v", "2"),
            ("sign_method", self.sign_method),
            (
                "sign",
                sign_request(
                    app_key=self.app_key,
                    app_secret=self._app_secret,
                    method=method,
                    param_json=param_json,
                    timestamp=timestamp,
                    sign_method=self.sign_method,
                ),
            ),
        ]
        return HttpCall(
            url=f"{self.base_url}/{method.replace('.', '/')}",
            params=query,
            body=param_json.encode(),
            headers={
                "Content-Type": "application/json",
                "x-open-no-old-err-code": "1",
                "User-Agent": USER_AGENT,
            },
        )

    def parse(self, method: str, http_status: int, payload: Any) -> ApiResponse:
        if not isinstance(payload, Mapping):
            cls = http_error_class(http_status) or DouyinRequestError
            raise cls("response JSON is not an envelope object", method=method, http_status=http_status)
        code = payload.get("code")
        success = code in (10000, "10000") or (code is None and payload.get("err_no") in (0, "0"))
        if http_status != 200 or not success:
            raise error_for(payload, method=method, http_status=http_status)
        _register_credentials(method, payload.get("data"))
        return ApiResponse(
            method=method,
            data=payload.get("data"),
            log_id=str(payload.get("log_id") or ""),
            code=None if code is None else int(code),
            http_status=http_status,
        )


def _register_credentials(method: str, fields: Any) -> None:
    if isinstance(fields, Mapping):
        keys = (*TOKEN_FIELDS, AUTHORIZATION_CODE) if method.startswith("token.") else TOKEN_FIELDS
        for key in keys:
            register_secret(fields.get(key))
