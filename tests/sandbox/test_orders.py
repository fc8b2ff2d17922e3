"""order.searchList / order.orderDetail: caps, paging base, filters, field names and types."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sandbox_testkit import Gateway, error_of

from airflow_provider_douyin.sandbox import SandboxServer

DAY = 86400
NOW = int(time.time())


def _search(**over: Any) -> dict[str, Any]:
    return {"page": 0, "size": 20, "create_time_start": NOW - 30 * DAY, **over}


ERRORS = [
    ({"size": 101}, 40004, "isv.parameter-invalid:20008"),
    ({"size": 0}, 40004, "isv.parameter-invalid:20008"),
    ({"page": -1}, 40004, "isv.parameter-invalid:10035"),
    ({"page": 501, "size": 100}, 40004, "isv.parameter-invalid:20013"),
    ({"create_time_start": None, "update_time_end": NOW}, 40004, "isv.parameter-invalid:20011"),
    ({"create_time_start": NOW - 91 * DAY}, 40004, "isv.parameter-invalid:20022"),
    ({"create_time_start": None, "update_time_start": NOW - 91 * DAY}, 40004, "isv.parameter-invalid:20022"),
    (
        {"combine_status": [{"order_status": "2"}, {"order_status": "3"}]},
        40004,
        "isv.parameter-invalid:20012",
    ),
    ({"page": None}, 40002, "isv.missing-parameter:20000"),
    ({"order_by": "pay_time"}, 40004, "isv.parameter-invalid"),
]


@pytest.mark.parametrize(("over", "code", "sub_code"), ERRORS, ids=[str(e[0]) for e in ERRORS])
def test_search_list_errors(gw: Gateway, over: dict[str, Any], code: int, sub_code: str) -> None:
    params = {k: v for k, v in _search(**over).items() if v is not None}
    assert error_of(gw.call("order.searchList", params)) == (code, sub_code)


def test_deep_cap_boundary_is_allowed(gw: Gateway) -> None:
    data = gw.data("order.searchList", _search(page=500, size=100))
    assert data["shop_order_list"] == [] and data["page"] == 500


def test_page_base_zero_and_full_walk_matches_truth(gw: Gateway) -> None:
    truth = {o["order_id"] for o in gw.server.truth("orders")}
    seen: list[str] = []
    for page in range(100):
        data = gw.data("order.searchList", _search(page=page, size=37, order_asc=True))
        assert data["page"] == page and data["size"] == 37 and data["total"] == len(truth)
        if not data["shop_order_list"]:
            break
        seen += [o["order_id"] for o in data["shop_order_list"]]
    assert len(seen) == len(set(seen)) == len(truth)
    assert set(seen) == truth


def test_shop_order_field_types(gw: Gateway) -> None:
    raw = gw.send("order.searchList", json.dumps(_search(size=100), separators=(",", ":"))).text
    orders = json.loads(raw)["data"]["shop_order_list"]
    assert len(orders) == 100
    for o in orders:
        assert isinstance(o["order_id"], str) and len(o["order_id"]) == 19 and o["order_id"].isdigit()
        assert isinstance(o["shop_id"], int) and o["order_level"] == 2
        assert o["order_status"] in (1, 105, 2, 3, 4, 5) and isinstance(o["order_status_desc"], str)
        for key in (
            "create_time",
            "update_time",
            "pay_time",
            "finish_time",
            "ship_time",
            "order_amount",
            "pay_amount",
            "post_amount",
            "promotion_amount",
            "b_type",
            "pay_type",
            "main_status",
        ):
            assert type(o[key]) is int, key
        assert o["update_time"] >= o["create_time"]
        assert (o["ship_time"] > 0) == bool(o["logistics_info"])
        assert set(o["post_addr"]) == {"province", "city", "town", "street", "detail"}
        assert "*" in o["post_addr"]["detail"]
        subs = o["sku_order_list"]
        assert subs
        if len(subs) == 1:
            assert subs[0]["order_id"] == o["order_id"]
        for s in subs:
            assert s["parent_order_id"] == o["order_id"] and isinstance(s["order_id"], str)
            assert type(s["product_id"]) is int and s["product_id"] > 2**53
            assert type(s["sku_id"]) is int and s["sku_id"] > 2**53
            assert s["product_id_str"] == str(s["product_id"])
            assert str(s["product_id"]) in raw  # exact digits on the wire, no float rounding
            assert s["spec"] and all(set(x) == {"name", "value"} for x in s["spec"])
            assert s["sum_amount"] == s["origin_amount"] * s["item_num"]
            assert set(s["after_sale_info"]) == {"after_sale_status", "after_sale_type", "refund_status"}
        assert o["order_amount"] == sum(s["sum_amount"] for s in subs) + o["post_amount"]
        assert o["pay_amount"] == o["order_amount"] - o["promotion_amount"]


def test_update_time_order_and_bounds(gw: Gateway) -> None:
    truth = gw.server.truth("orders")
    lo, hi = NOW - 10 * DAY, NOW - 5 * DAY
    expected = sorted((o["update_time"], o["order_id"]) for o in truth if lo <= o["update_time"] < hi)
    data = gw.data(
        "order.searchList",
        {
            "page": 0,
            "size": 100,
            "update_time_start": lo,
            "update_time_end": hi,
            "order_by": "update_time",
            "order_asc": True,
        },
    )
    assert data["total"] == len(expected)
    times = [o["update_time"] for o in data["shop_order_list"]]
    assert times == sorted(times) and times[0] >= lo
    desc = gw.data(
        "order.searchList",
        {"page": 0, "size": 100, "update_time_start": lo, "update_time_end": hi, "order_by": "update_time"},
    )["shop_order_list"]
    assert [o["update_time"] for o in desc] == sorted((o["update_time"] for o in desc), reverse=True)
    assert desc[0]["update_time"] == expected[-1][0]
    # end is exclusive: an order updated exactly at the end bound is not returned
    edge = expected[-1][0]
    ids = {
        o["order_id"]
        for o in gw.data(
            "order.searchList", {"page": 0, "size": 100, "update_time_start": lo, "update_time_end": edge}
        )["shop_order_list"]
    }
    assert expected[-1][1] not in ids


def test_combine_status_filter(gw: Gateway) -> None:
    truth = gw.server.truth("orders")
    data = gw.data("order.searchList", _search(size=100, combine_status=[{"order_status": "2,3"}]))
    assert data["total"] == sum(o["order_status"] in (2, 3) for o in truth) > 0
    assert {o["order_status"] for o in data["shop_order_list"]} <= {2, 3}


def test_order_detail(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=30, shops=2)
    gw = Gateway(server)
    gw.login(1000001)
    mine = server.truth("orders", shop_id=1000001)[0]
    theirs = server.truth("orders", shop_id=1000002)[0]
    assert gw.data("order.orderDetail", {"shop_order_id": mine["order_id"]})["shop_order_detail"] == mine
    assert error_of(gw.call("order.orderDetail", {})) == (40002, "isv.missing-parameter:20000")
    other = gw.call("order.orderDetail", {"shop_order_id": theirs["order_id"]})
    assert error_of(other) == (50002, "isv.business-failed:20015")
    assert error_of(gw.call("order.orderDetail", {"shop_order_id": "123"})) == (
        40004,
        "isv.parameter-invalid:20014",
    )
    assert {o["shop_id"] for o in server.truth("orders")} == {1000001, 1000002}
