"""Sign vectors computed from Doudian's published sign rules, and the canonical param_json rules:
sorted keys at every level, compact separators, raw UTF-8, nulls dropped, integral floats as ints."""

from __future__ import annotations

import pytest

from airflow_provider_douyin.client import canonical_param_json, sign_request

from .fakes import APP_KEY, APP_SECRET

ROW1 = '{"create_time_end":1700000000,"create_time_start":1699900000,"page":0,"size":20}'
ROW3 = '{"code":"","grant_type":"authorization_self","shop_id":"123456"}'
ROW4 = '{"combine_status":[{"main_status":"103","order_status":"2"}],"page":0,"product":"测试商品","size":10}'

# (method, timestamp, canonical param_json, md5, hmac-sha256): vectors computed independently of this
# code from Doudian's sign rule: pattern = secret + "app_key" + k + "method" + m + "param_json" + p
# + "timestamp" + t + "v2" + secret; md5 = hex(MD5(pattern)), hmac-sha256 = hex(HMAC(secret, pattern)).
VECTORS = [
    (
        "order.searchList",
        "1700000000",
        ROW1,
        "89d4a667df46716325a3931efa4fccca",
        "a80841d7033ae862944f0a546d7ab605d95f9c09852b1a22c506f0af430b24ab",
    ),
    (
        "order.searchList",
        "2023-11-15 06:13:20",
        ROW1,
        "bfc315f75f91f86324ad2a722bf566ac",
        "550420ebee071bc36ba664d0c993f5fbf67c015a7343462649e2424965c5be7f",
    ),
    (
        "token.create",
        "1700000000",
        ROW3,
        "40707945494e89fe555f2bf61b0a1990",
        "df6da40a1df7f5d44ee9fb72af8bb5026cd8e685de90432919d73e1e79deae9b",
    ),
    (
        "order.searchList",
        "1700000000",
        ROW4,
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


@pytest.mark.parametrize(("method", "timestamp", "param_json", "md5", "hmac"), VECTORS)
@pytest.mark.parametrize("sign_method", ["md5", "hmac-sha256"])
def test_published_vectors(
    sign_method: str, method: str, timestamp: str, param_json: str, md5: str, hmac: str
) -> None:
    sign = sign_request(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        method=method,
        param_json=param_json,
        timestamp=timestamp,
        sign_method=sign_method,
    )
    assert sign == (md5 if sign_method == "md5" else hmac)


def test_default_sign_method_is_hmac_sha256() -> None:
    sign = sign_request(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        method="product.listV2",
        param_json="{}",
        timestamp="1700000000",
    )
    assert sign == VECTORS[4][4]


def test_unknown_sign_method_is_rejected_without_echoing_the_secret() -> None:
    with pytest.raises(ValueError, match="sign_method") as info:
        sign_request(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            method="m",
            param_json="{}",
            timestamp="1",
            sign_method="sha1",
        )
    assert APP_SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("params", "canonical"),
    [
        # the vector rows, written in a non-canonical key order
        ({"size": 20, "page": 0, "create_time_start": 1699900000, "create_time_end": 1700000000}, ROW1),
        ({"shop_id": "123456", "grant_type": "authorization_self", "code": ""}, ROW3),
        (
            {
                "size": 10,
                "product": "测试商品",
                "page": 0,
                "combine_status": [{"order_status": "2", "main_status": "103"}],
            },
            ROW4,
        ),
        (None, "{}"),
        ({}, "{}"),
        # nested objects are sorted at every level, array order is kept
        (
            {"b": {"z": 1, "a": {"y": 2, "x": 3}}, "a": [3, 1, 2]},
            '{"a":[3,1,2],"b":{"a":{"x":3,"y":2},"z":1}}',
        ),
        (
            {"l": [{"b": 1, "a": [{"d": 1, "c": 2}]}, {"z": 0, "y": 9}]},
            '{"l":[{"a":[{"c":2,"d":1}],"b":1},{"y":9,"z":0}]}',
        ),
        # raw UTF-8, no HTML escaping, slashes not escaped
        ({"name": "<b>A&B</b> it's = 1/2"}, '{"name":"<b>A&B</b> it\'s = 1/2"}'),
        ({"q": "抖店 ✓"}, '{"q":"抖店 ✓"}'),
        # integral floats lose the decimal point, other floats keep it
        ({"a": 1.0, "b": [2.0, 2.5], "c": {"d": -0.0, "e": 1e3}}, '{"a":1,"b":[2,2.5],"c":{"d":0,"e":1000}}'),
        # None fields are omitted at every level
        ({"a": None, "b": {"c": None, "d": 1}, "e": [{"f": None}]}, '{"b":{"d":1},"e":[{}]}'),
        # ints stay exact beyond 2^53, bools and tuples serialise as JSON
        (
            {"id": 9223372036854775807, "ok": True, "ids": (1, 2)},
            '{"id":9223372036854775807,"ids":[1,2],"ok":true}',
        ),
    ],
)
def test_canonical_param_json(params: dict | None, canonical: str) -> None:
    assert canonical_param_json(params) == canonical


def test_canonical_output_signs_like_the_vector() -> None:
    """A caller's dict in any order, with float page sizes, produces the vector-1 sign."""
    param_json = canonical_param_json(
        {"page": 0.0, "size": 20.0, "create_time_end": 1700000000, "create_time_start": 1699900000}
    )
    sign = sign_request(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        method="order.searchList",
        param_json=param_json,
        timestamp="1700000000",
    )
    assert sign == VECTORS[0][4]


def test_non_finite_numbers_and_non_mappings_are_rejected() -> None:
    with pytest.raises(ValueError):
        canonical_param_json({"a": float("nan")})
    with pytest.raises(TypeError, match="mapping"):
        canonical_param_json([1, 2])  # type: ignore[arg-type]
