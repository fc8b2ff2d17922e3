"""Server-side signature and timestamp checks, as the Doudian gateway makes them.

Written from Doudian's published sign formula, independently of the client, so a client bug cannot
hide behind a shared implementation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
from typing import Any

from .constants import SHANGHAI, TIME_FORMAT

SIGN_METHODS = ("md5", "hmac-sha256")


def _integralise(value: Any) -> Any:
    """Turn integral floats into ints at every level (canonical rule 5: ``1``, never ``1.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integralise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_integralise(v) for v in value]
    return value


def canonical_json(params: Any) -> str:
    """Canonical param_json: sorted keys everywhere, compact, raw UTF-8, nulls dropped."""
    if params is None or params == {}:
        return "{}"
    return json.dumps(_integralise(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(
    app_secret: str, app_key: str, method: str, param_json: str, timestamp: str, sign_method: str = "md5"
) -> str:
    """Lower-case hex sign (md5 or hmac-sha256 over secret + fields + secret) of the param_json string."""
    pattern = (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v2{app_secret}"
    ).encode()
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), pattern, hashlib.sha256).hexdigest()
    return hashlib.md5(pattern).hexdigest()


def verify(
    app_secret: str,
    app_key: str,
    method: str,
    raw_param_json: str,
    timestamp: str,
    given_sign: str,
    sign_method: str = "md5",
) -> bool:
    """Accept a sign computed over the raw param_json or over its canonical form."""
    given = given_sign.strip().lower()
    candidates = [raw_param_json]
    try:
        canonical = canonical_json(json.loads(raw_param_json)) if raw_param_json.strip() else "{}"
    except ValueError:
        canonical = None
    if canonical is not None and canonical != raw_param_json:
        candidates.append(canonical)
    return any(
        hmac.compare_digest(sign(app_secret, app_key, method, text, timestamp, sign_method), given)
        for text in candidates
    )


def parse_timestamp(text: str) -> float:
    """Read the three accepted timestamp forms (epoch seconds, milliseconds, ``yyyy-MM-dd HH:mm:ss``).

    ``ValueError`` when none matches.
    """
    text = text.strip()
    if text.isdigit() and len(text) == 10:
        return float(int(text))
    if text.isdigit() and len(text) == 13:
        return int(text) / 1000.0
    return _dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI).timestamp()
