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
from airflow_provider_douyin.client.config import CONNECT_TIMEOUT
from airflow_provider_douyin.client.errors import (
    DouyinRequestError,
)
from airflow_provider_douyin.client.open_config import OpenConfig
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


class DouyinOpenClient:
    """Calls Open Platform APIs for one app, keeping its client token (and a user's tokens) valid.

    :meth:`request` returns an :class:`ApiResponse`; :meth:`call` its ``data``. A rejected token is
    replaced (a newer stored one, or a fresh fetch) and the call retried exactly once. Every client of
    one ``client_key`` in a process shares one ``qps`` rate limiter.
    """

    def __init__(
        self,
        config: OpenConfig | None = None,
        *,
        client_token_store: RecordStore[ClientToken] | None = None,
        user_token_store: RecordStore[UserTokenChain] | None = None,
        retry: RetryPolicy | None = None,
        secret_masker: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        lock_directory: str | None = None,
        **settings: Any,
    ) -> None:
        """``config`` or its fields as keywords (``client_key=..., client_secret=...``), not both.

        A user's tokens are managed when ``user_token_store`` is given or the config names a bootstrap
        ``refresh_token``; ``lock_directory`` holds the per-credential lock files (default: the temp dir).
        """
        if config is None:
            config = OpenConfig(**settings)
        elif settings:
            raise TypeError(f"pass an OpenConfig or its fields, not both (got {', '.join(sorted(settings))})")
        self.config = config
        mask = secret_masker or (lambda _secret: None)
        mask(config.client_secret)
        base_url = (config.base_url or OPEN_PRODUCTION_URL).rstrip("/")
        self._transport = Transport(
            OpenPlatformProtocol(
                client_key=config.client_key,
                client_secret=config.client_secret,
                base_url=base_url,
                life_account_id=config.root_account_id,
            ),
            limiter=app_limiter(f"douyin-open:{config.client_key}", config.qps, config.rate_limit_url),
            retry=retry or RetryPolicy(max_delay=config.retry_budget),
            timeout=(min(CONNECT_TIMEOUT, config.timeout), config.timeout),
            deadline=config.deadline,
            session=session,
        )
        credential = f"{base_url}|{config.client_key}"
        self.client_tokens = ClientTokenManager(
            store=client_token_store if client_token_store is not None else InMemoryRecordStore(),
            call=self._token_call,
            lock_name=credential,
            clock=clock,
            secret_masker=mask,
            lock_directory=lock_directory,
        )
        self.user_tokens: UserTokenManager | None = None
        if user_token_store is not None or config.refresh_token:
            conn_id = config.conn_id or "<conn_id>"
            self.user_tokens = UserTokenManager(
                store=user_token_store if user_token_store is not None else InMemoryRecordStore(),
                call=self._token_call,
                lock_name=f"{credential}|{conn_id}",
                label=f"connection {conn_id!r}"
                if config.conn_id
                else f"Douyin Open Platform app {config.client_key}",
                conn_id=conn_id,
                bootstrap_refresh_token=config.refresh_token,
                clock=clock,
                secret_masker=mask,
                lock_directory=lock_directory,
            )

    @property
    def client_key(self) -> str:
        return self.config.client_key

    @property
    def base_url(self) -> str:
        return (self.config.base_url or OPEN_PRODUCTION_URL).rstrip("/")

    def __repr__(self) -> str:
        return f"DouyinOpenClient(client_key={self.client_key}, base_url={self.base_url})"

    def __enter__(self) -> DouyinOpenClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def _token_call(self, method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The OAuth endpoints straight through the transport: the token managers' only way out."""
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
