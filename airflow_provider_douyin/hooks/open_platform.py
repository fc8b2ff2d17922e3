"""Airflow hook for the Douyin Open Platform (open.douyin.com): a Connection becomes a client.

Token persistence: the app's client token lives in the Variable ``douyin_client_token__<client_key>``,
shared by every connection of that app (the platform retires a client token five minutes after the
next fetch, so two stores for one app would fight); the user's token chain lives in
``douyin_token__<conn_id>``, written by ``douyin-oauth exchange`` and kept fresh by the tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_douyin.client.open_client import DouyinOpenClient
from airflow_provider_douyin.client.open_config import OPEN_CONN_TYPE, OpenConfig
from airflow_provider_douyin.client.open_platform import LIFE_ORDER_QUERY
from airflow_provider_douyin.client.open_tokens import ClientToken, InMemoryRecordStore, UserTokenChain
from airflow_provider_douyin.hooks.connection import connection_fields
from airflow_provider_douyin.hooks.forms import field_behaviour, form_widgets
from airflow_provider_douyin.hooks.token_store import VariableTokenStore, mask_long_secret


def client_token_variable_key(client_key: str) -> str:
    return f"douyin_client_token__{client_key}"


class DouyinOpenHook(BaseHook):
    """Interact with the Douyin Open Platform through one Airflow Connection of type ``douyin_open``.

    :param douyin_conn_id: the connection; login = client_key, password = client_secret, host = base
        URL (empty for production), extras ``account_id``, ``root_account_id``, ``open_id``,
        ``refresh_token``, ``scopes``, ``redirect_uri``, ``qps``, ``timeout``, ``deadline``,
        ``retry_budget``.
    """

    conn_name_attr = "douyin_conn_id"
    default_conn_name = "douyin_open_default"
    conn_type = OPEN_CONN_TYPE
    hook_name = "Douyin Open Platform"

    def __init__(self, douyin_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.douyin_conn_id = douyin_conn_id
        # A misconfigured connection, or one of the other platform, fails here, naming the field.
        self.config = OpenConfig.from_connection(douyin_conn_id, **connection_fields(self, douyin_conn_id))
        mask_long_secret(self.config.client_secret)
        mask_long_secret(self.config.refresh_token)
        self.client_token_store = VariableTokenStore(
            douyin_conn_id, record=ClientToken, key=client_token_variable_key(self.config.client_key)
        )
        self.user_token_store = VariableTokenStore(douyin_conn_id, record=UserTokenChain)

    @cached_property
    def client(self) -> DouyinOpenClient:
        return self.make_client()

    def make_client(
        self, *, client_token_store: Any = None, user_token_store: Any = None
    ) -> DouyinOpenClient:
        return DouyinOpenClient(
            self.config,
            client_token_store=client_token_store or self.client_token_store,
            user_token_store=user_token_store or self.user_token_store,
            secret_masker=mask_long_secret,
        )

    def get_conn(self) -> DouyinOpenClient:
        return self.client

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call one Open Platform path and return its ``data``; errors are typed ``DouyinError``s."""
        return self.client.call(method, params)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()

    def __enter__(self) -> DouyinOpenHook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def test_connection(self) -> tuple[bool, str]:
        """Get a client token and read one order page, without touching the stored tokens.

        The UI's Test button runs outside a task: the probe works on throwaway copies of the stores,
        so it never overwrites what the tasks use, and it reuses the stored client token while that is
        valid. Only with no usable stored token does it fetch one, which (as every fetch does) retires
        the previous token of the app five minutes later.
        """
        try:
            stored = self._load_quietly()
            with self.make_client(
                client_token_store=InMemoryRecordStore(stored), user_token_store=InMemoryRecordStore()
            ) as probe:
                if not self.config.account_id:
                    probe.client_tokens.access_token()
                    return True, "Client token obtained; set extra 'account_id' to read 抖音来客 data"
                data = probe.call(
                    LIFE_ORDER_QUERY, {"account_id": self.config.account_id, "page_num": 1, "page_size": 10}
                )
        except Exception as err:  # the UI shows the message; typed errors carry code and logid
            return False, str(err)
        page = data.get("page") if isinstance(data, Mapping) else None
        total = page.get("total") if isinstance(page, Mapping) else None
        return True, f"Connected to 来客 account {self.config.account_id}; {total} orders visible"

    def _load_quietly(self) -> ClientToken | None:
        try:
            return self.client_token_store.load()
        except Exception:  # an unreadable store only means the check fetches its own token
            return None

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form fields for Airflow 3.1; 3.2+ reads the declarative ``conn-fields`` instead."""
        from airflow_provider_douyin.get_provider_info import OPEN_CONNECTION_FIELDS

        return form_widgets(OPEN_CONNECTION_FIELDS)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_douyin.get_provider_info import OPEN_UI_FIELD_BEHAVIOUR

        return field_behaviour(OPEN_UI_FIELD_BEHAVIOUR)
