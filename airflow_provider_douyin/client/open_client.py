"""The Douyin Open Platform client: one app (client_key), its client token and optionally one user.

It shares the transport (session, deadlines, retries, flow log) and the per-app rate limiter with the
Doudian client; what differs is the protocol (:mod:`open_platform`) and the tokens
(:mod:`open_tokens`). Each call carries the token its endpoint declares: the app's client token for
the 抖音来客 life-service APIs, the authorized user's token for user data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from airflow_provider_douyin.client.authorized import request_with_token
from airflow_provider_douyin.client.errors import (
    DouyinRequestError,
)
from airflow_provider_douyin.client.open_platform import (
    OPEN_PRODUCTION_URL,
    TOKEN_ENDPOINTS,
    OpenPlatformProtocol,
    endpoint_for,
)
from airflow_provider_douyin.client.open_tokens import (
    ClientToken,
    ClientTokenManager,
    InMemoryRecordStore,
    RecordStore,
    UserTokenChain,
    UserTokenManager,
)
from airflow_provider_douyin.client.ratelimit import app_limiter
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.client.transport import ApiResponse, Transport

DEFAULT_QPS = 20.0
"""The documented life-service limit per app (the order query's usage limits say 20)."""


class DouyinOpenClient:
    """Calls Open Platform APIs for one app, keeping its client token (and a user's tokens) valid.

    :meth:`request` returns an :class:`ApiResponse`; :meth:`call` its ``data``. A rejected token is
    replaced (a newer stored one, or a fresh fetch) and the call retried exactly once.
    """

    def __init__(
        self,
        *,
        client_key: str,
        client_secret: str,
        base_url: str | None = None,
        life_account_id: str | None = None,
        client_token_store: RecordStore[ClientToken] | None = None,
        user_token_store: RecordStore[UserTokenChain] | None = None,
        refresh_token: str | None = None,
        label: str = "",
        conn_id: str = "<conn_id>",
        qps: float = DEFAULT_QPS,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        deadline: float | None = None,
        rate_limit_url: str | None = None,
        retry: RetryPolicy | None = None,
        secret_masker: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        lock_directory: str | None = None,
    ) -> None:
        base_url = (base_url or OPEN_PRODUCTION_URL).rstrip("/")
        self.client_key = client_key
        self.base_url = base_url
        mask = secret_masker or (lambda _secret: None)
        mask(client_secret)
        self._transport = Transport(
            OpenPlatformProtocol(
                client_key=client_key,
                client_secret=client_secret,
                base_url=base_url,
                life_account_id=life_account_id,
            ),
            limiter=app_limiter(f"douyin-open:{client_key}", qps, rate_limit_url),
            retry=retry,
            timeout=timeout,
            deadline=deadline,
            session=session,
        )
        credential = f"{base_url}|{client_key}"
        self.client_tokens = ClientTokenManager(
            store=client_token_store if client_token_store is not None else InMemoryRecordStore(),
            call=self._token_call,
            lock_name=credential,
            clock=clock,
            secret_masker=mask,
            lock_directory=lock_directory,
        )
        self.user_tokens: UserTokenManager | None = None
        if user_token_store is not None or refresh_token:
            self.user_tokens = UserTokenManager(
                store=user_token_store if user_token_store is not None else InMemoryRecordStore(),
                call=self._token_call,
                lock_name=f"{credential}|{conn_id}",
                label=label or f"Douyin Open Platform app {client_key}",
                conn_id=conn_id,
                bootstrap_refresh_token=refresh_token,
                clock=clock,
                secret_masker=mask,
                lock_directory=lock_directory,
            )

    def __repr__(self) -> str:
        return f"DouyinOpenClient(client_key={self.client_key}, base_url={self.base_url})"

    def __enter__(self) -> DouyinOpenClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def _token_call(self, method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._transport.request(method, params).data

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``method`` (a path such as ``/goodlife/v1/trade/order/query/``) and return ``data``."""
        return self.request(method, params).data

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        endpoint = endpoint_for(method)
        if endpoint.path in TOKEN_ENDPOINTS:
            return self._transport.request(method, params)
        tokens = self.client_tokens if endpoint.token == "client" else self.user_tokens
        if tokens is None:
            raise DouyinRequestError(
                "this API needs a user's authorization; run `douyin-oauth url` and `douyin-oauth exchange` "
                "for the connection first",
                method=method,
            )
        return request_with_token(self._transport, method, params, tokens)
