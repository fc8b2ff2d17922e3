"""Sending a call with an access token that may be rejected: the one-shot recovery both platforms use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_douyin.client.errors import DouyinAuthError, DouyinReauthorizationRequired
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.transport import ApiResponse, Transport

log = get_logger(__name__)


class AccessTokens(Protocol):
    """A token manager: hands out a valid token and replaces one the gateway rejected."""

    def access_token(self) -> str: ...

    def invalidate(self, failed_access_token: str) -> str: ...


def request_with_token(
    transport: Transport, method: str, params: Mapping[str, Any] | None, tokens: AccessTokens
) -> ApiResponse:
    """Send ``method`` with a token chosen per attempt; after a rejection, replace it and retry once.

    The token is asked for after the rate limiter's wait, because one chosen before a long throttle
    wait or a failed attempt may have expired or been rotated by another worker by the time it is sent.
    """
    sent: list[str] = []

    def token_at_send() -> str:
        sent.append(tokens.access_token())
        return sent[-1]

    try:
        return transport.request(method, params, access_token=token_at_send)
    except DouyinReauthorizationRequired:
        raise
    except DouyinAuthError as exc:
        if not sent:  # raised by the token manager itself, before anything was sent
            raise
        log.warning(
            "%s: access token rejected (code=%s sub_code=%s log_id=%s); retrying once",
            method,
            exc.code,
            exc.sub_code,
            exc.log_id,
        )
        tokens.invalidate(sent[-1])
        return transport.request(method, params, access_token=token_at_send)
