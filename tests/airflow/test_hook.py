"""DouyinShopHook against the sandbox, as the UI's Test button and a task use it."""

from __future__ import annotations

import pytest

from airflow_provider_douyin.client import DouyinRequestError, InMemoryTokenStore
from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.sandbox import SANDBOX_APP_SECRET
from tests.airflow.conftest import CONN_ID, shop_connection

WRONG_SECRET = "0000aaaa-1111-2222-3333-444455556666"


def test_test_connection_gets_a_token_and_reads_one_product(shop, in_memory_tokens):
    ok, message = DouyinShopHook(CONN_ID).test_connection()
    products = len(shop.truth("products", shop_id=1000001))
    assert (ok, message) == (True, f"Connected to shop 1000001; {products} products visible")
    assert shop.stats()["requests_by_method"] == {"token.create": 1, "product.listV2": 1}


def test_test_connection_never_writes_the_token_store(shop, in_memory_tokens):
    """Outside a task Variables cannot be written: the Test button must not try."""
    assert DouyinShopHook(CONN_ID).test_connection()[0] is True
    assert in_memory_tokens.load() is None


def test_test_connection_of_a_tool_app_never_rotates_its_refresh_token(shop, in_memory_tokens, monkeypatch):
    extra = {
        "shop_id": "1000001",
        "auth_mode": "code",
        "refresh_token": "rft.bootstrap-token-from-oauth-0000",
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(shop.url, extra=extra))
    ok, message = DouyinShopHook(CONN_ID).test_connection()
    assert ok is False and "DouyinTokenRefreshOperator" in message
    assert "token.refresh" not in shop.stats()["requests_by_method"]


def test_test_connection_reports_a_wrong_secret_with_code_and_log_id(shop, in_memory_tokens, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(shop.url, password=WRONG_SECRET))
    ok, message = DouyinShopHook(CONN_ID).test_connection()
    assert ok is False
    assert "code=40003" in message and "isv.signature-invalid" in message and "log_id=" in message
    assert WRONG_SECRET not in message and SANDBOX_APP_SECRET not in message


def test_call_returns_exact_int64_ids(shop, in_memory_tokens):
    data = DouyinShopHook(CONN_ID).call("product.listV2", {"page": 1, "size": 5})
    truth_ids = {p["product_id"] for p in shop.truth("products", shop_id=1000001)}
    ids = [p["product_id"] for p in data["data"]]
    assert all(isinstance(i, int) and i > 2**53 for i in ids)
    assert set(ids) <= truth_ids


def test_a_permanent_api_error_is_typed_and_names_the_sub_code(shop, in_memory_tokens):
    with pytest.raises(DouyinRequestError) as err:
        DouyinShopHook(CONN_ID).call("order.searchList", {"page": 0, "size": 500, "update_time_start": 0})
    assert err.value.code == 40004 and err.value.log_id
    assert err.value.sub_code.startswith("isv.parameter-invalid:")


def test_values_too_short_for_airflow_to_mask_are_never_passed_to_mask_secret(shop, monkeypatch):
    """Airflow logs "Skipping masking for a secret as it's too short" for each such value."""
    masked: list[str] = []
    monkeypatch.setattr("airflow.sdk.log.mask_secret", masked.append)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(shop.url, password="short"))
    store = InMemoryTokenStore()
    hook = DouyinShopHook(CONN_ID, token_store=store)
    with pytest.raises(DouyinRequestError):  # the sandbox refuses the wrong secret's sign
        hook.call("product.listV2", {"page": 1, "size": 1})

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(shop.url))
    DouyinShopHook(CONN_ID, token_store=store).call("product.listV2", {"page": 1, "size": 1})

    assert "short" not in masked
    assert SANDBOX_APP_SECRET in masked and store.load().access_token in masked
    # Airflow itself masks the connection's extras as a dict, whose short values it walks by key name
    assert min(len(value) for value in masked if isinstance(value, str)) >= 8
