"""Malformed success envelopes end in a typed error or an exact landing, never in missing rows.

Each case serves one fault from a gateway written here (``fake_gateway``) through the real
client, ``run_sync`` and a SQLite table. A failed window must leave its tables empty, and every
case proves its fault was served.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore, RetryPolicy
from airflow_provider_douyin.client.errors import (
    DouyinError,
    DouyinIncompleteReadError,
    DouyinRecordError,
    DouyinRequestError,
    DouyinResponseShapeError,
    DouyinTransientError,
)
from airflow_provider_douyin.landing.sinks import SqlTableSink
from airflow_provider_douyin.streams import reader
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.reader import StreamReader, StreamReadError
from airflow_provider_douyin.streams.records import RecordShapeError
from airflow_provider_douyin.streams.sync import run_sync
from airflow_provider_douyin.streams.windows import Window
from tests.streams.fake_gateway import Envelope, FakeGateway, Fault, Params, order, product, settlement

APP_KEY = "7000000000000000001"
APP_SECRET = "malformed-replies-test-secret"
ORDERS = 250
NOW = int(time.time())
WINDOW = Window(NOW - 20 * 86400, NOW - 20 * 86400 + 10_000)
FINANCE_WINDOW = Window(WINDOW.start, WINDOW.start + 2 * 86400)


def some_orders(update_time: Callable[[int], int] | None = None) -> list[dict[str, Any]]:
    # Three orders per second, so a page boundary falls inside a second.
    stamp = update_time or (lambda i: WINDOW.start + 100 + (i // 3) * 7)
    return [order(i, stamp(i)) for i in range(ORDERS)]


def client_for(gateway: FakeGateway) -> DoudianShopClient:
    return DoudianShopClient(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        base_url=gateway.url,
        shop_id="1001",
        qps=1000,
        timeout=(2.0, 5.0),
        token_store=InMemoryTokenStore(),
        retry=RetryPolicy(max_attempts=2, initial=0, maximum=0),
    )


def land(gateway: FakeGateway, hook: Any, stream: str) -> BaseException | None:
    spec = get_stream(stream)
    window = {"orders": WINDOW, "settlements": FINANCE_WINDOW}.get(stream)
    sinks = {b.table.name: SqlTableSink(hook, b.table, table_prefix="t_") for b in spec.tables}
    with client_for(gateway) as client:
        try:
            run_sync(client.request, spec, window, sinks, max_workers=4)
        except DouyinError as err:
            return err
    return None


def landed(hook: Any, table: str, columns: str) -> set[tuple]:
    return {tuple(r) for r in hook.get_records(f"SELECT {columns} FROM t_{table}")}


TRUTH_COLUMNS = {
    "orders": [("orders", "order_id, update_time"), ("order_items", "order_id, order_update_time")],
    "products": [("products", "product_id, update_time"), ("skus", "id, product_id")],
    "settlements": [("settlements", "request_no, order_id, settle_amount")],
}


def truth(gateway: FakeGateway, table: str) -> set[tuple]:
    if table == "orders":
        return {(o["order_id"], o["update_time"]) for o in gateway.orders}
    if table == "order_items":
        return {(i["order_id"], o["update_time"]) for o in gateway.orders for i in o["sku_order_list"]}
    if table == "products":
        return {(p["product_id"], p["update_time"]) for p in gateway.products}
    if table == "skus":
        return {(p["product_id"] + 1, p["product_id"]) for p in gateway.products}
    return {(s["request_no"], s["order_id"], s["settle_amount"]) for s in gateway.settlements}


# -- envelope edits --------------------------------------------------------------------------
def drop(path: str) -> Callable[[Envelope, Params], None]:
    def change(envelope: Envelope, params: Params) -> None:
        *parents, last = path.split(".")
        target = envelope
        for part in parents:
            target = target[part]
        del target[last]

    return change


def put(path: str, value: Any) -> Callable[[Envelope, Params], None]:
    def change(envelope: Envelope, params: Params) -> None:
        *parents, last = path.split(".")
        target = envelope
        for part in parents:
            target = target[part]
        target[last] = value

    return change


def edit_records(fn: Callable[[list[dict[str, Any]]], list[Any] | None], key: str = "shop_order_list"):
    def change(envelope: Envelope, params: Params) -> None:
        records = envelope["data"][key]
        replaced = fn(records)
        if replaced is not None:
            envelope["data"][key] = replaced

    return change


def edit_first_record(fn: Callable[[dict[str, Any]], None], key: str = "shop_order_list"):
    def change(records: list[dict[str, Any]]) -> None:
        if records:
            fn(records[0])

    return edit_records(change, key)


def every_record(fn: Callable[[dict[str, Any]], None]):
    def change(records: list[dict[str, Any]]) -> None:
        for record in records:
            fn(record)

    return edit_records(change)


def setter(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.__setitem__(field, value)


def pages(n: int, params: Params) -> bool:
    return params.get("size", 0) > 1


def opening(n: int, params: Params) -> bool:
    """The window's first page, which plans the read; a read of it again is not picked."""
    return n == 0


