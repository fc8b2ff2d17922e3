"""Sign verification: the published sign vectors, raw vs canonical bodies, transports and tampering."""

from __future__ import annotations

import time

import pytest
from sandbox_testkit import Gateway, canonical, error_of, make_sign

from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from airflow_provider_douyin.sandbox.signing import canonical_json, parse_timestamp, verify

SEARCH = '{"create_time_end":1700000000,"create_time_start":1699900000,"page":0,"size":20}'
VECTORS = [
    (
        "order.searchList",
        "1700000000",
        SEARCH,
        "89d4a667df46716325a3931efa4fccca",
        "a80841d7033ae862944f0a546d7ab605d95f9c09852b1a22c506f0af430b24ab",
    ),
    (
        "order.searchList",
        "2023-11-15 06:13:20",
        SEARCH,
        "bfc315f75f91f86324ad2a722bf566ac",
        "550420ebee071bc36ba664d0c993f5fbf67c015a7343462649e2424965c5be7f",
    ),
    (
        "token.create",
        "1700000000",
        '{"code":"","grant_type":"authorization_self","shop_id":"123456"}',
        "40707945494e89fe555f2bf61b0a1990",
        "df6da40a1df7f5d44ee9fb72af8bb5026cd8e685de90432919d73e1e79deae9b",
    ),
    (
        "order.searchList",
        "1700000000",
        '{"combine_status":[{"main_status":"103","order_status":"2"}],"page":0,"product":"测试商品","size":10}',
        "7b5fd5613d4e89859992f401774695a0",
        "cbcb425df92c6025f259e3560001c866343cb52615e2539e2c64c198493b96d3",
    ),
    (
        "product.listV2",
        "1700000000",
        "{}",
        "afe587b3c4bc4af8ee3cd0fe115d6fca",
        "9b08c592f5d3384002a32dbc1acf72d1af1e30a642d6a66abbc38b214116d560",
    ),
]


@pytest.mark.parametrize(("method", "ts", "body", "md5", "hmac_hex"), VECTORS)
def test_published_vectors_verify(method: str, ts: str, body: str, md5: str, hmac_hex: str) -> None:
    args = (SANDBOX_APP_SECRET, SANDBOX_APP_KEY, method, body, ts)
    assert verify(*args, md5, "md5")
    assert verify(*args, md5.upper(), "md5")  # case-insensitive
    assert verify(*args, hmac_hex, "hmac-sha256")
    assert not verify(*args, hmac_hex, "md5")
    assert not verify(*args, md5[:-1] + ("0" if md5[-1] != "0" else "1"), "md5")
    # the test-side signer agrees with the vectors too
    assert make_sign(SANDBOX_APP_SECRET, SANDBOX_APP_KEY, method, body, ts) == md5


def test_canonical_json_rules() -> None:
    assert canonical_json({}) == "{}"
    assert canonical_json(None) == "{}"
    assert canonical_json({"b": 1.0, "a": [{"z": 1, "y": "<&>/"}], "n": None, "c": "测试"}) == (
        '{"a":[{"y":"<&>/","z":1}],"b":1,"c":"测试"}'
    )


def test_row4_unsorted_body_signed_over_sorted_form_verifies() -> None:
    unsorted = (
        '{"size":10,"product":"测试商品","page":0,'
        '"combine_status":[{"order_status":"2","main_status":"103"}]}'
    )
    assert verify(
        SANDBOX_APP_SECRET,
        SANDBOX_APP_KEY,
        "order.searchList",
        unsorted,
        "1700000000",
        "7b5fd5613d4e89859992f401774695a0",
    )


def test_timestamp_forms() -> None:
    assert parse_timestamp("1700000000") == 1700000000
    assert parse_timestamp("1700000000123") == pytest.approx(1700000000.123)
    assert parse_timestamp("2023-11-15 06:13:20") == 1700000000
    for bad in ("17000000", "2023/11/15 06:13:20", "abc", "17000000001234"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_raw_and_canonical_bodies_accepted_over_http(gw: Gateway) -> None:
    params = {"size": 100, "page": 1}
    unsorted = '{"size": 100, "page": 1}'
    escaped = '{"name":"\\u7eaf\\u68c9","page":1,"size":100}'
    # signed over the sorted form, unsorted body (the Java SDK behaviour)
    assert gw.send("product.listV2", unsorted, sign_over=canonical(params)).json()["code"] == 10000
    # signed over exactly the raw body
    assert gw.send("product.listV2", unsorted).json()["code"] == 10000
    # \\u-escaped body signed as sent (PY-MB behaviour) and as its canonical form
    assert gw.send("product.listV2", escaped).json()["code"] == 10000
    assert (
        gw.send("product.listV2", escaped, sign_over='{"name":"纯棉","page":1,"size":100}').json()["code"]
        == 10000
    )


def test_tampered_body_or_sign_rejected(gw: Gateway) -> None:
    good = canonical({"page": 1, "size": 10})
    tampered = gw.send("product.listV2", canonical({"page": 2, "size": 10}), sign_over=good).json()
    assert error_of(tampered) == (40003, "isv.signature-invalid")
    assert tampered["sub_msg"] == "签名校验失败"
    bad_sign = gw.send("product.listV2", good, query={"sign": "0" * 64}).json()
    assert error_of(bad_sign) == (40003, "isv.signature-invalid")
    other_method = gw.send(
        "product.listV2", good, sign_method="md5", query={"sign_method": "hmac-sha256"}
    ).json()
    assert error_of(other_method) == (40003, "isv.signature-invalid")


def test_md5_default_and_upper_case_sign(gw: Gateway) -> None:
    body = canonical({"page": 1, "size": 5})
    ts = str(int(time.time()))
    upper = make_sign(gw.secret, gw.app_key, "product.listV2", body, ts).upper()
    response = gw.send("product.listV2", body, sign_method=None, timestamp=ts, query={"sign": upper})
    assert response.json()["code"] == 10000


def test_query_form_get_and_double_slash_transports(gw: Gateway) -> None:
    body = canonical({"page": 1, "size": 3})
    ts = str(int(time.time()))
    query = {
        "app_key": gw.app_key,
        "method": "product.listV2",
        "timestamp": ts,
        "v": "2",
        "access_token": gw.token,
        "sign": make_sign(gw.secret, gw.app_key, "product.listV2", body, ts),
    }
    s = gw.session
    assert (
        s.get(gw.server.url + "/product/listV2", params={**query, "param_json": body}).json()["code"] == 10000
    )
    assert (
        s.post(gw.server.url + "//product/listV2", params={**query, "param_json": body}).json()["code"]
        == 10000
    )
    form = s.post(gw.server.url + "/product/listV2", data={**query, "param_json": body}).json()
    assert form["code"] == 10000
    assert len(form["data"]["data"]) == 3
