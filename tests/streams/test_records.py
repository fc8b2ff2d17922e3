from __future__ import annotations

import logging

import pytest

from airflow_provider_douyin.client.errors import DouyinRecordError
from airflow_provider_douyin.streams.catalog import (
    AFTER_SALES_TABLE,
    ORDER_ITEMS_TABLE,
    ORDERS_TABLE,
    SETTLEMENTS_TABLE,
    STREAMS,
)
from airflow_provider_douyin.streams.records import RecordShapeError, RowBuilder, nested_rows, to_row
from airflow_provider_douyin.streams.schema import Column, Table

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


def test_a_key_or_version_value_that_does_not_fit_its_column_names_table_and_column():
    with pytest.raises(RecordShapeError, match="settlements.*settle_time"):
        to_row(
            SETTLEMENTS_TABLE,
            {"request_no": "R1", "order_id": "1", "settle_time": {"at": "x"}, "settle_amount": 950},
        )


def test_a_non_key_value_that_does_not_fit_lands_in_extra_with_one_warning_per_field(caplog):
    """Was a RecordShapeError: issue 9 asks that a type change in the API's data not break a load.
    The column is NULL, the value keeps its place in ``_extra``, and the warning names the table,
    the field and the method once per read, never the value."""
    rows = RowBuilder("order.getSettleBillDetailV3")
    record = {"request_no": "R1", "order_id": "1", "settle_time": "x", "settle_amount": "9.5元"}
    with caplog.at_level(logging.WARNING, logger="airflow_provider_douyin.streams.records"):
        for _ in range(3):
            row = rows.row(SETTLEMENTS_TABLE, record)
    assert row["settle_amount"] is None and row["request_no"] == "R1"
    assert row["_extra"] == {"settle_amount": "9.5元"}
    (warning,) = caplog.records
    message = warning.getMessage()
    assert "'settlements'" in message and "'settle_amount'" in message
    assert "order.getSettleBillDetailV3" in message and "9.5元" not in message


def test_a_record_without_its_primary_key_is_rejected():
    with pytest.raises(RecordShapeError, match="primary key"):
        to_row(SETTLEMENTS_TABLE, {"order_id": "1", "settle_time": "x"})


ORDER = {"order_id": "6920000000000000001", "update_time": 1_763_800_000}


def test_every_record_error_is_a_typed_douyin_error_naming_table_column_method_and_log_id():
    rows = RowBuilder("order.searchList")
    with pytest.raises(DouyinRecordError) as caught:
        rows.row(ORDERS_TABLE, {**ORDER, "update_time": 2**63}, log_id="20261202LOG")
    error = caught.value
    assert isinstance(error, RecordShapeError)
    assert (error.method, error.log_id) == ("order.searchList", "20261202LOG")
    assert "orders" in str(error) and "update_time" in str(error) and "64 bits" in str(error)
    assert str(2**63) not in str(error)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("order_id", 4.0000000000000077e18),
        ("update_time", 1_763_800_000.0),
        ("update_time", 2**63),
        ("update_time", -(2**63) - 1),
    ],
)
def test_floats_never_stand_in_for_keys_or_versions_and_int64_is_their_limit(column, value):
    with pytest.raises(DouyinRecordError, match=column):
        to_row(ORDERS_TABLE, {**ORDER, column: value})


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("shop_id", 1001.0),
        ("pay_amount", 9.5),
        ("shop_id", 2**63),
        ("shop_id", -(2**63) - 1),
    ],
)
def test_a_float_or_an_int_beyond_64_bits_in_another_column_lands_unchanged_in_extra(column, value):
    """These raised DouyinRecordError before issue 9; the value now reaches ``_extra`` exactly as sent
    (never rounded into the integer column) and the row still lands."""
    row = to_row(ORDERS_TABLE, {**ORDER, column: value})
    assert row[column] is None and row["_extra"] == {column: value}
    assert row["order_id"] == ORDER["order_id"]


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