def whole_window(n: int, params: Params) -> bool:
    """Every read of the window's first page."""
    return params["update_time_start"] == WINDOW.start and params["update_time_end"] == WINDOW.end


def later_pages(n: int, params: Params) -> bool:
    return pages(n, params) and params["update_time_start"] > WINDOW.start


def once(when: Callable[[int, Params], bool]) -> Callable[[int, Params], bool]:
    fired = []

    def pick(n: int, params: Params) -> bool:
        if fired or not when(n, params):
            return False
        fired.append(n)
        return True

    return pick


def second_page_once(n: int, params: Params) -> bool:
    return n == 2  # the window's first page, the first slice's first and second pages


@dataclass(frozen=True)
class Case:
    name: str
    fault: Callable[[], Fault]
    expect: type[DouyinError] | None
    """The error a user sees, or None: the read must land exactly."""
    stream: str = "orders"


def orders_fault(change, when=pages) -> Callable[[], Fault]:
    return lambda: Fault("order.searchList", change, when)


SHAPE = DouyinResponseShapeError
INCOMPLETE = DouyinIncompleteReadError


def settle_fault(change, when=lambda n, params: True) -> Callable[[], Fault]:
    return lambda: Fault("order.getSettleBillDetailV3", change, when)


def products_fault(change, when=lambda n, params: True) -> Callable[[], Fault]:
    return lambda: Fault("product.listV2", change, when)


