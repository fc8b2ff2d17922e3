"""Live-room sales equal the sandbox's ground truth, in SQLite, PostgreSQL and MariaDB.

The orders and after-sales streams are landed through the sink ``DouyinToSqlOperator`` opens; the
expected rooms are computed here, independently, from the sandbox's truth records by the rules
the README states. The shop's clock is pinned inside its evening live session, so the orders the
sandbox adds while the test runs are live-room sales too.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from airflow_provider_douyin.landing.live_rooms import LIVE_ROOM_PRODUCTS_TABLE, LIVE_ROOMS_TABLE
from airflow_provider_douyin.landing.sinks import SqlStreamSink
from airflow_provider_douyin.sandbox.live_sessions import sessions_on_day
from airflow_provider_douyin.streams.catalog import AFTER_SALES_TABLE, get_stream
from airflow_provider_douyin.streams.sync import run_sync
from airflow_provider_douyin.streams.windows import Window
from airflow_provider_douyin.transfers.douyin_to_sql import DouyinToSqlOperator
from tests.landing.test_landing_sql import q
from tests.streams.test_exactness import SHOP_ID, make_client

DAY = 86400
LAG = 2
PREFIX = "lr_"
SEED = 19


def evening_session_start(seed: int) -> int:
    """Yesterday's 19:00-23:00 session of the shop's own account (every day has one)."""
    return next(s.start for s in sessions_on_day(seed, 1, int(time.time()) - DAY) if s.c_biz == 8)


def sync(server: Any, hook: Any, stream_name: str, window: Window, prefix: str = PREFIX) -> None:
    """One run of the operator's sync: its sink, with the live-room tables maintained."""
    operator = DouyinToSqlOperator(
        task_id=f"land_{stream_name}",
        stream=stream_name,
        sql_conn_id=getattr(hook, hook.conn_name_attr),
        table_prefix=prefix,
    )
    stream = get_stream(stream_name)
    with operator.open_sink(stream, window) as sink:
        run_sync(make_client(server).request, stream, window, sink, batch_rows=150, max_workers=4)


def server_now(server: Any) -> int:
    return int(server.engine.clock())


def room_id(item: dict[str, Any]) -> int:
    """The exact room id: from the text twin when set (19 digits), else the number."""
    return int(item["room_id_str"]) if item["room_id_str"] not in ("", "0") else int(item["room_id"])


def expected_tables(server: Any) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    """Rooms and room products by the README's rules, from the truth records alone."""
    refunded: dict[str, int] = defaultdict(int)
    for aftersale in server.truth("after_sales", shop_id=SHOP_ID):
        info = aftersale["aftersale_info"]
        if info["refund_status"] == 3:
            refunded[info["related_id"]] += info["refund_amount"]
    rooms: dict[tuple, dict[str, Any]] = {}
    products: dict[tuple, dict[str, Any]] = {}
    for order in server.truth("orders", shop_id=SHOP_ID):
        if not order["pay_time"]:
            continue
        for item in order["sku_order_list"]:
            rid = room_id(item)
            if not rid:
                continue
            key = (order["shop_id"], rid)
            room = rooms.setdefault(key, {"refund": 0, "items": []})
            room["refund"] += refunded.get(item["order_id"], 0)
            if item["order_status"] != 4:
                room["items"].append((order, item))
                product = products.setdefault((*key, item["product_id"]), {"items": []})
                product["items"].append((order, item))

    def figures(counted: list[tuple[dict, dict]]) -> tuple:
        return (
            sum(i["pay_amount"] for _, i in counted),
            len(counted),
            sum(i["item_num"] for _, i in counted),
            len({o["doudian_open_id"] for o, _ in counted}),
        )

    expected_rooms = {}
    for key, room in rooms.items():
        counted = room["items"]
        if not counted:
            continue  # its every paid sku order is cancelled: no row
        alliance = [i for _, i in counted if i["c_biz"] == 2]
        gmv, sku_orders, items, buyers = figures(counted)
        expected_rooms[key] = (
            max(i["author_id"] for _, i in counted),
            max(i["author_name"] for _, i in counted),
            min(o["pay_time"] for o, _ in counted),
            max(o["pay_time"] for o, _ in counted),
            gmv,
            len({i["parent_order_id"] for _, i in counted}),
            sku_orders,
            items,
            buyers,
            room["refund"],
            sum(i["pay_amount"] for i in alliance),
            len(alliance),
        )
    expected_products = {key: figures(p["items"]) for key, p in products.items()}
    return expected_rooms, expected_products


