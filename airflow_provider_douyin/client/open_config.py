"""A Douyin Open Platform connection, parsed and validated once into one typed config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.client.ratelimit import check_rate_limit_url

OPEN_CONN_TYPE = "douyin_open"
DEFAULT_OPEN_QPS = 20.0


@dataclass(frozen=True)
class OpenConfig:
    """Everything a Douyin Open Platform client needs; repr never shows the secret or a token."""

    conn_id: str
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
    """Redis URL of the limiter shared by every process calling with this client_key (None: per process)."""


def extra_field(extras: Mapping[str, Any], conn_type: str, name: str) -> Any:
    """A plain extra, else its ``extra__<conn_type>__<name>`` form; "" means unset."""
    for key in (name, f"extra__{conn_type}__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return value
    return None


def positive_number(
    extras: Mapping[str, Any], conn_type: str, name: str, default: float, conn_id: str
) -> float:
    raw = extra_field(extras, conn_type, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DouyinConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a number, got {raw!r}"
        ) from None
    if value <= 0:
        raise DouyinConfigError(f"Connection {conn_id!r}: extra {name!r} must be > 0, got {raw!r}")
    return value


def parse_open_connection(
    conn_id: str,
    *,
    login: str | None,
    password: str | None,
    host: str | None,
    extras: Mapping[str, Any],
) -> OpenConfig:
    """Validate up front, so a typo fails at hook creation naming the field, not with a 2100005."""
    client_key = (login or "").strip()
    if not client_key:
        raise DouyinConfigError(f"Connection {conn_id!r}: login (client_key) is required")
    if not re.fullmatch(r"[A-Za-z0-9_]+", client_key):
        raise DouyinConfigError(f"Connection {conn_id!r}: login (client_key) must be letters and digits")
    if not password:
        raise DouyinConfigError(f"Connection {conn_id!r}: password (client_secret) is required")
    base_url = (host or "").strip() or None
    if base_url and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", base_url):
        raise DouyinConfigError(
            f"Connection {conn_id!r}: host must be empty (production) or a full http(s)://host[:port] URL"
        )

    def text(name: str) -> str | None:
        value = extra_field(extras, OPEN_CONN_TYPE, name)
        return None if value is None else str(value).strip()

    account_id = text("account_id")
    if account_id is not None and not account_id.isdigit():
        raise DouyinConfigError(
            f"Connection {conn_id!r}: extra 'account_id' must be the numeric 来客 account id"
        )
    root_account_id = text("root_account_id")
    if root_account_id is not None and not root_account_id.isdigit():
        raise DouyinConfigError(f"Connection {conn_id!r}: extra 'root_account_id' must be numeric")
    redirect_uri = text("redirect_uri")
    if redirect_uri is not None and not redirect_uri.startswith(("http://", "https://")):
        raise DouyinConfigError(f"Connection {conn_id!r}: extra 'redirect_uri' must be an http(s) URL")
    raw_scopes = extra_field(extras, OPEN_CONN_TYPE, "scopes") or ()
    if isinstance(raw_scopes, str):
        raw_scopes = raw_scopes.split(",")
    if not isinstance(raw_scopes, (list, tuple)):
        raise DouyinConfigError(
            f"Connection {conn_id!r}: extra 'scopes' must be a list or a comma-separated string"
        )
    scopes = tuple(str(scope).strip() for scope in raw_scopes if str(scope).strip())
    rate_limit_url = text("rate_limit_url")
    if rate_limit_url is not None:
        try:
            check_rate_limit_url(rate_limit_url)
        except ValueError as exc:
            raise DouyinConfigError(f"Connection {conn_id!r}: extra 'rate_limit_url' {exc}") from None

    def number(name: str, default: float) -> float:
        return positive_number(extras, OPEN_CONN_TYPE, name, default, conn_id)

    return OpenConfig(
        conn_id=conn_id,
        client_key=client_key,
        client_secret=password,
        base_url=base_url,
        account_id=account_id,
        root_account_id=root_account_id,
        open_id=text("open_id"),
        refresh_token=text("refresh_token"),
        scopes=scopes,
        redirect_uri=redirect_uri,
        qps=number("qps", DEFAULT_OPEN_QPS),
        timeout=number("timeout", 30.0),
        deadline=number("deadline", 60.0),
        retry_budget=number("retry_budget", 300.0),
        rate_limit_url=rate_limit_url,
    )