CASES = [
    # data itself
    Case("data missing", orders_fault(drop("data")), SHAPE),
    Case("data null", orders_fault(put("data", None)), SHAPE),
    Case("data a string", orders_fault(put("data", "ok")), SHAPE),
    Case("data a list", orders_fault(put("data", [])), SHAPE),
    Case("data missing on the opening page", orders_fault(drop("data"), whole_window), SHAPE),
    Case("data null once", orders_fault(put("data", None), once(pages)), None),
    # the record list
    Case("list missing", orders_fault(drop("data.shop_order_list")), SHAPE),
    Case("list null", orders_fault(put("data.shop_order_list", None)), SHAPE),
    Case("list a string", orders_fault(put("data.shop_order_list", "[]")), SHAPE),
    Case("list an object", orders_fault(put("data.shop_order_list", {})), SHAPE),
    Case("later pages without the list", orders_fault(drop("data.shop_order_list"), later_pages), SHAPE),
    Case("later pages empty", orders_fault(put("data.shop_order_list", []), later_pages), INCOMPLETE),
    Case("a record that is not an object", orders_fault(edit_records(lambda r: [*r[:-1], "x"])), SHAPE),
    # total
    Case("total missing", orders_fault(drop("data.total")), SHAPE),
    Case("total null", orders_fault(put("data.total", None)), SHAPE),
    Case("total 'abc'", orders_fault(put("data.total", "abc")), SHAPE),
    Case("total a numeric string", orders_fault(put("data.total", "250")), SHAPE),
    Case("total negative", orders_fault(put("data.total", -1)), SHAPE),
    Case("total a boolean", orders_fault(put("data.total", True)), SHAPE),
    Case("total 0 on pages with records", orders_fault(put("data.total", 0)), SHAPE),
    Case("opening page answers total 0", orders_fault(put("data.total", 0), whole_window), SHAPE),
    Case(
        # An empty answer is read again; the window's records then contradict its first total.
        "opening page answers total 0 and no list, once",
        orders_fault(put("data", {"total": 0, "shop_order_list": []}), opening),
        INCOMPLETE,
    ),
    Case(
        # The slice's walk ends consistently; the window's count at the end shows what it missed.
        "a slice's first page answers total 0 and no list, once",
        orders_fault(put("data", {"total": 0, "shop_order_list": []}), lambda n, p: n == 1),
        INCOMPLETE,
    ),
    Case("total absurd", orders_fault(put("data.total", 10**12)), INCOMPLETE),
    Case(
        "total one too many",
        orders_fault(lambda e, p: e["data"].update(total=e["data"]["total"] + 1)),
        INCOMPLETE,
    ),
    Case(
        "total below the page",
        orders_fault(lambda e, p: e["data"].update(total=len(e["data"]["shop_order_list"]) - 1)),
        SHAPE,
    ),
    # page sizes
    Case("one short page midway, once", orders_fault(edit_records(lambda r: r[:36]), second_page_once), None),
    Case("every later page short", orders_fault(edit_records(lambda r: r[:36]), later_pages), INCOMPLETE),
    Case(
        "a record dropped mid page, once",
        orders_fault(edit_records(lambda r: r[:50] + r[51:]), second_page_once),
        None,
    ),
    Case(
        "a record repeated in place of another",
        orders_fault(edit_records(lambda r: r[:50] + [r[49]] + r[51:])),
        SHAPE,
    ),
    Case("more records than asked", orders_fault(edit_records(lambda r: r + r[-1:])), SHAPE),
    # record times
    Case(
        "a record after the window",
        orders_fault(edit_first_record(setter("update_time", WINDOW.end + 100))),
        SHAPE,
    ),
    Case(
        "last record newer than the window",
        orders_fault(edit_records(lambda r: r[-1].update(update_time=WINDOW.end))),
        SHAPE,
    ),
    Case(
        "a record before the cursor",
        orders_fault(edit_first_record(setter("update_time", WINDOW.start - 1))),
        SHAPE,
    ),
    Case("update_time null", orders_fault(edit_first_record(setter("update_time", None))), SHAPE),
    Case(
        "update_time a string",
        orders_fault(edit_first_record(setter("update_time", str(WINDOW.start + 100)))),
        SHAPE,
    ),
    Case(
        "update_time a float",
        orders_fault(edit_first_record(setter("update_time", WINDOW.start + 100.0))),
        SHAPE,
    ),
    Case("records reversed in a page", orders_fault(edit_records(lambda r: r[::-1])), SHAPE),
    # record values
    Case("order_id missing", orders_fault(edit_first_record(lambda r: r.pop("order_id"))), RecordShapeError),
    Case(
        "order_id a float",
        orders_fault(edit_first_record(setter("order_id", 4.0000000000000077e18))),
        RecordShapeError,
    ),
    Case(
        "order_id an object", orders_fault(edit_first_record(setter("order_id", {"id": 1}))), RecordShapeError
    ),
    # A non-key value its column cannot hold lands in _extra (issue 9: a type change in the API's data
    # does not break a load); these two expected DouyinRecordError before. Keys still fail loudly.
    Case("int above 2^63", orders_fault(edit_first_record(setter("shop_id", 2**63))), None),
    Case("int a float", orders_fault(edit_first_record(setter("order_amount", 990.0))), None),
    Case(
        "sub-order id a float",
        orders_fault(edit_first_record(lambda r: r["sku_order_list"][0].update(order_id=6.9e18))),
        RecordShapeError,
    ),
    Case(
        "settle row key an object",
        settle_fault(edit_first_record(setter("order_id", {"id": "1"}), "data")),
        RecordShapeError,
        "settlements",
    ),
    Case(
        "sku_order_list a string",
        orders_fault(edit_first_record(setter("sku_order_list", "[]"))),
        DouyinRecordError,
    ),
    Case(
        "sub-order without its id",
        orders_fault(edit_first_record(lambda r: r["sku_order_list"][0].pop("order_id"))),
        DouyinRecordError,
    ),
    Case("NUL characters in strings", orders_fault(every_record(setter("buyer_words", "a\x00b"))), None),
    Case("lone surrogates in strings", orders_fault(every_record(setter("seller_words", "x\ud800y"))), None),
    Case(
        "NUL and surrogates inside JSON",
        orders_fault(edit_first_record(setter("post_addr", {"d\x00": ["\udfff", "a\x00"]}))),
        None,
    ),
    # envelopes the transport rejects
    Case("HTML instead of JSON", orders_fault(lambda e, p: b"<html>busy</html>"), DouyinTransientError),
    Case("an envelope that is a list", orders_fault(lambda e, p: b"[]"), DouyinRequestError),
    # settlements (start_index cursor)
    Case("is_end missing", settle_fault(drop("data.is_end")), SHAPE, "settlements"),
    Case("is_end 'yes'", settle_fault(put("data.is_end", "yes")), SHAPE, "settlements"),
    Case("next_start_index missing", settle_fault(drop("data.next_start_index")), SHAPE, "settlements"),
    Case("next_start_time missing", settle_fault(drop("data.next_start_time")), SHAPE, "settlements"),
    Case(
        "next_start_time after the window",
        settle_fault(put("data.next_start_time", "2099-01-01 00:00:00")),
        SHAPE,
        "settlements",
    ),
    Case("settle rows null", settle_fault(put("data.data", None)), SHAPE, "settlements"),
    Case(
        "settle row outside the window",
        settle_fault(edit_first_record(setter("settle_time", "2099-01-01 00:00:00"), "data")),
        SHAPE,
        "settlements",
    ),
    Case("inner code missing", settle_fault(drop("data.code")), DouyinTransientError, "settlements"),
    Case("inner code an error", settle_fault(put("data.code", "50002")), DouyinRequestError, "settlements"),
    # products (cursor mode) and their sku fan-out
    Case("product list missing", products_fault(drop("data.data")), SHAPE, "products"),
    Case("product cursor missing", products_fault(drop("data.cursor_id")), SHAPE, "products"),
    Case("product cursor repeated", products_fault(put("data.cursor_id", "0")), SHAPE, "products"),
    Case("product total missing", products_fault(drop("data.total")), SHAPE, "products"),
    Case(
        "product cursor ends early",
        products_fault(put("data.data", []), lambda n, p: n >= 1),
        INCOMPLETE,
        "products",
    ),
    Case(
        "sku.list data null",
        lambda: Fault(
            "sku.list", put("data", None), lambda n, p: p["product_id"] == product(7)["product_id"]
        ),
        SHAPE,
        "products",
    ),
]