def landed(hook: Any, table: Any, prefix: str = PREFIX) -> dict[tuple, tuple]:
    names = table.column_names
    width = len(table.primary_key)
    rows = hook.get_records(
        f"SELECT {', '.join(q(hook, c) for c in names)} FROM {q(hook, prefix + table.name)}"
    )
    return {tuple(r[:width]): tuple(r[width:]) for r in rows}


def assert_rooms_exact(server: Any, hook: Any) -> dict[tuple, tuple]:
    rooms, products = expected_tables(server)
    for table, expected in ((LIVE_ROOMS_TABLE, rooms), (LIVE_ROOM_PRODUCTS_TABLE, products)):
        got = landed(hook, table)
        missing = expected.keys() - got.keys()
        unexpected = got.keys() - expected.keys()
        off = {k for k in expected.keys() & got.keys() if expected[k] != got[k]}
        assert (len(missing), len(unexpected), len(off)) == (0, 0, 0), (
            f"{table.name}: {len(missing)} missing, {len(unexpected)} unexpected, {len(off)} off "
            f"of {len(expected)}; e.g. {[(k, expected[k], got[k]) for k in sorted(off)[:2]]}"
        )
    return rooms


def snapshot(hook: Any) -> tuple[dict, dict]:
    return landed(hook, LIVE_ROOMS_TABLE), landed(hook, LIVE_ROOM_PRODUCTS_TABLE)


def test_live_rooms_equal_the_truth_after_loads_mutations_and_reruns(douyin_sandbox_factory, sql_hook):
    server = douyin_sandbox_factory(orders=900, seed=SEED, now=evening_session_start(SEED) + 1200)
    time.sleep(LAG)
    history = Window(server_now(server) - 31 * DAY, server_now(server) - LAG)
    for stream in ("orders", "after_sales"):
        sync(server, sql_hook, stream, history)
    rooms = assert_rooms_exact(server, sql_hook)

    # The comparison bites: many rooms, 达人 rooms, and the rules' edge cases are in the data.
    truth_items = [(o, i) for o in server.truth("orders", shop_id=SHOP_ID) for i in o["sku_order_list"]]
    assert len(rooms) >= 20
    assert sum(1 for r in rooms.values() if r[-1] > 0) >= 3  # rooms with alliance sales
    assert sum(1 for r in rooms.values() if r[9] > 0) >= 1  # rooms with refunds
    assert any(o["pay_time"] and room_id(i) and i["order_status"] == 4 for o, i in truth_items)
    assert any(not o["pay_time"] and room_id(i) for o, i in truth_items)  # unpaid room orders
    assert any(room_id(i) > 2**53 and i["room_id_str"] for _, i in truth_items)
    assert {i["room_id_str"] for _, i in truth_items if not i["room_id"]} == {"", "0"}

    # The shop moves on: paid orders in the live room, status changes, refunds and cancellations.
    before = snapshot(sql_hook)
    changes = server.mutate(new_orders=40, updates=150, paid=True, room_refunds=12, shop_id=SHOP_ID)
    (shop,) = changes["shops"]
    assert len(shop["refunded"]) == 12
    time.sleep(LAG + 1)
    recent = Window(history.end - 60, server_now(server) - LAG)
    for stream in ("orders", "after_sales"):
        sync(server, sql_hook, stream, recent)
    rooms_after = assert_rooms_exact(server, sql_hook)
    created = set(shop["created"])
    new_room_sales = [i for o, i in truth_items_of(server) if o["order_id"] in created and room_id(i)]
    assert new_room_sales, "the new orders were sold in the live room"
    assert snapshot(sql_hook) != before and rooms_after != rooms

    # Reruns of overlapping and older windows change nothing.
    settled = snapshot(sql_hook)
    for window in (Window(history.start, recent.end), history, recent):
        for stream in ("orders", "after_sales"):
            sync(server, sql_hook, stream, window)
    assert snapshot(sql_hook) == settled


def truth_items_of(server: Any) -> list[tuple[dict, dict]]:
    return [(o, i) for o in server.truth("orders", shop_id=SHOP_ID) for i in o["sku_order_list"]]


ROOM = 7_400_000_000_000_000_123  # above 2**53


def order(order_id: str, version: int, *, status: int, pay_time: int, room: int = ROOM) -> dict[str, Any]:
    """One landed flush: a shop order with one sku order in ``room``."""
    parent = {"order_id": order_id, "shop_id": SHOP_ID, "update_time": version, "pay_time": pay_time,
              "doudian_open_id": f"buyer-{order_id}", "order_status": status}  # fmt: skip
    item = {"order_id": order_id, "parent_order_id": order_id, "order_update_time": version,
            "room_id": room, "room_id_str": str(room), "author_id": 9, "author_name": "达人",
            "c_biz": 2, "product_id": 5, "pay_amount": 990, "item_num": 1,
            "order_status": status}  # fmt: skip
    return {"orders": [parent], "order_items": [item]}


