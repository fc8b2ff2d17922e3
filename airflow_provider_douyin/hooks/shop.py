"""Airflow hook for the Douyin shop (Doudian) open platform.

The hook only turns an Airflow Connection into a configured client core; signing,
retries, rate limiting and token rotation live in ``airflow_provider_douyin.client``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_douyin.client.ratelimit import check_rate_limit_url
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.client.shop import DoudianShopClient
from airflow_provider_douyin.client.tokens import InMemoryTokenStore, TokenStore
from airflow_provider_douyin.hooks.token_store import VariableTokenStore, mask_long_secret

CONN_TYPE = "douyin_shop"
SIGN_METHODS = ("hmac-sha256", "md5")
AUTH_MODES = ("self", "code")
AUTH_MODE_ALIASES = {"authorization_self": "self", "authorization_code": "code"}
"""Doudian's grant-type names for the two modes. Airflow masks every string in a connection's extras
and warns once per task about values under 5 characters, so ``"self"``/``"code"`` always warn."""


class DouyinConnectionError(ValueError):
    """A Douyin connection is misconfigured; the message names the field to fix."""


@dataclass(frozen=True)
class ShopConnectionConfig:
    conn_id: str
    app_key: str
    app_secret: str
    base_url: str | None
    shop_id: str | None
    auth_mode: str
    refresh_token: str | None
    sign_method: str
    qps: float
    timeout: float
    deadline: float = 60.0
    """Seconds one HTTP attempt may take, connect to last body byte."""
    retry_budget: float = 300.0
    """Seconds one call may spend including its retries."""
    rate_limit_url: str | None = None
    """Redis URL of the limiter shared by every process syncing this app_key (None: per process)."""

    def __repr__(self) -> str:  # never show the secret or the bootstrap token
        return (
            f"ShopConnectionConfig(conn_id={self.conn_id!r}, app_key={self.app_key!r}, "
            f"base_url={self.base_url!r}, shop_id={self.shop_id!r}, auth_mode={self.auth_mode!r}, "
            f"sign_method={self.sign_method!r}, qps={self.qps}, timeout={self.timeout}, "
            f"deadline={self.deadline}, retry_budget={self.retry_budget})"
        )


def _extra_field(extras: Mapping[str, Any], name: str) -> Any:
    """Read a plain extra, falling back to the ``extra__douyin_shop__<name>`` form; "" means unset."""
    for key in (name, f"extra__{CONN_TYPE}__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return value
    return None


def _positive_number(extras: Mapping[str, Any], name: str, default: float, conn_id: str) -> float:
    raw = _extra_field(extras, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DouyinConnectionError(
            f"Connection {conn_id!r}: extra {name!r} must be a number, got {raw!r}"
        ) from None
    if value <= 0:
        raise DouyinConnectionError(f"Connection {conn_id!r}: extra {name!r} must be > 0, got {raw!r}")
    return value


def parse_shop_connection(
    conn_id: str,
    *,
    login: str | None,
    password: str | None,
    host: str | None,
    extras: Mapping[str, Any],
) -> ShopConnectionConfig:
    """Validate a connection up front so a typo fails the task with the field name, not a 40003."""
    app_key = (login or "").strip()
    if not app_key:
        raise DouyinConnectionError(f"Connection {conn_id!r}: login (app_key) is required")
    if not (app_key.isdigit() and len(app_key) == 19):
        raise DouyinConnectionError(f"Connection {conn_id!r}: login (app_key) must be a 19-digit number")
    if not password:
        raise DouyinConnectionError(f"Connection {conn_id!r}: password (app_secret) is required")

    base_url = (host or "").strip() or None
    if base_url and not base_url.startswith(("http://", "https://")):
        raise DouyinConnectionError(
            f"Connection {conn_id!r}: host must be empty (production) or a full http(s)://host[:port] URL"
        )

    shop_id = _extra_field(extras, "shop_id")
    if shop_id is not None:
        shop_id = str(shop_id).strip()
        if not shop_id.isdigit():
            raise DouyinConnectionError(f"Connection {conn_id!r}: extra 'shop_id' must be numeric")

    raw_mode = str(_extra_field(extras, "auth_mode") or "self")
    auth_mode = AUTH_MODE_ALIASES.get(raw_mode, raw_mode)
    if auth_mode not in AUTH_MODES:
        allowed = (*AUTH_MODES, *AUTH_MODE_ALIASES)
        raise DouyinConnectionError(
            f"Connection {conn_id!r}: extra 'auth_mode' must be one of {allowed}, got {raw_mode!r}"
        )
    refresh_token = _extra_field(extras, "refresh_token")
    if auth_mode == "self" and shop_id is None:
        raise DouyinConnectionError(
            f"Connection {conn_id!r}: extra 'shop_id' is required for auth_mode 'self'"
        )
    if auth_mode == "code" and refresh_token is None:
        raise DouyinConnectionError(
            f"Connection {conn_id!r}: extra 'refresh_token' is required for auth_mode 'code'"
        )

    sign_method = str(_extra_field(extras, "sign_method") or "hmac-sha256").lower()
    if sign_method not in SIGN_METHODS:
        raise DouyinConnectionError(
            f"Connection {conn_id!r}: extra 'sign_method' must be one of {SIGN_METHODS}, got {sign_method!r}"
        )

    return ShopConnectionConfig(
        conn_id=conn_id,
        app_key=app_key,
        app_secret=password,
        base_url=base_url,
        shop_id=shop_id,
        auth_mode=auth_mode,
        refresh_token=str(refresh_token) if refresh_token is not None else None,
        sign_method=sign_method,
        qps=_positive_number(extras, "qps", 10.0, conn_id),
        timeout=_positive_number(extras, "timeout", 30.0, conn_id),
        deadline=_positive_number(extras, "deadline", 60.0, conn_id),
        retry_budget=_positive_number(extras, "retry_budget", 300.0, conn_id),
        rate_limit_url=_rate_limit_url(extras, conn_id),
    )


def _rate_limit_url(extras: Mapping[str, Any], conn_id: str) -> str | None:
    raw = _extra_field(extras, "rate_limit_url")
    try:
        return None if raw is None else check_rate_limit_url(str(raw).strip())
    except ValueError as exc:
        raise DouyinConnectionError(f"Connection {conn_id!r}: extra 'rate_limit_url' {exc}") from None


class DouyinShopHook(BaseHook):
    """Interact with the Doudian shop gateway through one Airflow Connection per shop.

    :param douyin_conn_id: Connection of type ``douyin_shop``.
    :param token_store: where rotated tokens live; defaults to the Airflow Variable
        ``douyin_token__<conn_id>`` because tasks cannot write Connections in Airflow 3. Outside a
        task the Variable is written through the metadata database, or, without one, kept in
        process memory (one warning). One hook holds one client, so many calls share one token.
    :param token_refresh: ``False`` only uses stored tokens and never rotates them
        (triggers run concurrently with workers and must not own the refresh).
    """

    conn_name_attr = "douyin_conn_id"
    default_conn_name = "douyin_shop_default"
    conn_type = CONN_TYPE
    hook_name = "Douyin Shop (Doudian)"

    def __init__(
        self,
        douyin_conn_id: str = default_conn_name,
        token_store: TokenStore | None = None,
        token_refresh: bool = True,
    ) -> None:
        super().__init__()
        self.douyin_conn_id = douyin_conn_id
        self.token_refresh = token_refresh
        conn = self.get_connection(douyin_conn_id)
        self.config = parse_shop_connection(
            douyin_conn_id,
            login=conn.login,
            password=conn.password,
            host=conn.host if not conn.port else f"{conn.host}:{conn.port}",
            extras=conn.extra_dejson,
        )
        mask_long_secret(self.config.app_secret)
        mask_long_secret(self.config.refresh_token)
        self.token_store = token_store or VariableTokenStore(douyin_conn_id)

    @cached_property
    def client(self) -> DoudianShopClient:
        return self._make_client(self.token_store, token_refresh=self.token_refresh)

    def _make_client(self, token_store: TokenStore, *, token_refresh: bool) -> DoudianShopClient:
        cfg = self.config
        return DoudianShopClient(
            app_key=cfg.app_key,
            app_secret=cfg.app_secret,
            base_url=cfg.base_url,
            shop_id=cfg.shop_id,
            auth_mode=cfg.auth_mode,
            refresh_token=cfg.refresh_token,
            sign_method=cfg.sign_method,
            qps=cfg.qps,
            timeout=(min(10.0, cfg.timeout), cfg.timeout),
            deadline=cfg.deadline,
            rate_limit_url=cfg.rate_limit_url,
            retry=RetryPolicy(max_delay=cfg.retry_budget),
            token_store=token_store,
            secret_masker=mask_long_secret,
            label=f"connection {cfg.conn_id!r}",
            token_refresh=token_refresh,
        )

    def get_conn(self) -> DoudianShopClient:
        return self.client

    def close(self) -> None:
        """Close the client's HTTP session, if the client was built; the hook can build a new one."""
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()

    def __enter__(self) -> DouyinShopHook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call one gateway method and return its ``data``; errors are typed ``DouyinError`` subclasses."""
        return self.client.call(method, params)

    def test_connection(self) -> tuple[bool, str]:
        """Obtain a token and make one cheap read, so the UI's Test button proves the whole chain.

        The button runs outside a task, where Variables cannot be written, so the check uses a
        throwaway copy of the stored pair. A self-use app may create a token for it; a tool
        app's refresh token is never rotated here, because the rotated pair could not be kept.
        """
        try:
            try:
                stored = self.token_store.load()
            except Exception:  # an unreadable store only means the check starts without a token
                stored = None
            with self._make_client(
                InMemoryTokenStore(stored), token_refresh=self.config.auth_mode == "self"
            ) as probe:
                data = probe.call("product.listV2", {"page": 1, "size": 1})
        except Exception as err:  # the UI shows the message; typed errors carry code/sub_code/log_id
            return False, str(err)
        total = data.get("total") if isinstance(data, Mapping) else None
        return True, f"Connected to shop {self.config.shop_id or '(from token)'}; {total} products visible"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form fields for Airflow 3.1; 3.2+ reads the declarative ``conn-fields`` instead."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField, StringField

        from airflow_provider_douyin.get_provider_info import SHOP_CONNECTION_FIELDS

        widgets: dict[str, Any] = {}
        for name, spec in SHOP_CONNECTION_FIELDS.items():
            secret = spec["schema"].get("format") == "password"
            field_cls, widget = (
                (PasswordField, BS3PasswordFieldWidget()) if secret else (StringField, BS3TextFieldWidget())
            )
            widgets[name] = field_cls(
                lazy_gettext(spec["label"]), widget=widget, description=spec.get("description", "")
            )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_douyin.get_provider_info import SHOP_UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": SHOP_UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": SHOP_UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": SHOP_UI_FIELD_BEHAVIOUR["placeholders"],
        }
