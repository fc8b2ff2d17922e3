"""Reply envelopes and business errors of the Open Platform.

Two shapes are emulated:

* goodlife (new-style) replies: ``{"data": {..., "error_code", "description"}, "extra":
  {"error_code", "description", "sub_error_code", "sub_description", "logid", "now"}}``,
  with an error code in both ``data`` and ``extra``;
* OAuth replies: ``{"data": {..., "error_code": 0, "description": ""}, "message": "success"}``,
  and on error ``{"data": {"error_code", "description"}, "extra": {"logid", "now"}}``.

With ``open_numbers_as_strings`` the codes, ``now`` and token lifetimes of both shapes are
sent as numeric strings (``"error_code":"0"``), as some doc samples show them.

Where the docs give an old and a new code for one condition (an expired token is 2190008 or
28001008; too many requests 2119003 or 28003018; busy 2119002 or 2100004) and do not say
which an API answers, the sandbox alternates between them, so a client has to handle both.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from typing import Any

# Local-life and general status codes.
PARAM_INVALID = 2100005
NOT_AUTHORISED = 2119005
USE_CURSOR = 4000002
# OAuth codes.
MISSING_PARAMS = 10005
AUTH_CODE_EXPIRED = 10007
ACCESS_TOKEN_EXPIRED_OAUTH = 10008
REFRESH_TOKEN_EXPIRED = 10010
LIMIT_EXCEEDED = 10020

DESCRIPTIONS = {
    2190008: "access_token过期,请刷新或重新授权",
    28001008: "access_token过期,请刷新或重新授权",
    2190002: "access_token无效",
    28001003: "access_token无效",
    2119003: "请求太过频繁",
    28003018: "请求频率过高",
    2119002: "系统繁忙，请稍后重试",
    2100004: "系统繁忙，请稍后重试",
    NOT_AUTHORISED: "商家未授权该应用",
    USE_CURSOR: "请使用Cursor参数查询",
}


class OpenError(Exception):
    """A business error; the platform turns it into the envelope of the endpoint's family."""

    def __init__(self, code: int, description: str = "") -> None:
        self.code = code
        self.description = description or DESCRIPTIONS.get(code, "参数不合法")
        super().__init__(f"{code}: {self.description}")


class Alternating:
    """Hands out the old and the new code of one condition in turn (thread-safe)."""

    def __init__(self, *codes: int) -> None:
        self._codes = itertools.cycle(codes)
        self._lock = threading.Lock()

    def error(self) -> OpenError:
        with self._lock:
            return OpenError(next(self._codes))


def new_log_id(seq: int) -> str:
    """A logid in the platform's shape: a timestamp, a host part and a serial."""
    return f"{time.strftime('%Y%m%d%H%M%S')}0102{seq:010d}{random.getrandbits(24):06X}"


STRING_NUMBER_KEYS = frozenset({"error_code", "sub_error_code", "now", "expires_in", "refresh_expires_in"})


def _stringify(part: Any) -> Any:
    """Numeric strings for the codes, ``now`` and lifetimes of one envelope member."""
    if not isinstance(part, dict):
        return part
    return {k: str(v) if k in STRING_NUMBER_KEYS else v for k, v in part.items()}


def _dumps(value: dict[str, Any], as_strings: bool) -> bytes:
    if as_strings:
        value = {k: _stringify(v) for k, v in value.items()}
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def goodlife_body(
    data: dict[str, Any] | None, error: OpenError | None, log_id: str, now: float, as_strings: bool = False
) -> bytes:
    code = 0 if error is None else error.code
    description = "" if error is None else error.description
    payload = {**(data or {}), "error_code": code, "description": description}
    extra = {
        "error_code": code,
        "description": description,
        "sub_error_code": 0,
        "sub_description": "",
        "logid": log_id,
        "now": int(now * 1000),
    }
    return _dumps({"data": payload, "extra": extra}, as_strings)


def oauth_body(
    data: dict[str, Any] | None, error: OpenError | None, log_id: str, now: float, as_strings: bool = False
) -> bytes:
    if error is None:
        body = {"data": {**(data or {}), "description": "", "error_code": 0}, "message": "success"}
        return _dumps(body, as_strings)
    extra = {"logid": log_id, "now": int(now * 1000)}
    return _dumps(
        {"data": {"description": error.description, "error_code": error.code}, "extra": extra}, as_strings
    )


def err_no_body(
    data: dict[str, Any] | None, error: OpenError | None, log_id: str, now: float, as_strings: bool = False
) -> bytes:
    """The ``{err_no, err_msg, log_id, data}`` shape of the live-room data APIs."""
    code = 0 if error is None else error.code
    body = {"err_no": code, "err_msg": "" if error is None else error.description, "log_id": log_id,
            "data": data if error is None else {}}  # fmt: skip
    return _dumps({**body, "err_no": str(code)} if as_strings else body, False)