def make_gateway(stream: str, fault: Fault) -> FakeGateway:
    if stream == "orders":
        return FakeGateway(orders=some_orders(), fault=fault)
    if stream == "products":
        return FakeGateway(products=[product(i) for i in range(150)], fault=fault)
    rows = [settlement(i, FINANCE_WINDOW.start + 600 * i) for i in range(120)]
    return FakeGateway(settlements=rows, fault=fault)


def test_there_are_at_least_forty_malformed_replies():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_malformed_reply_ends_typed_or_exact(case: Case, sqlite_hook):
    fault = case.fault()
    with make_gateway(case.stream, fault) as gateway:
        error = land(gateway, sqlite_hook, case.stream)
    assert fault.served > 0, f"the fault was never served ({fault.seen} {fault.method} requests)"
    assert gateway.requests["token.create"] == 1
    tables = TRUTH_COLUMNS[case.stream]
    if case.expect is None:
        assert error is None, f"expected an exact landing, got {error!r}"
        for table, columns in tables:
            assert landed(sqlite_hook, table, columns) == truth(gateway, table)
        return
    assert isinstance(error, case.expect), f"expected {case.expect.__name__}, got {error!r}"
    assert error.method and error.method in str(error)
    for table, columns in tables:
        assert landed(sqlite_hook, table, columns) == set(), f"{table}: rows written for a failed window"


