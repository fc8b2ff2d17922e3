"""product.listV2 / product.detail / sku.list / sku.stockNum and afterSale.List / Detail."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sandbox_testkit import Gateway, error_of

LIST_ERRORS = [
    ({"page": 0, "size": 10}, "isv.parameter-invalid:2010004"),
    ({"page": 1, "size": 101}, "isv.parameter-invalid:2010004"),
    ({"page": 101, "size": 10}, "isv.parameter-invalid:2010004"),
    ({"page": 51, "size": 200}, "isv.parameter-invalid:2010004"),
    ({"page": 100, "size": 101}, "isv.parameter-invalid:2010004"),
]


@pytest.mark.parametrize(("params", "sub_code"), LIST_ERRORS, ids=[str(p) for p, _ in LIST_ERRORS])
def test_product_list_errors(gw: Gateway, params: dict[str, Any], sub_code: str) -> None:
    assert error_of(gw.call("product.listV2", params)) == (40004, sub_code)


def test_product_list_paging_and_cursor(gw: Gateway) -> None:
    truth = gw.server.truth("products")
    first = gw.data("product.listV2", {"page": 1, "size": 5})
    assert first["total"] == len(truth) and first["page"] == 1 and len(first["data"]) == 5
    assert gw.data("product.listV2", {"page": 100, "size": 100})["data"] == []  # 10,000 boundary allowed
    seen: list[int] = []
    cursor = ""
    for _ in range(50):
        page = gw.data("product.listV2", {"size": 3, "use_cursor": True, "cursor_id": cursor})
        if not page["data"]:
            break
        seen += [p["product_id"] for p in page["data"]]
        cursor = page["cursor_id"]
    assert sorted(seen) == sorted(p["product_id"] for p in truth)
    for p in first["data"]:
        assert (
            type(p["product_id"]) is int
            and p["product_id"] > 2**53
            and p["product_id_str"] == str(p["product_id"])
        )
        assert type(p["create_time"]) is int and type(p["update_time"]) is int
        assert p["category_detail"]["first_cname"] and re.search("[\u4e00-\u9fff]", p["name"])


def test_product_update_bounds_are_exclusive(gw: Gateway) -> None:
    target = gw.server.truth("products")[0]
    t = target["update_time"]
    ids = {
        p["product_id"]
        for p in gw.data(
            "product.listV2", {"page": 1, "size": 100, "update_start_time": t - 1, "update_end_time": t + 1}
        )["data"]
    }
    assert target["product_id"] in ids
    for bounds in (
        {"update_start_time": t, "update_end_time": t + 1},
        {"update_start_time": t - 1, "update_end_time": t},
    ):
        ids = {p["product_id"] for p in gw.data("product.listV2", {"page": 1, "size": 100, **bounds})["data"]}
        assert target["product_id"] not in ids


def test_product_detail_and_skus(gw: Gateway) -> None:
    product = gw.server.truth("products")[0]
    detail = gw.data("product.detail", {"product_id": product["product_id_str"]})
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", detail["create_time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", detail["update_time"])
    skus = gw.data("sku.list", {"product_id": product["product_id"]})
    assert isinstance(skus, list) and skus
    assert [s["sku_id"] for s in detail["spec_prices"]] == [s["id"] for s in skus]
    for s in skus:
        assert type(s["id"]) is int and s["id"] > 2**53 and s["product_id"] == product["product_id"]
        assert type(s["out_sku_id"]) is int and type(s["stock_num"]) is int and type(s["create_time"]) is int
        assert s["spec_detail_name1"]
    stock = gw.data("sku.stockNum", {"sku_id": str(skus[0]["id"])})
    assert stock["sku_id"] == skus[0]["id"] and stock["stock_num"] == skus[0]["stock_num"]
    assert error_of(gw.call("sku.list", {})) == (40002, "isv.missing-parameter:3")
    assert error_of(gw.call("sku.list", {"product_id": 3650099999999999999})) == (
        40004,
        "isv.parameter-invalid:4",
    )
    assert error_of(gw.call("product.detail", {"product_id": "1"})) == (40004, "isv.parameter-invalid:4")
    assert error_of(gw.call("sku.stockNum", {"sku_id": "1"})) == (40004, "isv.parameter-invalid:4")


def test_low_stock_and_set_stock(gw: Gateway) -> None:
    skus = gw.server.truth("skus")
    low = [s for s in skus if s["stock_num"] < 10]
    assert 0 < len(low) < 0.1 * len(skus)
    changed = gw.server.set_stock(skus[0]["id"], 3)
    assert changed["stock_num"] == 3
    assert gw.data("sku.stockNum", {"sku_id": skus[0]["id"]})["stock_num"] == 3


AS_ERRORS = [
    ({"page": -1}, "isv.parameter-invalid:11000"),
    ({"size": 101}, "isv.parameter-invalid:11000"),
    ({"page": 501, "size": 100}, "isv.parameter-invalid:11003"),
    ({"order_by": ["update_time sideways"]}, "isv.parameter-invalid:11000"),
]


@pytest.mark.parametrize(("params", "sub_code"), AS_ERRORS, ids=[str(p) for p, _ in AS_ERRORS])
def test_aftersale_list_errors(gw: Gateway, params: dict[str, Any], sub_code: str) -> None:
    assert error_of(gw.call("afterSale.List", params)) == (40004, sub_code)


def test_aftersale_list_shape_order_and_detail(gw: Gateway) -> None:
    truth = gw.server.truth("after_sales")
    assert truth
    data = gw.data("afterSale.List", {"page": 0, "size": 100})
    assert data["total"] == len(truth) and data["page"] == 0 and data["has_more"] is (len(truth) > 100)
    applies = [i["aftersale_info"]["apply_time"] for i in data["items"]]
    assert applies == sorted(applies, reverse=True)  # default order: apply_time desc
    item = data["items"][0]
    info = item["aftersale_info"]
    assert isinstance(info["aftersale_id"], str) and isinstance(info["related_id"], str)
    for key in (
        "aftersale_type",
        "aftersale_status",
        "refund_status",
        "refund_amount",
        "refund_post_amount",
        "aftersale_num",
        "apply_time",
        "update_time",
        "create_time",
        "status_deadline",
    ):
        assert type(info[key]) is int, key
    related = item["order_info"]["related_order_info"][0]
    assert related["sku_order_id"] == info["related_id"] and isinstance(
        item["order_info"]["shop_order_id"], str
    )
    now = int(time.time())
    by_update = gw.data(
        "afterSale.List",
        {
            "page": 0,
            "size": 100,
            "update_start_time": now - 40 * 86400,
            "update_end_time": now + 1,
            "order_by": ["update_time asc"],
        },
    )
    updates = [i["aftersale_info"]["update_time"] for i in by_update["items"]]
    assert updates == sorted(updates) and by_update["total"] == len(truth)
    unordered = gw.data(
        "afterSale.List",
        {"page": 0, "size": 100, "update_start_time": now - 40 * 86400, "update_end_time": now + 1},
    )
    assert [i["aftersale_info"]["apply_time"] for i in unordered["items"]] == applies
    detail = gw.data("afterSale.Detail", {"after_sale_id": info["aftersale_id"]})
    assert detail["process_info"]["after_sale_info"] == info
    assert error_of(gw.call("afterSale.Detail", {"after_sale_id": "1"})) == (
        50002,
        "isv.business-failed:12000",
    )
    assert error_of(gw.call("afterSale.Detail", {})) == (40002, "isv.missing-parameter:11000")
