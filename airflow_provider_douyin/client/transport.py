"""Platform-neutral HTTP transport: session, timeouts, pacing, retries and the flow log.

A :class:`PlatformProtocol` (Doudian today, open.douyin.com next) turns a method and params into a
signed HTTP request and turns the decoded body into an :class:`ApiResponse` or a typed error; the
transport owns everything that is the same on both platforms.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import requests
import requests.adapters

from airflow_provider_douyin.client.errors import (
    DouyinError,
    DouyinRequestError,
    DouyinTransientError,
    http_error_class,
)
from airflow_provider_douyin.client.ratelimit import TokenBucket
from airflow_provider_douyin.client.retry import RetryPolicy

flow_log = logging.getLogger("airflow_provider_douyin.client.flow")

PAGING_KEYS = ("page", "size", "page_num", "page_size", "count", "cursor", "cursor_id", "start_index")
"""Request params copied into the flow log so a slow or failing page can be located."""

_QUERY = re.compile(r"\?[^\s'\"]*")
_TRANSIENT_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class HttpCall:
    """One signed HTTP request, built afresh for every attempt."""

    url: str
    params: Sequence[tuple[str, str]]
    body: bytes | None
    headers: Mapping[str, str]
    http_method: str = "POST"


@dataclass(frozen=True)
class ApiResponse:
    """A successful call: ``data`` plus what callers need to report it (log_id, attempts)."""

    method: str
    data: Any
    log_id: str = ""
    code: int | None = None
    sub_code: str = ""
    http_status: int = 200
    attempts: int = 1


class PlatformProtocol(Protocol):
    """Signing, authentication and envelope rules of one API platform."""

    def prepare(self, method: str, params: Mapping[str, Any] | None, access_token: str | None) -> HttpCall:
        """Build the request; called once per attempt so each attempt is signed with a fresh timestamp."""
        ...

    def parse(self, method: str, http_status: int, payload: Any) -> ApiResponse:
        """Return the response for a success envelope or raise the typed error for anything else."""
        ...


class Transport:
    """Sends API calls for one protocol over one ``requests.Session``."""

    def __init__(
        self,
        protocol: PlatformProtocol,
        *,
        limiter: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        deadline: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``deadline``: total seconds one attempt may take, connect to last body byte."""
        self._protocol = protocol
        self._deadline = deadline
        self._limiter = limiter
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._owns_session = session is None
        self._session = session or _pooled_session()
        self._sleep = sleep

    def request(
        self, method: str, params: Mapping[str, Any] | None = None, *, access_token: str | None = None
    ) -> ApiResponse:
        """Call ``method``, retrying transient and throttled failures per the retry policy."""
        for attempt in self._retry.retrying(method=method, sleep=self._sleep):
            with attempt:
                number = attempt.retry_state.attempt_number
                response = replace(self._attempt(method, params, access_token, number), attempts=number)
        return response

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def _attempt(
        self, method: str, params: Mapping[str, Any] | None, access_token: str | None, attempt: int
    ) -> ApiResponse:
        waited = self._limiter.acquire() if self._limiter else 0.0
        call = self._protocol.prepare(method, params, access_token)
        started = time.monotonic()
        try:
            http_status, payload = self._send(method, call)
            response = self._protocol.parse(method, http_status, payload)
        except DouyinError as exc:
            self._log(method, params, attempt, started, waited, exc)
            raise
        self._log(method, params, attempt, started, waited, response)
        return response

    def _send(self, method: str, call: HttpCall) -> tuple[int, Any]:
        try:
            resp = self._session.request(
                call.http_method,
                call.url,
                params=list(call.params),
                data=call.body,
                headers=dict(call.headers),
                timeout=self._timeout,
            )
            content = resp.content
        except _TRANSIENT_NETWORK_ERRORS as exc:
            raise DouyinTransientError(_describe(exc), method=method) from None
        except requests.RequestException as exc:
            raise DouyinRequestError(_describe(exc), method=method) from None
        try:
            return resp.status_code, json.loads(content)
        except ValueError:
            cls = http_error_class(resp.status_code) or (
                DouyinTransientError if resp.status_code == 200 else DouyinRequestError
            )
            content_type = resp.headers.get("Content-Type") or "no content type"
            raise cls(
                f"response body is not valid JSON ({content_type}, {len(content)} bytes; "
                "an HTML error page, a proxy error or a truncated response)",
                method=method,
                http_status=resp.status_code,
            ) from None

    def _log(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        attempt: int,
        started: float,
        waited: float,
        outcome: ApiResponse | DouyinError,
    ) -> None:
        paging = {key: params[key] for key in PAGING_KEYS if params and params.get(key) is not None}
        fields = {
            "method": method,
            "attempt": attempt,
            "http_status": outcome.http_status,
            "code": outcome.code,
            "sub_code": outcome.sub_code,
            "log_id": outcome.log_id,
            "latency_ms": round((time.monotonic() - started) * 1000),
            "throttle_wait_ms": round(waited * 1000),
            **paging,
        }
        flow_log.info(" ".join(f"{key}={value}" for key, value in fields.items()), extra={"douyin": fields})


def _redact(text: str) -> str:
    # Request URLs carry the access token and sign in the query string; requests and urllib3 put the
    # URL into exception messages and DEBUG records.
    return _QUERY.sub("?<query redacted>", text)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {_redact(str(exc))}"


class _RedactQueryFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


POOL_SIZE = 32
"""Connections kept per host: the stream reader calls from many threads through one session,
and urllib3's default of 10 would drop and reopen connections beyond ten concurrent calls."""


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQueryFilter())