def test_a_finance_inner_error_fails_every_reader_of_the_stream(sqlite_hook):
    """The stream declares its inner-code check, so no caller can leave it out: ``run_sync`` called
    as ``benchmarks/_common.py`` calls it (no check passed) and a bare reader both fail on the second
    settlement page, whose envelope succeeds but whose ``data.code`` says the query failed."""

    def inner_error(envelope: Envelope, params: Params) -> None:
        envelope["data"].update(code="50002", code_msg="query failed")

    spec = get_stream("settlements")
    for read in ("run_sync", "reader"):
        fault = Fault("order.getSettleBillDetailV3", inner_error, lambda n, params: n == 1)
        rows = [settlement(i, FINANCE_WINDOW.start + 600 * i) for i in range(120)]
        with (
            FakeGateway(settlements=rows, fault=fault) as gateway,
            client_for(gateway) as client,
            pytest.raises(DouyinRequestError) as raised,
        ):
            if read == "run_sync":
                sinks = {
                    b.table.name: SqlTableSink(sqlite_hook, b.table, table_prefix="t_") for b in spec.tables
                }
                run_sync(client.request, spec, FINANCE_WINDOW, sinks, max_workers=4)
            else:
                list(StreamReader(client.request, spec).read(FINANCE_WINDOW))
        assert fault.served == 1 and gateway.requests["order.getSettleBillDetailV3"] == 2, read
        error = raised.value
        assert error.sub_code == "data.code:50002" and "query failed" in str(error), read
        assert error.method == "order.getSettleBillDetailV3" and error.log_id == "2026120200000000002", read
    assert landed(sqlite_hook, "settlements", "request_no") == set()


def test_errors_name_the_log_id_and_never_a_value(sqlite_hook):
    fault = Fault("order.searchList", edit_first_record(setter("order_id", 4.0000000000000077e18)), pages)
    with FakeGateway(orders=some_orders(), fault=fault) as gateway:
        error = land(gateway, sqlite_hook, "orders")
    assert isinstance(error, RecordShapeError) and isinstance(error, DouyinRecordError)
    assert error.log_id.startswith("2026120200000") and error.log_id in str(error)
    assert "orders" in str(error) and "order_id" in str(error) and "float" in str(error)
    assert "4.0000000000000077e+18" not in str(error) and "4000000000000007" not in str(error)


