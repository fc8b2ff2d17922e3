"""Typed errors for failed Douyin Open Platform replies.

The Open Platform's codes map onto the same remedy-named classes as Doudian's, so callers decide
what to do the same way on both platforms: retry (busy, rate limited), refresh the token and retry
once (expired or invalid token), stop and ask a human (scope not granted, authorization gone,
renewals used up), or stop (bad parameters). Codes come from the public status-code pages:
https://developer.open-douyin.com/docs/resource/zh-cn/dop/develop/openapi/status-code and
https://developer.open-douyin.com/docs/resource/zh-CN/local-life/connect/returns-a-status-code .
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_douyin.client.errors import (
    DouyinAuthError,
    DouyinError,
    DouyinReauthorizationRequired,
    DouyinRequestError,
    DouyinResponseShapeError,
    DouyinThrottledError,
    DouyinTransientError,
    http_error_class,
)

CLIENT_TOKEN_PATH = "/oauth/client_token/"

TRANSIENT = frozenset({28001005, 28001006, 2100004, 2119002, 3000001, 5000001})
"""Busy, network error, retryable business errors."""
THROTTLED = frozenset({28003018, 2119003})
"""Request rate too high for the app."""
TOKEN_REJECTED = frozenset({28001008, 28001003, 2190008, 2190002, 10008})
"""The access token expired or is invalid: refresh it (or adopt a newer stored one) and retry once."""
NOT_GRANTED = frozenset({28001012, 2190004, 2100007, 10004})
"""The app or the user lacks the permission (scope) for this call."""
REFRESH_TOKEN_EXPIRED = 10010
RENEWALS_EXHAUSTED = 10020
"""Refresh token renewed five times already; on ``/oauth/client_token/`` the same code means more
than 500 client-token fetches within 5 minutes."""
MERCHANT_NOT_AUTHORIZED = 2119005
USE_CURSOR = 4000002
QUOTA_USED_UP = frozenset({28003017, 2190001})

_SCOPE_HINT = (
    "The call needs the scope {scope}. For the app's own calls (client token, e.g. 抖音来客 life "
    "services) apply for the capability in the Douyin Open Platform developer console "
    "(开发者后台 → 能力管理); for user data the user must authorize the app again including the scope "
    "(douyin-oauth url, then douyin-oauth exchange)."
)
_REAUTH_HINT = (
    "The user's authorization has ended: print the authorization URL with "
    "`douyin-oauth url --conn-id <conn_id>`, have the Douyin account holder open it and approve, then "
    "store the new tokens with `douyin-oauth exchange --conn-id <conn_id> <code>`."
)
_CLIENT_TOKEN_CAP_HINT = (
    "More than 500 client-token fetches in 5 minutes. Each fetch also retires the previous token after "
    "5 minutes, so every task must reuse the stored client token: check that all tasks of this "
    "client_key share one Douyin connection (one token store) and that no other system fetches tokens "
    "with the same client_key."
)
_MERCHANT_HINT = (
    "The 来客 merchant account has not authorized this app: the merchant grants it in the 来客 "
    "merchant console, and account_id on the connection must name that merchant."
)
_CURSOR_HINT = "The API refuses deep page_num paging here: page with cursor instead."
_QUOTA_HINT = "The app's call quota is used up; it resets on the platform's schedule (see the console)."


def as_code(value: Any) -> int | None:
    """A status code sent as a number or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def open_error_for(
    payload: Mapping[str, Any], *, method: str, http_status: int | None = None, scope: str = ""
) -> DouyinError:
    """The typed error for a failed Open Platform reply; an HTTP 429/5xx status decides first."""
    extra = payload.get("extra") if isinstance(payload.get("extra"), Mapping) else {}
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
    code, sub_code = _first_failure(payload, extra, data)
    cls, hint = _classify(code, method, scope)
    cls = http_error_class(http_status) or cls
    description = extra.get("description") or data.get("description") or payload.get("err_msg")
    if code is None and not description:
        description = "response is not an Open Platform envelope"
    return cls(
        str(description or ""),
        method=method,
        code=code,
        sub_code="" if sub_code in (None, 0) else str(sub_code),
        sub_msg=str(extra.get("sub_description") or ""),
        log_id=str(extra.get("logid") or payload.get("log_id") or ""),
        http_status=http_status,
        hint=hint,
    )


def _first_failure(
    payload: Mapping[str, Any], extra: Mapping[str, Any], data: Mapping[str, Any]
) -> tuple[int | None, Any]:
    """The code that says what failed: the business code in ``data`` first, then the gateway's."""
    sub_code = extra.get("sub_error_code")
    for raw in (data.get("error_code"), extra.get("error_code"), payload.get("err_no")):
        code = as_code(raw)
        if code not in (None, 0):
            return code, sub_code
    sub = as_code(sub_code)
    return (sub, None) if sub not in (None, 0) else (None, sub_code)


def _classify(code: int | None, method: str, scope: str) -> tuple[type[DouyinError], str]:
    if code in TRANSIENT:
        return DouyinTransientError, ""
    if code in THROTTLED:
        return DouyinThrottledError, ""
    if code in TOKEN_REJECTED:
        return DouyinAuthError, ""
    if code in NOT_GRANTED:
        return DouyinRequestError, _SCOPE_HINT.format(scope=scope or "that this API's documentation names")
    if code == RENEWALS_EXHAUSTED and method.endswith(CLIENT_TOKEN_PATH):
        return DouyinRequestError, _CLIENT_TOKEN_CAP_HINT
    if code in (REFRESH_TOKEN_EXPIRED, RENEWALS_EXHAUSTED):
        return DouyinReauthorizationRequired, _REAUTH_HINT
    if code == MERCHANT_NOT_AUTHORIZED:
        return DouyinRequestError, _MERCHANT_HINT
    if code == USE_CURSOR:
        return DouyinRequestError, _CURSOR_HINT
    if code in QUOTA_USED_UP:
        return DouyinRequestError, _QUOTA_HINT
    if code is None:
        # No readable code (a proxy page, a garbled envelope): a healthy gateway always says what went
        # wrong, so this is retried like any other malformed reply.
        return DouyinResponseShapeError, ""
    return DouyinRequestError, ""
