"""Airflow hook for the Douyin shop (Doudian) open platform.

The hook only turns an Airflow Connection into a configured client core; signing,
retries, rate limiting and token rotation live in ``airflow_provider_douyin.client``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_douyin.client.config import SHOP_CONN_TYPE, DouyinConnectionError, ShopConfig
from airflow_provider_douyin.client.doudian_client import DoudianShopClient
from airflow_provider_douyin.client.tokens import InMemoryTokenStore, TokenStore
from airflow_provider_douyin.hooks.connection import connection_fields
from airflow_provider_douyin.hooks.forms import field_behaviour, form_widgets
from airflow_provider_douyin.hooks.token_store import VariableTokenStore, mask_long_secret

__all__ = ["DouyinConnectionError", "DouyinShopHook", "ShopConfig"]


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
    conn_type = SHOP_CONN_TYPE
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
        # A misconfigured connection, or one of the other platform, fails here, naming the field.
        self.config = ShopConfig.from_connection(douyin_conn_id, **connection_fields(self, douyin_conn_id))
        mask_long_secret(self.config.app_secret)
        mask_long_secret(self.config.refresh_token)
        self.token_store = token_store or VariableTokenStore(douyin_conn_id)

    @cached_property
    def client(self) -> DoudianShopClient:
        return self._make_client(self.token_store, token_refresh=self.token_refresh)

    def _make_client(self, token_store: TokenStore, *, token_refresh: bool) -> DoudianShopClient:
        return DoudianShopClient(
            self.config, token_store=token_store, secret_masker=mask_long_secret, token_refresh=token_refresh
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
        from airflow_provider_douyin.get_provider_info import SHOP_CONNECTION_FIELDS

        return form_widgets(SHOP_CONNECTION_FIELDS)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_douyin.get_provider_info import SHOP_UI_FIELD_BEHAVIOUR

        return field_behaviour(SHOP_UI_FIELD_BEHAVIOUR)