def test_a_type_change_lands_in_extra_with_one_warning_naming_table_field_and_method(sql_hook, caplog):
    """Every order's ``order_amount`` turns into text: the load still lands every order exactly,
    each row holds the sent value in ``_extra`` with the column NULL, and one warning names it."""
    fault = Fault("order.searchList", every_record(setter("order_amount", "9.90元")))
    with caplog.at_level(logging.WARNING), FakeGateway(orders=some_orders(), fault=fault) as gateway:
        assert land(gateway, sql_hook, "orders") is None
    assert landed(sql_hook, "orders", "order_id, update_time") == truth(gateway, "orders")
    rows = sql_hook.get_records("SELECT order_id, order_amount, _extra FROM t_orders")
    assert {r[0]: (r[1], json.loads(r[2])) for r in rows} == {
        o["order_id"]: (None, {"order_amount": "9.90元"}) for o in gateway.orders
    }
    warnings = [r.getMessage() for r in caplog.records if "_extra" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "'orders'" in warnings[0] and "'order_amount'" in warnings[0] and "order.searchList" in warnings[0]


def test_repaired_strings_warn_once_per_column(sqlite_hook, caplog):
    fault = Fault("order.searchList", every_record(setter("buyer_words", "a\x00b")))
    with caplog.at_level(logging.WARNING), FakeGateway(orders=some_orders(), fault=fault) as gateway:
        assert land(gateway, sqlite_hook, "orders") is None
    warnings = [r for r in caplog.records if "NUL characters" in r.getMessage()]
    assert len(warnings) == 1 and "buyer_words" in warnings[0].getMessage()
    assert fault.served >= 3
    assert landed(sqlite_hook, "orders", "buyer_words") == {("ab",)}


def test_surrogates_sent_as_raw_utf8_bytes_are_repaired_too(sqlite_hook, caplog):
    """A body carrying a lone surrogate as raw (invalid) UTF-8 bytes, not as an escape, decodes to
    one: the quick scan of the raw body must still send its page through the per-value repair."""

    def raw_surrogates(envelope: Envelope, params: Params) -> bytes:
        for record in envelope["data"]["shop_order_list"]:
            record["buyer_words"] = "x\ud800y"
        return json.dumps(envelope, ensure_ascii=False).encode("utf-8", "surrogatepass")

    fault = Fault("order.searchList", raw_surrogates)
    with caplog.at_level(logging.WARNING), FakeGateway(orders=some_orders(), fault=fault) as gateway:
        assert land(gateway, sqlite_hook, "orders") is None
    assert b"\xed\xa0\x80" in raw_surrogates({"data": {"shop_order_list": [{}]}}, {})
    assert fault.served >= 3
    assert landed(sqlite_hook, "orders", "buyer_words") == {("x\ufffdy",)}
    assert any("buyer_words" in r.getMessage() for r in caplog.records)


def test_reversed_pages_fail_within_a_bounded_number_of_requests(sqlite_hook):
    fault = Fault("order.searchList", edit_records(lambda r: r[::-1]), pages)
    with FakeGateway(orders=some_orders(), fault=fault) as gateway:
        error = land(gateway, sqlite_hook, "orders")
    assert isinstance(error, DouyinResponseShapeError) and "ascending" in str(error)
    # The window's first page read PAGE_READS times: no walk over reversed records.
    assert gateway.requests["order.searchList"] == reader.PAGE_READS
    assert landed(sqlite_hook, "orders", "order_id") == set()


def test_a_long_windows_slice_answered_empty_once_fails_the_read(sqlite_hook):
    """A window of 7 days or more has no opening page to compare with: a slice whose first reply
    wrongly says "nothing here" is caught by counting the window again at the end."""
    long_window = Window(WINDOW.start, WINDOW.start + 8 * 86400)
    orders = some_orders(lambda i: long_window.start + 100 + i * 2000)

    def first_slices_first_page(n: int, params: Params) -> bool:
        # Picked by its window, not by arrival: the slices start at once, and the last one is empty.
        return pages(n, params) and params["update_time_start"] == long_window.start

    empty = put("data", {"total": 0, "shop_order_list": []})
    fault = Fault("order.searchList", empty, once(first_slices_first_page))
    spec = get_stream("orders")
    sinks = {b.table.name: SqlTableSink(sqlite_hook, b.table, table_prefix="t_") for b in spec.tables}
    with (
        FakeGateway(orders=orders, fault=fault) as gateway,
        client_for(gateway) as client,
        pytest.raises(DouyinIncompleteReadError, match=f"holds {ORDERS} records, but the read emitted only"),
    ):
        run_sync(client.request, spec, long_window, sinks, max_workers=4)
    assert fault.served == 1
    assert landed(sqlite_hook, "orders", "order_id") == set()


def test_answers_that_never_advance_stop_at_the_request_bound(sqlite_hook):
    """Every order in one second and a gateway that ignores page and create_time: bisection and
    offset passes see the same 100 records forever, and the request bound ends the read."""

    def first_page_of_the_second(envelope: Envelope, params: Params) -> None:
        everything = sorted(gateway.orders, key=lambda o: o["order_id"])
        envelope["data"].update(total=ORDERS, shop_order_list=everything[:100])

    gateway = FakeGateway(orders=some_orders(lambda i: WINDOW.start + 500))
    gateway.fault = Fault("order.searchList", first_page_of_the_second, pages)
    with gateway:
        error = land(gateway, sqlite_hook, "orders")
    assert isinstance(error, StreamReadError) and isinstance(error, DouyinIncompleteReadError)
    assert "requests yielded only 100 records" in str(error)
    bound = reader.REQUEST_BASE + reader.REQUESTS_PER_WINDOW * 1 + reader.REQUESTS_PER_PAGE * 1
    assert gateway.requests["order.searchList"] == bound
    assert landed(sqlite_hook, "orders", "order_id") == set()


def test_an_honest_gateway_lands_every_stream_exactly(sqlite_hook):
    for stream in TRUTH_COLUMNS:
        never = Fault("none", lambda e, p: None)
        with make_gateway(stream, never) as gateway:
            assert land(gateway, sqlite_hook, stream) is None
        for table, columns in TRUTH_COLUMNS[stream]:
            assert landed(sqlite_hook, table, columns) == truth(gateway, table), table


def test_repaired_text_lands_in_postgres(postgres_hook):
    """PostgreSQL rejects NUL in text and JSON, and no driver encodes a lone surrogate."""

    def dirty(record: dict[str, Any]) -> None:
        record.update(buyer_words="a\x00b", seller_words="x\ud800y", post_addr={"d\x00": ["\udfff"]})

    fault = Fault("order.searchList", every_record(dirty), pages)
    with FakeGateway(orders=some_orders(), fault=fault) as gateway:
        assert land(gateway, postgres_hook, "orders") is None
    assert fault.served >= 3
    assert landed(postgres_hook, "orders", "order_id, update_time") == truth(gateway, "orders")
    assert landed(postgres_hook, "orders", "buyer_words, seller_words") == {("ab", "x\ufffdy")}
