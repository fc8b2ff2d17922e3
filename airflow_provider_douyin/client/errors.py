"""Typed Douyin errors and the Doudian envelope classifier.

Codes and their remedies follow Doudian's published platform codes (``code``) and business sub-codes
(``sub_code``), including the token errors of token.create and token.refresh.

The class of an error decides what the caller does: retry with backoff (transient, throttled),
refresh the token and retry once (auth), re-read the token store (token race), or stop and ask a
human (reauthorization, request). Messages carry code, sub_code and log_id for support tickets and
never a secret: every text field is redacted when the error is built, because ``msg``/``sub_msg`` are
copied from a gateway (or from requests/urllib3) that may echo the request's token and sign.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_douyin.client.redaction import redact

_BUSINESS_FAILED = "isv.business-failed:"
_REAUTH_HINT = (
    "The shop must authorize the app again: renew the authorization in the Doudian console (tool apps: "
    "obtain a new authorization code), then re-run the token bootstrap to seed the token store."
)


class DouyinError(Exception):
    """Base class for every failed Douyin/Doudian call."""

    default_hint = ""

    def __init__(
        self,
        msg: str = "",
        *,
        method: str = "",
        code: int | None = None,
        sub_code: str = "",
        sub_msg: str = "",
        log_id: str = "",
        http_status: int | None = None,
        hint: str = "",
    ) -> None:
        self.msg = redact(msg)
        self.method = redact(method)
        self.code = code
        self.sub_code = redact(sub_code)
        self.sub_msg = redact(sub_msg)
        self.log_id = redact(log_id)
        self.http_status = http_status
        self.hint = redact(hint or self.default_hint)
        super().__init__(self._describe())

    def _describe(self) -> str:
        fields = [
            f"{name}={value}"
            for name, value in (
                ("code", self.code),
                ("sub_code", self.sub_code),
                ("msg", self.msg),
                ("sub_msg", self.sub_msg),
                ("http_status", None if self.http_status == 200 else self.http_status),
                ("log_id", self.log_id),
            )
            if value not in (None, "")
        ]
        text = f"{self.method or 'request'} failed: {' '.join(fields)}"
        return f"{text}. {self.hint}" if self.hint else text

    # The Douyin Open Platform's names for the same fields (its envelope says error_code,
    # sub_error_code, description and logid), so either platform's documentation reads true.
    @property
    def error_code(self) -> int | None:
        return self.code

    @property
    def sub_error_code(self) -> str:
        return self.sub_code

    @property
    def description(self) -> str:
        return self.msg

    @property
    def logid(self) -> str:
        return self.log_id

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only constructor breaks default exception pickling (process pools, Airflow IPC).
        fields = {
            "msg": self.msg,
            "method": self.method,
            "code": self.code,
            "sub_code": self.sub_code,
            "sub_msg": self.sub_msg,
            "log_id": self.log_id,
            "http_status": self.http_status,
            "hint": self.hint,
        }
        return (_rebuild, (type(self), fields))


def _rebuild(cls: type[DouyinError], fields: dict[str, Any]) -> DouyinError:
    return cls(**fields)


class DouyinConfigError(DouyinError, ValueError):
    """A misconfiguration found before any call (a connection field, a parameter); the message names it."""

    def _describe(self) -> str:
        return self.msg


class DouyinAuthError(DouyinError):
    """The access token was rejected; refreshing it (or re-reading the store) may fix the call."""


class DouyinReauthorizationRequired(DouyinAuthError):
    """No token operation can recover: a human must authorize the app for the shop again."""

    default_hint = _REAUTH_HINT


class DouyinThrottledError(DouyinError):
    """The gateway rate-limited the app; back off and retry."""


class DouyinTransientError(DouyinError):
    """A temporary server, network or truncated-response failure; retrying is safe."""


class DouyinRequestError(DouyinError):
    """A permanent failure (bad parameters, permissions, config); retrying cannot help."""


class DouyinTokenRaceError(DouyinError):
    """Another worker refreshed the same token concurrently (31012); re-read the store and retry."""


class DouyinDeadlineError(DouyinTransientError):
    """One HTTP attempt exceeded its total deadline (connect + headers + body), however slowly bytes came."""


class DouyinResponseShapeError(DouyinTransientError):
    """A success envelope whose ``data``, record list or ``total`` is missing, null or of the wrong type.

    Retryable: a gateway under load answers like this, and treating it as "no rows" would lose records.
    """


class DouyinRecordError(DouyinError):
    """A record value cannot be landed as declared (wrong type, out of range, missing key)."""


class DouyinIncompleteReadError(DouyinError):
    """The records read for a window cannot be reconciled with the totals the API reported."""


_HINTS: dict[str, str] = {
    "isv.signature-invalid": "Check app_secret and sign_method for this app_key.",
    "isv.timestamp-invalid": "The worker clock differs from the gateway by more than 10 minutes.",
    "isv.app-id-invalid": "app_key must be the 19-digit app key from the Doudian console.",
}
_IP_ALLOWLIST_HINT = "Add the worker's egress IP to the app's IP allow-list in the Doudian console."


def http_error_class(http_status: int | None) -> type[DouyinError] | None:
    """Class implied by the HTTP status alone (429 throttled, 5xx transient), or None."""
    if http_status == 429:
        return DouyinThrottledError
    if http_status is not None and http_status >= 500:
        return DouyinTransientError
    return None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _classify(code: int | None, sub_code: str) -> type[DouyinError]:
    if code in (20000, 20001, 50000):
        return DouyinTransientError
    if code == 60000:
        return DouyinThrottledError
    if code == 50002 and sub_code.startswith(_BUSINESS_FAILED):
        return {
            "31012": DouyinTokenRaceError,
            "31009": DouyinReauthorizationRequired,
            "2010401": DouyinThrottledError,
            "20004": DouyinTransientError,
            "100010": DouyinTransientError,
        }.get(sub_code.removeprefix(_BUSINESS_FAILED), DouyinRequestError)
    if code == 50001 and sub_code in (
        "dop.token-generate-failed:token-expired",
        "dop.token-generate-failed:token-invalid",
        "dop.token-generate-failed:no-authorization",
    ):
        return DouyinReauthorizationRequired
    if code == 30001 and sub_code in ("dop.authorization-no-existed", "dop.authorization-closed"):
        return DouyinReauthorizationRequired
    if code in (40001, 40003) and sub_code.startswith("isv.access-token-"):
        return DouyinAuthError
    return DouyinRequestError


def error_for(envelope: Mapping[str, Any], *, method: str, http_status: int | None = None) -> DouyinError:
    """Build the typed error for a failed Doudian envelope (code, sub_code); an HTTP 429/5xx status wins."""
    code = _as_int(envelope.get("code"))
    sub_code = str(envelope.get("sub_code") or "")
    cls = http_error_class(http_status) or _classify(code, sub_code)
    hint = _IP_ALLOWLIST_HINT if code == 30002 else _HINTS.get(sub_code, "")
    return cls(
        str(envelope.get("msg") or envelope.get("message") or ""),
        method=method,
        code=code,
        sub_code=sub_code,
        sub_msg=str(envelope.get("sub_msg") or ""),
        log_id=str(envelope.get("log_id") or ""),
        http_status=http_status,
        hint=hint,
    )


def check_inner_code(data: Any, method: str, *, log_id: str = "") -> Any:
    """Raise unless a finance API's inner ``data.code`` is ``"100000"``; return ``data`` otherwise.

    Settlement and fund-flow APIs wrap a second status, ``data.code``, inside a successful envelope; a missing
    inner code means an incomplete answer, so it is retried like a transient failure.
    """
    inner = data.get("code") if isinstance(data, Mapping) else None
    if str(inner) == "100000":
        return data
    cls = DouyinTransientError if inner in (None, "") else DouyinRequestError
    detail = data.get("code_msg") if isinstance(data, Mapping) else None
    raise cls(
        str(detail or "response data has no inner code"),
        method=method,
        code=_as_int(inner),
        sub_code=f"data.code:{inner}" if inner not in (None, "") else "",
        log_id=log_id,
    )