AFTER_SALE = {
    "aftersale_info": {
        "aftersale_id": "7300000000000000001",
        "update_time": 1_763_800_000,
        "refund_amount": 1990,
        "aftersale_tags": [{"tag_detail": "极速退"}],
    },
    "order_info": {"shop_order_id": "6920000000000000001", "related_order_info": [{"sku_order_id": "1"}]},
    "text_part": {"bad_item_text": "坏单比例0%"},
    "seller_logs": [],
}


def test_extra_holds_every_field_no_column_reads_nested_as_in_the_record():
    row = to_row(AFTER_SALES_TABLE, AFTER_SALE)
    assert row["_extra"] == {
        "aftersale_info": {"aftersale_tags": [{"tag_detail": "极速退"}]},
        "text_part": {"bad_item_text": "坏单比例0%"},
        "seller_logs": [],
    }
    assert "aftersale_id" not in row["_extra"]["aftersale_info"]  # read by a column: not duplicated
    assert AFTER_SALE["aftersale_info"]["aftersale_id"] == "7300000000000000001"  # record untouched


def test_a_nested_value_of_a_changed_type_lands_at_its_own_place_in_extra():
    record = {**AFTER_SALE, "aftersale_info": {**AFTER_SALE["aftersale_info"], "refund_amount": 19.9}}
    row = to_row(AFTER_SALES_TABLE, record)
    assert row["refund_amount"] is None
    assert row["_extra"]["aftersale_info"] == {
        "refund_amount": 19.9,
        "aftersale_tags": [{"tag_detail": "极速退"}],
    }


def test_an_object_where_a_column_path_expects_one_is_kept_whole():
    record = {"aftersale_info": AFTER_SALE["aftersale_info"], "order_info": "6920000000000000001"}
    row = to_row(AFTER_SALES_TABLE, record)
    assert row["shop_order_id"] is None and row["_extra"]["order_info"] == "6920000000000000001"


def test_child_lists_land_in_their_child_table_not_in_the_parent_extra():
    order = {
        **ORDER,
        "new_order_field": {"x": 1},
        "sku_order_list": [
            {"order_id": "6920000000000000002", "room_id_str": "7311", "new_sku_field": "来"},
        ],
    }
    row = to_row(ORDERS_TABLE, order)
    assert row["_extra"] == {"new_order_field": {"x": 1}}
    (item,) = nested_rows(ORDER_ITEMS_TABLE, order, "sku_order_list")
    assert item["room_id_str"] == "7311" and item["_extra"] == {"new_sku_field": "来"}


def test_extra_is_null_when_every_field_has_a_column():
    assert to_row(ORDERS_TABLE, ORDER)["_extra"] is None


def test_extra_text_is_repaired_like_any_column():
    row = to_row(ORDERS_TABLE, {**ORDER, "new\x00field": ["a\x00\ud800"]})
    assert row["_extra"] == {"newfield": ["a\ufffd"]}


def test_every_nested_list_a_child_table_lands_is_declared_on_its_root_table():
    """Otherwise the root's ``_extra`` would duplicate every child row."""
    for stream in STREAMS.values():
        for binding in stream.tables[1:]:
            if binding.records is not None:
                assert binding.records in stream.root.child_lists, (stream.name, binding.records)


def test_extra_is_a_reserved_column_name():
    with pytest.raises(ValueError, match="reserved"):
        Table("t", (Column("k", "str"), Column("_extra", "json")), ("k",), "k")


@pytest.mark.parametrize(
    ("room_id", "room_id_str", "landed"),
    [
        (7.4e18, "7400000000000001234", 7400000000000001234),  # a float upstream: the twin is exact
        (7400000000000001234, "7400000000000001234", 7400000000000001234),
        (0, "", 0),  # no room: the twin is empty, the number says 0
        (0, "0", 0),
        (7400000000000001234, "房间", 7400000000000001234),  # an unfit twin: the number is used
    ],
)
def test_room_id_is_read_from_its_exact_text_twin_when_there_is_one(room_id, room_id_str, landed):
    item = {"order_id": "6920000000000000002", "room_id": room_id, "room_id_str": room_id_str}
    row = to_row(ORDER_ITEMS_TABLE, item, parent=ORDER)
    assert row["room_id"] == landed and type(row["room_id"]) is int
    assert row["room_id_str"] == room_id_str and row["_extra"] is None
