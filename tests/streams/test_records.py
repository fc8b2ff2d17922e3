from __future__ import annotations

import pytest

from airflow_provider_douyin.streams.catalog import (
    AFTER_SALES_TABLE,
    ORDER_ITEMS_TABLE,
    SETTLEMENTS_TABLE,
)
from airflow_provider_douyin.streams.records import RecordShapeError, nested_rows, to_row

BIG_ID = 3_512_345_678_901_234_567  # above 2**53: a float would corrupt it


def test_order_items_take_their_version_from_the_parent_order():
    order = {
        "order_id": "6920000000000000001",
        "update_time": 1_763_800_000,
        "sku_order_list": [
            {
                "order_id": "6920000000000000002",
                "parent_order_id": "6920000000000000001",
                "product_id": BIG_ID,
                "sku_id": BIG_ID + 1,
                "spec": [{"name": "颜色", "value": "白色"}],
                "update_time": 1_763_700_000,
            },
        ],
    }
    (row,) = nested_rows(ORDER_ITEMS_TABLE, order, "sku_order_list")
    assert row["order_update_time"] == 1_763_800_000
    assert row["update_time"] == 1_763_700_000
    assert row["product_id"] == BIG_ID and row["sku_id"] == BIG_ID + 1
    assert row["spec"] == [{"name": "颜色", "value": "白色"}]


def test_after_sale_columns_come_from_nested_paths():
    record = {
        "aftersale_info": {
            "aftersale_id": "7300000000000000001",
            "update_time": 1_763_800_000,
            "refund_amount": 1990,
        },
        "order_info": {"shop_order_id": "6920000000000000001", "related_order_info": [{"sku_order_id": "1"}]},
    }
    row = to_row(AFTER_SALES_TABLE, record)
    assert row["aftersale_id"] == "7300000000000000001"
    assert row["shop_order_id"] == "6920000000000000001"
    assert row["refund_amount"] == 1990 and row["apply_time"] is None


def test_amounts_serialised_as_strings_are_normalised_to_integers():
    row = to_row(
        SETTLEMENTS_TABLE,
        {
            "request_no": "R1",
            "order_id": "1",
            "settle_time": "2026-11-20 10:00:00",
            "settle_amount": "950",
            "goods_count": 2,
            "trade_type": 1,
        },
    )
    assert row["settle_amount"] == 950
    assert row["trade_type"] == "1"


def test_a_value_that_does_not_fit_its_column_names_table_and_column():
    with pytest.raises(RecordShapeError, match="settlements.*settle_amount"):
        to_row(
            SETTLEMENTS_TABLE,
            {"request_no": "R1", "order_id": "1", "settle_time": "x", "settle_amount": "9.5元"},
        )


def test_a_record_without_its_primary_key_is_rejected():
    with pytest.raises(RecordShapeError, match="primary key"):
        to_row(SETTLEMENTS_TABLE, {"order_id": "1", "settle_time": "x"})
