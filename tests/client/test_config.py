"""One validated, frozen config per app: what the hook builds and every layer below receives."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_douyin.client import DoudianShopClient
from airflow_provider_douyin.client.config import ConfigError, ShopConfig

from .fakes import APP_KEY, APP_SECRET, BASE_URL, SHOP_ID
from .sandbox_gateway import SandboxGateway


def test_spellings_are_normalised_once_and_the_config_cannot_change() -> None:
    config = ShopConfig(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        shop_id=int(SHOP_ID),  # type: ignore[arg-type]
        auth_mode="authorization_self",
        sign_method="MD5",
        base_url=" ",
    )
    assert (config.shop_id, config.auth_mode, config.sign_method) == (SHOP_ID, "self", "md5")
    assert (config.base_url, config.url) == (None, BASE_URL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.qps = 1000.0  # type: ignore[misc]
    assert APP_SECRET not in repr(config)


@pytest.mark.parametrize(
    ("timeout", "expected"), [(30.0, (10.0, 30.0)), (4.0, (4.0, 4.0)), ((2.0, 5.0), (2.0, 5.0))]
)
def test_a_single_timeout_is_the_read_timeout_and_caps_the_connect(timeout: Any, expected: Any) -> None:
    config = ShopConfig(app_key=APP_KEY, app_secret=APP_SECRET, shop_id=SHOP_ID, timeout=timeout)
    assert config.http_timeout == expected


def test_the_client_runs_on_the_config_it_was_given() -> None:
    config = ShopConfig(app_key=APP_KEY, app_secret=APP_SECRET, shop_id=SHOP_ID, deadline=15, retry_budget=90)
    with DoudianShopClient(config) as client:
        assert client.config is config
        assert (client._transport._deadline, client._transport._retry.max_delay) == (15, 90)
    with pytest.raises(TypeError, match="not both"):
        DoudianShopClient(config, qps=5)


def test_errors_name_the_field_in_the_callers_terms() -> None:
    with pytest.raises(ConfigError, match="^qps must be > 0") as info:
        ShopConfig(app_key=APP_KEY, app_secret=APP_SECRET, shop_id=SHOP_ID, qps=0)
    assert info.value.field == "qps"


def test_token_calls_never_loop_back_through_the_clients_public_methods(gateway: SandboxGateway) -> None:
    """The token manager gets a narrow token-call function, not the client: nothing re-enters request()."""
    client = gateway.client()

    def no_reentry(*_args: Any) -> Any:
        raise AssertionError("the token manager called back into the client")

    client.request = client.call = no_reentry
    assert client.tokens.access_token()
    assert [method for method, _ in gateway.calls] == ["token.create"]