def land(hook: Any, *flushes: dict[str, list[dict[str, Any]]]) -> None:
    tables = [b.table for b in get_stream("orders").tables]
    with SqlStreamSink(hook, tables, table_prefix=PREFIX, live_rooms=True) as sink:
        for rows in flushes:
            sink.write(rows)
        sink.finish()


def test_a_room_whose_last_counted_sale_is_cancelled_loses_its_row(sql_hook):
    land(sql_hook, order("1", 100, status=2, pay_time=90), order("2", 100, status=2, pay_time=95))
    rooms = landed(sql_hook, LIVE_ROOMS_TABLE)
    assert rooms == {(SHOP_ID, ROOM): (9, "达人", 90, 95, 1980, 2, 2, 2, 2, 0, 1980, 2)}

    land(sql_hook, order("1", 200, status=4, pay_time=90))  # one cancelled: the room shrinks
    assert landed(sql_hook, LIVE_ROOMS_TABLE)[(SHOP_ID, ROOM)][2:9] == (95, 95, 990, 1, 1, 1, 1)
    land(sql_hook, order("2", 200, status=4, pay_time=95))  # the last one: the room is gone
    assert landed(sql_hook, LIVE_ROOMS_TABLE) == {}
    assert landed(sql_hook, LIVE_ROOM_PRODUCTS_TABLE) == {}

    land(sql_hook, order("1", 150, status=2, pay_time=90))  # an older version changes nothing
    assert landed(sql_hook, LIVE_ROOMS_TABLE) == {}


def test_unpaid_room_orders_make_no_room(sql_hook):
    land(sql_hook, order("3", 100, status=1, pay_time=0))
    assert landed(sql_hook, LIVE_ROOMS_TABLE) == {}
    assert sql_hook.get_records(f"SELECT COUNT(*) FROM {q(sql_hook, PREFIX + 'order_items')}")[0][0] == 1


def table_names(hook: Any) -> set[str]:
    if hook.dialect_name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        if hook.dialect_name in ("mysql", "mariadb"):
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
    return {r[0] for r in hook.get_records(sql)}


@pytest.mark.parametrize(("stream", "live_rooms", "derived"), [
    ("orders", True, True), ("after_sales", True, True), ("orders", False, False),
    ("settlements", True, False), ("products", True, False),
])  # fmt: skip
def test_the_operator_keeps_rooms_for_the_streams_that_change_them(sqlite_hook, stream, live_rooms, derived):
    operator = DouyinToSqlOperator(
        task_id="land", stream=stream, sql_conn_id=getattr(sqlite_hook, sqlite_hook.conn_name_attr),
        table_prefix=PREFIX, live_rooms=live_rooms,
    )  # fmt: skip
    with operator.open_sink(get_stream(stream), None) as sink:
        sink.finish()
    names = table_names(sqlite_hook)
    assert (
        {PREFIX + "live_rooms", PREFIX + "live_room_products"} <= names
        if derived
        else not any("live_room" in n for n in names)
    )


def test_recomputations_running_at_once_neither_fail_nor_lose_a_room(sql_hook):
    """A DAG's orders and after-sales tasks run in parallel and may rebuild the same rooms at once."""
    flushes = [order(str(n), 100, status=2, pay_time=90 + n, room=ROOM + n % 5) for n in range(1, 41)]
    land(sql_hook, *flushes)
    expected = snapshot(sql_hook)
    assert len(expected[0]) == 5
    errors: list[BaseException] = []

    def after_sales_task(worker: int) -> None:
        """Lands pending after-sales of every sku order: each landing rebuilds all five rooms."""
        try:
            for run in range(10):
                rows = [
                    {"aftersale_id": f"{worker}-{run}-{n}", "update_time": 1, "related_id": str(n),
                     "refund_status": 1, "refund_amount": 990}
                    for n in range(1, 41)
                ]  # fmt: skip
                with SqlStreamSink(
                    sql_hook, [AFTER_SALES_TABLE], table_prefix=PREFIX, live_rooms=True
                ) as sink:
                    sink.write({"after_sales": rows})
                    sink.finish()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=after_sales_task, args=(n,)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert snapshot(sql_hook) == expected
