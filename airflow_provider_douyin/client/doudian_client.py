"""The Doudian shop API client: one validated config, token handling and the one-shot auth retry."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import requests

from airflow_provider_douyin.client.authorized import request_with_token
from airflow_provider_douyin.client.config import ConfigError, ShopConfig
from airflow_provider_douyin.client.doudian import DoudianProtocol
from airflow_provider_douyin.client.errors import check_inner_code
from airflow_provider_douyin.client.ratelimit import app_limiter
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.client.tokens import InMemoryTokenStore, TokenManager, TokenStore
from airflow_provider_douyin.client.transport import ApiResponse, Transport

log = get_logger(__name__)

TOKEN_METHODS = frozenset({"token.create", "token.refresh"})
"""Methods signed without an access token; they mint tokens instead of using one."""


class DoudianShopClient:
    """Calls Doudian shop APIs for one app (and shop), keeping its access token valid.

    :meth:`call` returns ``envelope["data"]``; :meth:`request` returns an :class:`ApiResponse` with
    ``data``, ``log_id`` and ``attempts`` for callers (pagers) that record or report them. Every client of
    one ``app_key`` in a process shares one ``qps`` rate limiter.
    """

    def __init__(
        self,
        config: ShopConfig | None = None,
        *,
        token_store: TokenStore | None = None,
        retry: RetryPolicy | None = None,
        secret_masker: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        rotation_window: float = 3600.0,
        expiry_margin: float = 300.0,
        label: str | None = None,
        token_lock_key: Hashable | None = None,
        token_refresh: bool = True,
        **settings: Any,
    ) -> None:
        """``config`` or its fields as keywords (``app_key=..., app_secret=..., shop_id=...``), not both.

        ``retry`` defaults to the config's ``retry_budget``; ``label`` names the app in
        re-authorization messages (default: the connection or the shop); ``token_lock_key`` identifies
        ``token_store`` for the in-process refresh lock (default: the store's ``key`` attribute, e.g. its
        Variable key, else the store object); ``token_refresh=False`` makes a client that only uses stored
        tokens (for triggers, which must never rotate them).
        """
        if config is None:
            config = ShopConfig(**settings)
        elif settings:
            raise TypeError(f"pass a ShopConfig or its fields, not both (got {', '.join(sorted(settings))})")
        if config.auth_mode == "code" and not config.refresh_token and token_store is None:
            raise ConfigError(
                "refresh_token", "is required for auth_mode 'code' (or a token_store that holds a token pair)"
            )
        self.config = config
        self._mask = secret_masker or (lambda _secret: None)
        self._mask(config.app_secret)
        self._transport = Transport(
            DoudianProtocol(
                app_key=config.app_key,
                app_secret=config.app_secret,
                base_url=config.url,
                sign_method=config.sign_method,
                clock=clock,
            ),
            limiter=app_limiter(f"doudian:{config.app_key}", config.qps, config.rate_limit_url),
            retry=retry or RetryPolicy(max_delay=config.retry_budget),
            timeout=config.http_timeout,
            deadline=config.deadline,
            session=session,
        )
        self._tokens = TokenManager(
            store=token_store if token_store is not None else InMemoryTokenStore(),
            token_call=self._token_call,
            auth_mode=config.auth_mode,
            shop_id=config.shop_id,
            refresh_token=config.refresh_token,
            label=label or config.label,
            lock_key=token_lock_key,
            clock=clock,
            secret_masker=self._mask,
            rotation_window=rotation_window,
            expiry_margin=expiry_margin,
            may_refresh=token_refresh,
        )

    @property
    def app_key(self) -> str:
        return self.config.app_key

    @property
    def shop_id(self) -> str | None:
        return self.config.shop_id

    @property
    def base_url(self) -> str:
        return self.config.url

    def __repr__(self) -> str:
        return f"DoudianShopClient(app_key={self.app_key}, shop_id={self.shop_id}, base_url={self.base_url})"

    def __enter__(self) -> DoudianShopClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def tokens(self) -> TokenManager:
        return self._tokens

    check_inner_code = staticmethod(check_inner_code)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``method`` (e.g. ``order.searchList``) and return the envelope's ``data``."""
        return self.request(method, params).data

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        """Call ``method`` and return the full :class:`ApiResponse` (data, log_id, attempts).

        A rejected access token (40003/40001 ``isv.access-token-*``) is re-read or refreshed and the call
        retried exactly once; any other error is raised as its typed :class:`DouyinError`. ``token.create``
        and ``token.refresh`` go out without an access token (a bootstrap tool may call them directly) and
        the tokens they return are passed to ``secret_masker``; they do not touch the token store.
        """
        if method in TOKEN_METHODS:
            response = self._transport.request(method, params)
            if isinstance(response.data, Mapping):
                for key in ("access_token", "refresh_token"):
                    if response.data.get(key):
                        self._mask(str(response.data[key]))
            return response
        return request_with_token(self._transport, method, params, self._tokens)

    def _token_call(self, method: str, params: Mapping[str, Any]) -> Any:
        """``token.create`` / ``token.refresh`` straight through the transport: the token manager's only
        way out, so a token call never loops back through the access-token logic of :meth:`request`."""
        return self._transport.request(method, params).data

    def close(self) -> None:
        self._transport.close()
