"""The connection a user types into the UI or an AIRFLOW_CONN_* variable."""

from __future__ import annotations

import json

import pytest

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.client.tokens import InMemoryTokenStore
from airflow_provider_douyin.hooks.shop import DouyinConnectionError, DouyinShopHook, ShopConfig

APP_KEY = "3409409348479354011"
SECRET = "2ad2355c-01d0-11f8-91dc-05a8cd1054b1"


def parse(login=APP_KEY, password=SECRET, host=None, **extras):
    return ShopConfig.from_connection(
        "douyin_shop_default", login=login, password=password, host=host, extras=extras
    )


def test_defaults_for_a_self_use_app():
    cfg = parse(shop_id="1000001")
    assert (cfg.base_url, cfg.auth_mode, cfg.sign_method, cfg.qps, cfg.timeout) == (
        None,
        "self",
        "hmac-sha256",
        10.0,
        30.0,
    )


def test_deadline_and_retry_budget_default_and_parse():
    assert (parse(shop_id="1").deadline, parse(shop_id="1").retry_budget) == (60.0, 300.0)
    cfg = parse(shop_id="1", deadline="15", retry_budget=90)
    assert (cfg.deadline, cfg.retry_budget) == (15.0, 90.0)


def test_the_hook_hands_deadline_and_retry_budget_to_the_transport(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOUYIN_TUNED",
        json.dumps(
            {
                "conn_type": "douyin_shop",
                "login": APP_KEY,
                "password": SECRET,
                "extra": {"shop_id": "1", "deadline": 15, "retry_budget": 90},
            }
        ),
    )
    hook = DouyinShopHook("douyin_tuned", token_store=InMemoryTokenStore())
    assert hook.client.config is hook.config  # parsed and validated once, then handed down
    transport = hook.client._transport
    assert transport._deadline == 15.0
    assert transport._retry.max_delay == 90.0


def test_prefixed_extras_from_the_legacy_form_are_accepted():
    cfg = parse(
        **{"extra__douyin_shop__shop_id": "1000001", "extra__douyin_shop__sign_method": "md5", "shop_id": ""}
    )
    assert cfg.shop_id == "1000001" and cfg.sign_method == "md5"


def test_sandbox_url_is_accepted_as_host():
    assert parse(host="http://127.0.0.1:8123", shop_id="1").base_url == "http://127.0.0.1:8123"


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"login": ""}, "login \\(app_key\\) is required"),
        ({"login": "12345"}, "19-digit"),
        ({"password": ""}, "password \\(app_secret\\)"),
        ({"shop_id": "shop-1"}, "'shop_id' must be numeric"),
        ({"shop_id": "1", "sign_method": "sha1"}, "'sign_method' must be one of"),
        ({"shop_id": "1", "auth_mode": "oauth"}, "'auth_mode' must be one of"),
        ({}, "'shop_id' is required for auth_mode 'self'"),
        ({"auth_mode": "code"}, "'refresh_token' is required for auth_mode 'code'"),
        ({"shop_id": "1", "qps": "fast"}, "'qps' must be a number"),
        ({"shop_id": "1", "deadline": "soon"}, "'deadline' must be a number"),
        ({"shop_id": "1", "deadline": 0}, "'deadline' must be > 0"),
        ({"shop_id": "1", "retry_budget": "-5"}, "'retry_budget' must be > 0"),
        ({"shop_id": "1", "host": "127.0.0.1:8000"}, "host must be empty"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(DouyinConnectionError, match=field):
        parse(**kwargs)


def test_repr_never_shows_the_secret_or_bootstrap_token():
    cfg = parse(auth_mode="code", refresh_token="rt-bootstrap-value-123456789")
    assert SECRET not in repr(cfg) and "rt-bootstrap-value" not in repr(cfg)


def test_hook_fails_at_creation_with_the_field_name(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOUYIN_BAD",
        json.dumps(
            {"conn_type": "douyin_shop", "login": APP_KEY, "password": SECRET, "extra": {"shop_id": "12a"}}
        ),
    )
    with pytest.raises(DouyinConnectionError, match="shop_id"):
        DouyinShopHook("douyin_bad")


@pytest.mark.parametrize(
    ("given", "mode"),
    [("authorization_self", "self"), ("authorization_code", "code"), ("self", "self"), ("code", "code")],
)
def test_auth_mode_accepts_doudians_grant_type_names(given, mode):
    """The long names keep Airflow from warning about extras under 5 characters in every task."""
    assert parse(shop_id="1", auth_mode=given, refresh_token="rt-bootstrap-value-123456789").auth_mode == mode


def test_a_connection_of_the_other_platform_is_named_as_the_error(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOUYIN_LIFE",
        json.dumps({"conn_type": "douyin_open", "login": "awq1example", "password": SECRET}),
    )
    with pytest.raises(DouyinConfigError, match="needs a 'douyin_shop' connection; 'douyin_life'"):
        DouyinShopHook("douyin_life")
