"""The exact HTTP request the gateway receives (query, body, headers, sign), and client config checks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_douyin import __version__
from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore

from .fakes import APP_KEY, APP_SECRET, BASE_URL, SHOP_ID, envelope, stored_pair

ROW1_PARAMS = {"size": 20, "page": 0, "create_time_start": 1699900000, "create_time_end": 1700000000}
ROW1_BODY = b'{"create_time_end":1700000000,"create_time_start":1699900000,"page":0,"size":20}'
ROW4_BODY = (
    '{"combine_status":[{"main_status":"103","order_status":"2"}],"page":0,"product":"测试商品","size":10}'
)


def query_of(request: Any) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(request.url).query, keep_blank_values=True)


@pytest.mark.parametrize(
    ("sign_method", "sign"),
    [
        ("hmac-sha256", "a80841d7033ae862944f0a546d7ab605d95f9c09852b1a22c506f0af430b24ab"),
        ("md5", "89d4a667df46716325a3931efa4fccca"),
    ],
)
def test_data_call_matches_vector_1(
    requests_mock: Any, make_client: Any, sign_method: str, sign: str
) -> None:
    requests_mock.post(
        f"{BASE_URL}/order/searchList", json=envelope(data={"total": 0, "shop_order_list": []})
    )
    pair = stored_pair()
    client = make_client(sign_method=sign_method, token_store=InMemoryTokenStore(pair))

    assert client.call("order.searchList", ROW1_PARAMS) == {"total": 0, "shop_order_list": []}

    request = requests_mock.last_request
    assert request.method == "POST"
    assert urlsplit(request.url).path == "/order/searchList"
    assert query_of(request) == [
        ("app_key", APP_KEY),
        ("method", "order.searchList"),
        ("access_token", pair.access_token),
        ("timestamp", "1700000000"),
        ("v", "2"),
        ("sign_method", sign_method),
        ("sign", sign),
    ]
    assert request.body == ROW1_BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["x-open-no-old-err-code"] == "1"
    assert request.headers["User-Agent"].startswith(f"airflow-provider-douyin/{__version__}")


@pytest.mark.parametrize(
    ("sign_method", "sign"),
    [
        ("hmac-sha256", "df6da40a1df7f5d44ee9fb72af8bb5026cd8e685de90432919d73e1e79deae9b"),
        ("md5", "40707945494e89fe555f2bf61b0a1990"),
    ],
)
def test_self_grant_token_call_matches_vector_3(
    requests_mock: Any, make_client: Any, sign_method: str, sign: str
) -> None:
    token_data = {
        "access_token": "act.created-0001",
        "refresh_token": "rft.created-0001",
        "expires_in": 604800,
    }
    requests_mock.post(f"{BASE_URL}/token/create", json=envelope(data=token_data))
    client = make_client(sign_method=sign_method)

    assert client.tokens.access_token() == "act.created-0001"

    request = requests_mock.last_request
    assert urlsplit(request.url).path == "/token/create"
    assert query_of(request) == [
        ("app_key", APP_KEY),
        ("method", "token.create"),
        ("timestamp", "1700000000"),
        ("v", "2"),
        ("sign_method", sign_method),
        ("sign", sign),
    ]
    assert request.body == b'{"code":"","grant_type":"authorization_self","shop_id":"123456"}'


def test_utf8_body_and_nested_sort_match_vector_4(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(f"{BASE_URL}/order/searchList", json=envelope())
    client = make_client(token_store=InMemoryTokenStore(stored_pair()))
    client.call(
        "order.searchList",
        {
            "size": 10,
            "product": "测试商品",
            "page": 0,
            "combine_status": [{"order_status": "2", "main_status": "103"}],
        },
    )
    request = requests_mock.last_request
    assert request.body == ROW4_BODY.encode("utf-8")
    assert (
        dict(query_of(request))["sign"] == "cbcb425df92c6025f259e3560001c866343cb52615e2539e2c64c198493b96d3"
    )


def test_no_params_send_empty_object_and_match_vector_5(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(f"{BASE_URL}/product/listV2", json=envelope(data={"data": [], "total": 0}))
    client = make_client(sign_method="md5", token_store=InMemoryTokenStore(stored_pair()))
    client.call("product.listV2")
    request = requests_mock.last_request
    assert request.body == b"{}"
    assert dict(query_of(request))["sign"] == "afe587b3c4bc4af8ee3cd0fe115d6fca"


def test_sandbox_base_url_with_port_and_trailing_slash(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post("http://127.0.0.1:8099/afterSale/List", json=envelope(data={"items": []}))
    client = make_client(base_url="http://127.0.0.1:8099/", token_store=InMemoryTokenStore(stored_pair()))
    assert client.call("afterSale.List", {"page": 0, "size": 5}) == {"items": []}
    assert requests_mock.last_request.url.startswith("http://127.0.0.1:8099/afterSale/List?app_key=")


def test_request_exposes_log_id_and_attempts(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(f"{BASE_URL}/order/searchList", json=envelope(data={"page": 0}, log_id="LOG-42"))
    client = make_client(token_store=InMemoryTokenStore(stored_pair()))
    response = client.request("order.searchList", {"page": 0, "size": 1})
    assert (response.method, response.data, response.log_id, response.attempts) == (
        "order.searchList",
        {"page": 0},
        "LOG-42",
        1,
    )


def test_list_data_and_int64_ids_survive_parsing(requests_mock: Any, make_client: Any) -> None:
    body = (
        '{"code":10000,"msg":"success","sub_code":"","sub_msg":"","log_id":"L",'
        '"data":[{"id":3604441230940917780,"product_id":9223372036854775807,"price":1990}]}'
    )
    requests_mock.post(f"{BASE_URL}/sku/list", text=body, headers={"Content-Type": "application/json"})
    client = make_client(token_store=InMemoryTokenStore(stored_pair()))
    skus = client.call("sku.list", {"product_id": 9223372036854775807})
    assert skus == [{"id": 3604441230940917780, "product_id": 9223372036854775807, "price": 1990}]
    assert json.loads(requests_mock.last_request.body) == {"product_id": 9223372036854775807}


def test_session_is_reused_across_calls(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(f"{BASE_URL}/order/orderDetail", json=envelope(data={"shop_order_detail": {}}))
    client = make_client(token_store=InMemoryTokenStore(stored_pair()))
    for order_id in ("6920000000000000001", "6920000000000000002"):
        client.call("order.orderDetail", {"shop_order_id": order_id})
    bodies = [request.body for request in requests_mock.request_history]
    assert bodies == [b'{"shop_order_id":"6920000000000000001"}', b'{"shop_order_id":"6920000000000000002"}']


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"app_key": "12345"}, "app_key must be a 19-digit string"),
        ({"app_key": "34094093484793540ab"}, "app_key"),
        ({"app_secret": ""}, "app_secret"),
        ({"shop_id": "shop-1"}, "shop_id must be numeric"),
        ({"sign_method": "sha1"}, "sign_method"),
        ({"shop_id": None}, "shop_id is required for auth_mode 'self'"),
        ({"auth_mode": "oauth"}, "auth_mode"),
        ({"auth_mode": "code", "shop_id": None}, "refresh_token is required for auth_mode 'code'"),
        ({"qps": 0}, "qps"),
        ({"timeout": (5.0, 0)}, "timeout"),
        ({"base_url": "openapi-fxg.jinritemai.com"}, "base_url"),
    ],
)
def test_configuration_errors_name_the_field(overrides: dict[str, Any], field: str) -> None:
    kwargs: dict[str, Any] = {"app_key": APP_KEY, "app_secret": APP_SECRET, "shop_id": SHOP_ID, **overrides}
    with pytest.raises(ValueError, match=field) as info:
        DoudianShopClient(**kwargs)
    assert APP_SECRET not in str(info.value)


def test_empty_base_url_means_production_and_int_shop_id_is_accepted() -> None:
    client = DoudianShopClient(app_key=APP_KEY, app_secret=APP_SECRET, shop_id=123456, base_url="")  # type: ignore[arg-type]
    assert (client.base_url, client.shop_id) == (BASE_URL, SHOP_ID)
    assert APP_SECRET not in repr(client)


def test_client_exposes_the_finance_inner_code_check(make_client: Any) -> None:
    client = make_client()
    data = {"code": "100000", "data": [], "is_end": 1}
    assert client.check_inner_code(data, "order.getShopAccountItem") is data


def test_each_attempt_sends_the_token_valid_when_it_is_sent(
    requests_mock: Any, make_client: Any, clock: Any
) -> None:
    """A retry after a busy answer carries the pair another worker stored meanwhile, not the expired one."""
    old = stored_pair(clock(), access_ttl=100.0, suffix="old")
    new = stored_pair(clock() + 150.0, suffix="new")
    store = InMemoryTokenStore(old)
    sent: list[str] = []

    def answer(request: Any, context: Any) -> dict[str, Any]:
        sent.append(dict(query_of(request))["access_token"])
        if len(sent) == 1:  # the gateway is busy; meanwhile the old token expires and is rotated elsewhere
            clock.advance(200.0)
            store.save(new)
            return envelope(20000, sub_code="isp.service-error:10000")
        return envelope(data={"total": 1, "data": []})

    requests_mock.post(f"{BASE_URL}/product/listV2", json=answer)
    client = make_client(token_store=store)
    assert client.call("product.listV2", {"page": 1, "size": 1}) == {"total": 1, "data": []}
    assert sent == [old.access_token, new.access_token]
