"""The settings of one Douyin Open Platform app (and 抖音来客 merchant), validated in one place.

The Open Platform's counterpart of :class:`~airflow_provider_douyin.client.config.ShopConfig`: built
once, from keyword values or an Airflow ``douyin_open`` Connection (:meth:`OpenConfig.from_connection`),
and handed down frozen. Errors name the connection and the field, never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_douyin.client.config import (
    ConfigError,
    DouyinConnectionError,
    check_limiter_url,
    connection_extra,
    connection_number,
)

OPEN_CONN_TYPE = "douyin_open"
DEFAULT_OPEN_QPS = 20.0
"""The documented life-service limit per app (the order query's usage limits say 20)."""

_URL = re.compile(r"https?://[^/\s]+(/\S*)?")
_CONNECTION_FIELDS = {
    "client_key": "login (client_key)",
    "client_secret": "password (client_secret)",
    "base_url": "host",
}


@dataclass(frozen=True)
class OpenConfig:
    """Everything a Douyin Open Platform client needs; repr never shows the secret or a token."""

    client_key: str
    client_secret: str = field(repr=False)
    base_url: str | None = None
    account_id: str | None = None
    """The 抖音来客 merchant account the life-service streams read."""
    root_account_id: str | None = None
    """The merchant's root (group) account, sent as ``Rpc-Transit-Life-Account`` when set."""
    open_id: str | None = None
    """The authorized Douyin user, for user-token data."""
    refresh_token: str | None = field(default=None, repr=False)
    """Bootstrap refresh token for the user chain, when no ``douyin-oauth exchange`` was run."""
    scopes: tuple[str, ...] = ()
    redirect_uri: str | None = None
    qps: float = DEFAULT_OPEN_QPS
    timeout: float = 30.0
    deadline: float = 60.0
    retry_budget: float = 300.0
    rate_limit_url: str | None = None
    """A Redis URL through which every process and machine of this client_key shares one budget."""
    conn_id: str | None = None

    def __post_init__(self) -> None:
        if not self.client_key:
            raise ConfigError("client_key", "is required")
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.client_key):
            raise ConfigError("client_key", "must be letters and digits")
        if not self.client_secret:
            raise ConfigError("client_secret", "is required")
        if self.base_url is not None and not _URL.fullmatch(self.base_url):
            raise ConfigError("base_url", "must be empty (production) or a full http(s)://host[:port] URL")
        for name, what in (("account_id", "the numeric 来客 account id"), ("root_account_id", "numeric")):
            value = getattr(self, name)
            if value is not None and not value.isdigit():
                raise ConfigError(name, f"must be {what}")
        if self.redirect_uri is not None and not _URL.fullmatch(self.redirect_uri):
            raise ConfigError("redirect_uri", "must be an http(s) URL")
        for name in ("qps", "timeout", "deadline", "retry_budget"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)!r}")
        check_limiter_url(self.rate_limit_url)

    @property
    def label(self) -> str:
        """How messages (re-authorization hints) name this app."""
        return (
            f"connection {self.conn_id!r}" if self.conn_id else f"Douyin Open Platform app {self.client_key}"
        )

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        *,
        login: str | None,
        password: str | None,
        host: str | None,
        extras: Mapping[str, Any],
    ) -> OpenConfig:
        """Read an Airflow ``douyin_open`` Connection; a typo fails here, naming the field."""

        def text(name: str) -> str | None:
            value = connection_extra(extras, OPEN_CONN_TYPE, name)
            return None if value is None else str(value).strip()

        raw_scopes = connection_extra(extras, OPEN_CONN_TYPE, "scopes") or ()
        if isinstance(raw_scopes, str):
            raw_scopes = raw_scopes.split(",")
        if not isinstance(raw_scopes, (list, tuple)):
            raise DouyinConnectionError(conn_id, "scopes", "must be a list or a comma-separated string")
        settings: dict[str, Any] = {
            "client_key": (login or "").strip(),
            "client_secret": password or "",
            "base_url": (host or "").strip() or None,
            "scopes": tuple(str(scope).strip() for scope in raw_scopes if str(scope).strip()),
            **{
                name: text(name)
                for name in (
                    "account_id",
                    "root_account_id",
                    "open_id",
                    "refresh_token",
                    "redirect_uri",
                    "rate_limit_url",
                )
            },
        }
        for name in ("qps", "timeout", "deadline", "retry_budget"):
            value = connection_number(conn_id, extras, OPEN_CONN_TYPE, name)
            if value is not None:
                settings[name] = value
        try:
            return cls(conn_id=conn_id, **settings)
        except ConfigError as exc:
            raise DouyinConnectionError(conn_id, exc.field, exc.problem, fields=_CONNECTION_FIELDS) from None
