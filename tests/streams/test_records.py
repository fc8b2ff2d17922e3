from __future__ import annotations

import logging

import pytest

from airflow_provider_douyin.client.errors import DouyinRecordError
from airflow_provider_douyin.streams.catalog import (
    AFTER_SALES_TABLE,
    ORDER_ITEMS_TABLE,
    ORDERS_TABLE,
    SETTLEMENTS_TABLE,
)
from airflow_provider_douyin.streams.records import RecordShapeError, RowBuilder, nested_rows, to_row

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


ORDER = {"order_id": "6920000000000000001", "update_time": 1_763_800_000}


def test_every_record_error_is_a_typed_douyin_error_naming_table_column_method_and_log_id():
    rows = RowBuilder("order.searchList")
    with pytest.raises(DouyinRecordError) as caught:
        rows.row(ORDERS_TABLE, {**ORDER, "shop_id": 2**63}, log_id="20261202LOG")
    error = caught.value
    assert isinstance(error, RecordShapeError)
    assert (error.method, error.log_id) == ("order.searchList", "20261202LOG")
    assert "orders" in str(error) and "shop_id" in str(error) and "64 bits" in str(error)
    assert str(2**63) not in str(error)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("order_id", 4.0000000000000077e18),
        ("shop_id", 1001.0),
        ("pay_amount", 9.5),
        ("shop_id", -(2**63) - 1),
    ],
)
def test_floats_never_stand_in_for_ids_or_integers_and_int64_is_the_limit(column, value):
    with pytest.raises(DouyinRecordError, match=column):
        to_row(ORDERS_TABLE, {**ORDER, column: value})


def test_int64_bounds_themselves_land():
    row = to_row(ORDERS_TABLE, {**ORDER, "shop_id": 2**63 - 1, "pay_amount": -(2**63)})
    assert (row["shop_id"], row["pay_amount"]) == (2**63 - 1, -(2**63))


def test_nul_and_lone_surrogates_are_repaired_with_one_warning_per_column(caplog):
    rows = RowBuilder("order.searchList")
    record = {**ORDER, "buyer_words": "a\x00b\ud800", "post_addr": {"detail\x00": ["x\udfff"]}}
    with caplog.at_level(logging.WARNING, logger="airflow_provider_douyin.streams.records"):
        for _ in range(3):
            row = rows.row(ORDERS_TABLE, record)
    assert row["buyer_words"] == "ab\ufffd"
    assert row["post_addr"] == {"detail": ["x\ufffd"]}
    warned = sorted(r.getMessage().split("column ")[1].split(" ")[0] for r in caplog.records)
    assert warned == ["'buyer_words'", "'post_addr'"]
    assert "a\x00b" not in caplog.text


def test_a_proper_non_bmp_character_is_kept():
    assert to_row(ORDERS_TABLE, {**ORDER, "buyer_words": "好😀"})["buyer_words"] == "好😀"
