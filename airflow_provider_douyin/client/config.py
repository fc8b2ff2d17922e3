"""The settings of one Doudian (shop) app, parsed and validated in one place.

A :class:`ShopConfig` is built once, either from keyword values (scripts, tests) or from an Airflow
Connection's fields (:meth:`ShopConfig.from_connection`, which the hook calls), and every layer below
receives that one frozen object. The Douyin Open Platform (``open.douyin.com``: ``client_key`` /
``client_secret`` and OAuth user tokens) gets its own config class beside this one, with its own
``from_connection``; the transport, rate limiter and retry policy read the shared fields by name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_douyin.client.doudian import PRODUCTION_URL
from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.client.ratelimit import check_rate_limit_url
from airflow_provider_douyin.client.signing import SIGN_METHODS

SHOP_CONN_TYPE = "douyin_shop"
AUTH_MODES = ("self", "code")
AUTH_MODE_ALIASES = {"authorization_self": "self", "authorization_code": "code"}
"""Doudian's grant-type names for the two modes. Airflow masks every string in a connection's extras
and warns once per task about values under 5 characters, so ``"self"``/``"code"`` always warn."""
CONNECT_TIMEOUT = 10.0
"""Longest TCP/TLS connect; a single ``timeout`` number is the read timeout and caps the connect at this."""

_URL = re.compile(r"https?://[^/\s]+(/\S*)?")
_CONNECTION_FIELDS = {"app_key": "login (app_key)", "app_secret": "password (app_secret)", "base_url": "host"}
"""Where a setting lives in an Airflow Connection; every other setting is the extra of its own name."""


class ConfigError(DouyinConfigError):
    """A setting is invalid: ``field`` names it, the message says what is wrong and never shows a secret."""

    def __init__(self, field: str, problem: str, *, where: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self._init: tuple[tuple, dict] = ((field, problem), {"where": where})
        super().__init__(f"{where or field} {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from this class's own arguments (Airflow pickles task errors across processes).
        args, kwargs = self._init
        return (functools.partial(type(self), **kwargs), args)


class DouyinConnectionError(ConfigError):
    """A Douyin connection is misconfigured; the message names the connection and the field to fix."""

    def __init__(
        self, conn_id: str, field: str, problem: str, *, fields: Mapping[str, str] | None = None
    ) -> None:
        where = (fields or _CONNECTION_FIELDS).get(field, f"extra {field!r}")
        super().__init__(field, problem, where=f"Connection {conn_id!r}: {where}")
        self._init = ((conn_id, field, problem), {"fields": fields})


def check_limiter_url(url: str | None) -> None:
    """A shared limiter URL, when set, must name a Redis server; the error names the field."""
    if url is not None:
        try:
            check_rate_limit_url(url)
        except ValueError as exc:
            raise ConfigError("rate_limit_url", str(exc)) from None


def connection_extra(extras: Mapping[str, Any], conn_type: str, name: str) -> Any:
    """A connection extra spelled plainly or ``extra__<conn_type>__<name>`` (older forms); "" is unset."""
    for key in (name, f"extra__{conn_type}__{name}"):
        if extras.get(key) not in (None, ""):
            return extras[key]
    return None


def connection_number(conn_id: str, extras: Mapping[str, Any], conn_type: str, name: str) -> float | None:
    """A numeric extra, ``None`` when unset; anything else names the connection and the extra."""
    raw = connection_extra(extras, conn_type, name)
    try:
        return None if raw is None else float(raw)
    except (TypeError, ValueError):
        raise DouyinConnectionError(conn_id, name, f"must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class ShopConfig:
    """One Doudian app (and shop): credentials, gateway, pacing and time limits, all validated.

    ``shop_id`` is required for self-use apps (``auth_mode="self"``, ``token.create`` with
    ``authorization_self``); tool apps (``auth_mode="code"``) start from the ``refresh_token`` of their
    one-time OAuth code exchange. ``base_url`` ``None`` means production. ``timeout`` is the read timeout
    (or a ``(connect, read)`` pair), ``deadline`` bounds one HTTP attempt from connect to the last body
    byte, ``retry_budget`` one call with all its retries; all in seconds. ``conn_id`` names the Airflow
    connection the values came from, for messages.
    """

    app_key: str
    app_secret: str = field(repr=False)
    shop_id: str | None = None
    auth_mode: str = "self"
    refresh_token: str | None = field(default=None, repr=False)
    sign_method: str = "hmac-sha256"
    base_url: str | None = None
    qps: float = 10.0
    timeout: float | tuple[float, float] = 30.0
    deadline: float = 60.0
    retry_budget: float = 300.0
    rate_limit_url: str | None = None
    """A Redis URL (``redis://host:6379/0``) through which every process and machine of this app_key
    shares one request budget; ``None``: each process paces on its own."""
    conn_id: str | None = None

    def __post_init__(self) -> None:
        # Normalise the spellings users type, then check every field; frozen, so set through object.
        shop_id = None if self.shop_id in (None, "") else str(self.shop_id).strip()
        base_url = (self.base_url or "").strip() or None
        auth_mode = AUTH_MODE_ALIASES.get(self.auth_mode, self.auth_mode)
        for name, value in (("shop_id", shop_id), ("base_url", base_url), ("auth_mode", auth_mode)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "sign_method", str(self.sign_method).lower())
        object.__setattr__(self, "refresh_token", self.refresh_token or None)
        self._validate()

    def _validate(self) -> None:
        if not self.app_key:
            raise ConfigError("app_key", "is required")
        if not (isinstance(self.app_key, str) and re.fullmatch(r"[0-9]{19}", self.app_key)):
            raise ConfigError("app_key", "must be a 19-digit string")
        if not self.app_secret:
            raise ConfigError("app_secret", "is required")
        if self.base_url is not None and not _URL.fullmatch(self.base_url):
            raise ConfigError("base_url", "must be empty (production) or a full http(s)://host[:port] URL")
        if self.shop_id is not None and not self.shop_id.isdigit():
            raise ConfigError("shop_id", "must be numeric")
        if self.auth_mode not in AUTH_MODES:
            allowed = (*AUTH_MODES, *AUTH_MODE_ALIASES)
            raise ConfigError("auth_mode", f"must be one of {allowed}, got {self.auth_mode!r}")
        if self.auth_mode == "self" and self.shop_id is None:
            raise ConfigError("shop_id", "is required for auth_mode 'self'")
        if self.sign_method not in SIGN_METHODS:
            raise ConfigError("sign_method", f"must be one of {SIGN_METHODS}, got {self.sign_method!r}")
        for name in ("qps", "deadline", "retry_budget"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)!r}")
        timeouts = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,)
        if len(timeouts) not in (1, 2) or not all(value > 0 for value in timeouts):
            raise ConfigError("timeout", "must be a positive number or a (connect, read) pair of them")
        check_limiter_url(self.rate_limit_url)

    @property
    def url(self) -> str:
        """The gateway to call: ``base_url`` without a trailing slash, or production."""
        return (self.base_url or PRODUCTION_URL).rstrip("/")

    @property
    def http_timeout(self) -> tuple[float, float]:
        """``(connect, read)`` for ``requests``."""
        if isinstance(self.timeout, tuple):
            return self.timeout
        return (min(CONNECT_TIMEOUT, self.timeout), self.timeout)

    @property
    def label(self) -> str:
        """How messages (re-authorization hints) name this app."""
        if self.conn_id:
            return f"connection {self.conn_id!r}"
        return f"Doudian shop {self.shop_id}" if self.shop_id else f"Doudian app {self.app_key}"

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        *,
        login: str | None,
        password: str | None,
        host: str | None,
        extras: Mapping[str, Any],
    ) -> ShopConfig:
        """Read an Airflow ``douyin_shop`` Connection's fields; errors name the connection and the field.

        Extras may be spelled plainly or ``extra__douyin_shop__<name>`` (older forms); ``""`` is unset.
        """

        def extra(name: str) -> Any:
            return connection_extra(extras, SHOP_CONN_TYPE, name)

        def number(name: str) -> float | None:
            return connection_number(conn_id, extras, SHOP_CONN_TYPE, name)

        settings: dict[str, Any] = {
            "app_key": (login or "").strip(),
            "app_secret": password or "",
            "base_url": host,
            "shop_id": extra("shop_id"),
            "auth_mode": str(extra("auth_mode") or "self"),
            "refresh_token": None if extra("refresh_token") is None else str(extra("refresh_token")),
            "sign_method": str(extra("sign_method") or "hmac-sha256"),
            "rate_limit_url": None
            if extra("rate_limit_url") is None
            else str(extra("rate_limit_url")).strip(),
        }
        for name in ("qps", "timeout", "deadline", "retry_budget"):
            value = number(name)
            if value is not None:
                settings[name] = value
        try:
            config = cls(conn_id=conn_id, **settings)
        except ConfigError as exc:
            raise DouyinConnectionError(conn_id, exc.field, exc.problem) from None
        if config.auth_mode == "code" and config.refresh_token is None:
            # A connection is the only source of a tool app's first refresh token.
            raise DouyinConnectionError(conn_id, "refresh_token", "is required for auth_mode 'code'")
        return config
