"""Doudian request signing: the canonical param_json and the md5 / hmac-sha256 sign over it.

The gateway recomputes the sign over the ``param_json`` it receives, so the client must serialise the
business parameters in one canonical form and send exactly the string it signed. Any drift (key order,
``1.0`` vs ``1``, ``\\u`` or HTML escaping) shows up as ``40003 isv.signature-invalid``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGN_METHODS = ("md5", "hmac-sha256")


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _normalise(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [_normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_param_json(params: Mapping[str, Any] | None) -> str:
    """Serialise business params the way the gateway re-serialises them before verifying the sign.

    Keys are sorted at every level (also inside arrays), output is compact raw UTF-8 without HTML
    escaping, integral floats become ints and ``None`` fields are dropped; no params give ``{}``.
    """
    if params is None:
        return "{}"
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, not {type(params).__name__}")
    return json.dumps(
        _normalise(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sign_request(
    *,
    app_key: str,
    app_secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    sign_method: str = "hmac-sha256",
) -> str:
    """Return the lower-hex sign; ``param_json`` and ``timestamp`` must be exactly what is sent."""
    pattern = (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v2{app_secret}"
    ).encode()
    if sign_method == "md5":
        return hashlib.md5(pattern, usedforsecurity=False).hexdigest()
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), pattern, hashlib.sha256).hexdigest()
    raise ValueError(f"sign_method must be one of {', '.join(SIGN_METHODS)}, not {sign_method!r}")
