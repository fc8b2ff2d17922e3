"""The Doudian shop API client: configuration, token handling and the one-shot auth retry."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import requests

from airflow_provider_douyin.client.doudian import PRODUCTION_URL, DoudianProtocol
from airflow_provider_douyin.client.errors import (
    DouyinAuthError,
    DouyinReauthorizationRequired,
    check_inner_code,
)
from airflow_provider_douyin.client.ratelimit import app_limiter
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.client.signing import SIGN_METHODS
from airflow_provider_douyin.client.tokens import InMemoryTokenStore, TokenManager, TokenStore
from airflow_provider_douyin.client.transport import ApiResponse, Transport

log = get_logger(__name__)

TOKEN_METHODS = frozenset({"token.create", "token.refresh"})
"""Methods signed without an access token; they mint tokens instead of using one."""


class DoudianShopClient:
    """Calls Doudian shop APIs for one app (and shop), keeping its access token valid.

    :meth:`call` returns ``envelope["data"]``; :meth:`request` returns an :class:`ApiResponse` with
    ``data``, ``log_id`` and ``attempts`` for callers (pagers) that record or report them. Every client of
    one ``app_key`` in a process (or, with ``rate_limit_url``, anywhere) shares one ``qps`` rate limiter.
    """

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        base_url: str | None = None,
        shop_id: str | None = None,
        auth_mode: str = "self",
        refresh_token: str | None = None,
        sign_method: str = "hmac-sha256",
        qps: float = 10.0,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        deadline: float | None = None,
        rate_limit_url: str | None = None,
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
    ) -> None:
        """``deadline`` bounds one HTTP attempt (connect to last body byte); ``label`` names the
        connection in re-authorization messages (default: the shop);
        ``token_lock_key`` identifies ``token_store`` for the in-process refresh lock (default: the
        store's ``key`` attribute, e.g. its Variable key, else the store object); ``token_refresh=False``
        makes a client that only uses stored tokens (for triggers, which must never rotate them).
        """
        self._mask = secret_masker or (lambda _secret: None)
        if app_secret:
            self._mask(app_secret)
        shop_id = None if shop_id in (None, "") else str(shop_id)
        base_url = base_url or PRODUCTION_URL
        _validate(
            app_key=app_key,
            app_secret=app_secret,
            base_url=base_url,
            shop_id=shop_id,
            auth_mode=auth_mode,
            has_token_source=bool(refresh_token) or token_store is not None,
            sign_method=sign_method,
            qps=qps,
            timeout=timeout,
        )
        self.app_key = app_key
        self.shop_id = shop_id
        self.base_url = base_url.rstrip("/")
        self._transport = Transport(
            DoudianProtocol(
                app_key=app_key,
                app_secret=app_secret,
                base_url=base_url,
                sign_method=sign_method,
                clock=clock,
            ),
            limiter=app_limiter(f"doudian:{app_key}", qps, rate_limit_url),
            retry=retry,
            timeout=timeout,
            deadline=deadline,
            session=session,
        )
        self._tokens = TokenManager(
            store=token_store if token_store is not None else InMemoryTokenStore(),
            call=lambda method, params: self.request(method, params).data,
            auth_mode=auth_mode,
            shop_id=shop_id,
            refresh_token=refresh_token,
            label=label or (f"Doudian shop {shop_id}" if shop_id else f"Doudian app {app_key}"),
            lock_key=token_lock_key,
            clock=clock,
            secret_masker=self._mask,
            rotation_window=rotation_window,
            expiry_margin=expiry_margin,
            may_refresh=token_refresh,
        )

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
        sent: list[str] = []

        def token_at_send() -> str:
            # Chosen per attempt, after the rate limiter's wait; remembered so a rejection names it.
            sent.append(self._tokens.access_token())
            return sent[-1]

        try:
            return self._transport.request(method, params, access_token=token_at_send)
        except DouyinReauthorizationRequired:
            raise
        except DouyinAuthError as exc:
            if not sent:  # raised by the token manager itself, before anything was sent
                raise
            log.warning(
                "%s: access token rejected (%s, log_id=%s); retrying once", method, exc.sub_code, exc.log_id
            )
            self._tokens.invalidate(sent[-1])
            return self._transport.request(method, params, access_token=token_at_send)

    def close(self) -> None:
        self._transport.close()


def _validate(
    *,
    app_key: str,
    app_secret: str,
    base_url: str,
    shop_id: str | None,
    auth_mode: str,
    has_token_source: bool,
    sign_method: str,
    qps: float,
    timeout: float | tuple[float, float],
) -> None:
    if not isinstance(app_key, str) or not re.fullmatch(r"[0-9]{19}", app_key):
        raise ValueError("app_key must be a 19-digit string")
    if not app_secret:
        raise ValueError("app_secret must not be empty")
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", base_url):
        raise ValueError("base_url must be an http(s) URL such as https://openapi-fxg.jinritemai.com")
    if shop_id is not None and not re.fullmatch(r"[0-9]+", shop_id):
        raise ValueError("shop_id must be numeric")
    if auth_mode == "code" and not has_token_source:
        raise ValueError("auth_mode 'code' needs refresh_token (or a token_store that holds a token pair)")
    if sign_method not in SIGN_METHODS:
        raise ValueError(f"sign_method must be one of {', '.join(SIGN_METHODS)}")
    if qps <= 0:
        raise ValueError("qps must be positive")
    timeouts = timeout if isinstance(timeout, tuple) else (timeout,)
    if not timeouts or any(value <= 0 for value in timeouts):
        raise ValueError("timeout must be a positive number or a (connect, read) pair of them")
