"""Verify, persist, ack: the receiver's whole decision for one HTTP request, free of any web framework.

Checks run cheapest first and every refusal happens before anything is stored: method, the path's
connection (a connection's secret verifies its own pushes only), body size, app-id / client_key,
signature over the raw bytes, JSON shape, body replay. A refused request leaves one counter behind
(per connection, minute and reason; see ``store``) and nothing of its content. Accepted messages
are committed before the ack is returned, duplicates included, so the platform stops redelivering.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from airflow_provider_douyin.push.protocol import (
    DOUDIAN_ACK,
    Platform,
    PushRejected,
    check_sign,
    doudian_sign,
    open_sign,
    parse_doudian,
    parse_open,
)
from airflow_provider_douyin.push.store import PushStore

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 256 * 1024
"""Bytes; a Doudian push carries a few records of a few hundred bytes each."""
OPEN_ACK: dict[str, Any] = {"err_no": 0, "err_tips": "success"}
PLATFORMS: tuple[Platform, ...] = ("doudian", "open")


@dataclass(frozen=True)
class Credentials:
    """What verifies one connection's pushes: the app_key / client_key and its secret."""

    key: str
    secret: str = field(repr=False)


CredentialLookup = Callable[[Platform, str], "Credentials | None"]
"""``(platform, conn_id)`` → the connection's credentials, or ``None`` when it is not a connection of
that platform."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Mapping[str, Any]


def _refusal(platform: Platform, status: int, reason: str) -> Reply:
    if platform == "doudian":
        return Reply(status, {"code": 1, "msg": f"fail: {reason}"})
    return Reply(status, {"err_no": status, "err_tips": reason})


def _reason_key(exc: PushRejected) -> str:
    return {401: "signature", 403: "app_id", 409: "replay", 413: "size"}.get(exc.status, "malformed")


class PushReceiver:
    def __init__(
        self, store: PushStore, credentials: CredentialLookup, *, max_body: int = DEFAULT_MAX_BODY
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.max_body = max_body

    def handle(
        self, platform: str, conn_id: str, method: str, headers: Mapping[str, str], raw: bytes | None
    ) -> Reply:
        """Answer one request. ``headers`` must be case-insensitive; ``raw`` is ``None`` when the body
        was longer than ``max_body`` (the caller stops reading there)."""
        if platform not in PLATFORMS:
            return Reply(404, {"error": "unknown push path"})
        kind = cast(Platform, platform)
        if method.upper() != "POST":
            return _refusal(kind, 405, "only POST is accepted")
        creds = self.credentials(kind, conn_id)
        if creds is None:
            return _refusal(kind, 404, "unknown connection")
        try:
            if raw is None or len(raw) > self.max_body:
                raise PushRejected(413, f"body over {self.max_body} bytes")
            if kind == "doudian":
                return self._doudian(conn_id, creds, headers, raw)
            return self._open(conn_id, creds, headers, raw)
        except PushRejected as exc:
            log.warning("Refused a %s push for %s: %s", kind, conn_id, exc.reason)
            try:
                self.store.count_rejection(conn_id, _reason_key(exc))
            except Exception:  # the refusal stands even when the counter cannot be written
                log.exception("Could not count a refused push for %s", conn_id)
            return _refusal(kind, exc.status, exc.reason)

    def _doudian(self, conn_id: str, creds: Credentials, headers: Mapping[str, str], raw: bytes) -> Reply:
        if (headers.get("app-id") or "").strip() != creds.key:
            raise PushRejected(403, "app-id does not match the connection")
        check_sign(doudian_sign(creds.key, creds.secret, raw), headers.get("event-sign"))
        messages = parse_doudian(raw)
        if messages:
            result = self.store.accept(conn_id, "doudian", messages, hashlib.sha256(raw).hexdigest())
            log.info("Push for %s: %d stored, %d duplicates", conn_id, result.stored, result.duplicates)
        return Reply(200, DOUDIAN_ACK)

    def _open(self, conn_id: str, creds: Credentials, headers: Mapping[str, str], raw: bytes) -> Reply:
        check_sign(open_sign(creds.secret, raw), headers.get("x-douyin-signature"))
        try:
            client_key = json.loads(raw).get("client_key")
        except (ValueError, AttributeError):
            client_key = None
        if client_key and client_key != creds.key:
            raise PushRejected(403, "client_key does not match the connection")
        answer, message = parse_open(raw, headers.get("msg-id"))
        if message is None:
            return Reply(200, answer)
        result = self.store.accept(conn_id, "open", [message], hashlib.sha256(raw).hexdigest())
        log.info("Webhook for %s: %d stored, %d duplicates", conn_id, result.stored, result.duplicates)
        return Reply(200, OPEN_ACK)
