"""A SQL sink holds one connection for its whole life, and every sink closes however a sync ends.

The rows come from ``run_sync`` reading an in-process ``order.searchList`` (a call function that
pages 100,000 generated orders, one item each, without HTTP), so the reader and the sync loop
flush exactly as a task does. Connections are counted by wrapping the SQL hook's ``get_conn``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import pytest

from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.landing.sinks import SqlStreamSink, SqlTableSink
from airflow_provider_douyin.landing.sql import SqlLanding
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.sync import run_sync
from airflow_provider_douyin.streams.windows import Window
from tests.streams.fake_gateway import order

ORDERS = 100_000  # and one item each: 200,000 rows
PER_SECOND = 2
START = int(time.time()) - 20 * 86400
WINDOW = Window(START, START + ORDERS // PER_SECOND)


class GeneratedOrders:
    """``order.searchList`` over ``count`` orders, ``PER_SECOND`` per second from ``START``, built on demand.

    Order ``i`` has ``update_time = START + i // PER_SECOND`` and ids rising with ``i``, so the
    API's ``(update_time, order_id)`` order is index order and a time range is an index range.
    """

    def __init__(self, count: int, *, fail_after_pages: int | None = None) -> None:
        self.count = count
        self.fail_after_pages = fail_after_pages
        self.pages = 0

    def _index(self, second: int) -> int:
        return min(self.count, max(0, (second - START) * PER_SECOND))

    def __call__(self, method: str, params: Mapping[str, Any]) -> ApiResponse:
        assert method == "order.searchList", method
        if self.fail_after_pages is not None and self.pages >= self.fail_after_pages:
            raise RuntimeError("gateway unreachable")
        self.pages += 1
        first, last = self._index(params["update_time_start"]), self._index(params["update_time_end"])
        selection = (
            [order(i, START + i // PER_SECOND) for i in range(first, last)]
            if "create_time_start" in params
            else None
        )
        if selection is not None:
            low, high = params["create_time_start"], params["create_time_end"]
            selection = [o for o in selection if low <= o["create_time"] < high]
            total = len(selection)
        else:
            total = last - first
        page, size = params["page"], params["size"]
        if selection is not None:
            records = selection[page * size : (page + 1) * size]
        else:
            begin = first + page * size
            records = [order(i, START + i // PER_SECOND) for i in range(begin, min(last, begin + size))]
        data = {"page": page, "size": size, "total": total, "shop_order_list": records}
        return ApiResponse(method, data, log_id=f"20261203{self.pages:012d}")


def count_connections(hook: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    opened: list[Any] = []
    get_conn = hook.get_conn

    def counting_get_conn() -> Any:
        opened.append(get_conn())
        return opened[-1]

    monkeypatch.setattr(hook, "get_conn", counting_get_conn)
    return opened


def assert_closed(connections: list[Any]) -> None:
    for conn in connections:
        with pytest.raises(Exception, match="closed"):
            conn.cursor()


def fail_the_third_item_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    """The third statement writing order items raises, after its flush's orders were written."""
    original, item_statements = SqlLanding._executemany, []

    def items_fail_the_third_time(cur: Any, sql: str, params: list[Any]) -> None:
        if "order_items" in sql:
            item_statements.append(sql)
            if len(item_statements) == 3:
                raise RuntimeError("disk full")
        original(cur, sql, params)

    monkeypatch.setattr(SqlLanding, "_executemany", staticmethod(items_fail_the_third_time))


def count_rows(hook: Any, table: str) -> int:
    return hook.get_first(f"SELECT COUNT(*) FROM {table}")[0]


@pytest.fixture(params=["sqlite", "postgres"])
def db_hook(request) -> Any:
    return request.getfixturevalue(f"{request.param}_hook")


def test_a_200000_row_sync_opens_one_connection_per_table(db_hook, monkeypatch):
    stream = get_stream("orders")
    opened = count_connections(db_hook, monkeypatch)
    with ExitStack() as stack:
        sinks = {b.table.name: stack.enter_context(SqlTableSink(db_hook, b.table)) for b in stream.tables}
        result = run_sync(GeneratedOrders(ORDERS), stream, WINDOW, sinks, max_workers=4)
    assert len(opened) == len(stream.tables) == 2  # one per table and flush before: 192 for this sync
    assert_closed(opened)
    assert result.rows == {"orders": ORDERS, "order_items": ORDERS}
    assert count_rows(db_hook, "douyin_orders") == ORDERS
    assert count_rows(db_hook, "douyin_order_items") == ORDERS


def test_a_stream_sink_lands_all_tables_on_one_connection(sqlite_hook, monkeypatch):
    stream = get_stream("orders")
    opened = count_connections(sqlite_hook, monkeypatch)
    with SqlStreamSink(sqlite_hook, [b.table for b in stream.tables]) as sink:
        run_sync(GeneratedOrders(20_000), stream, WINDOW, sink, max_workers=4)
    assert len(opened) == 1
    assert_closed(opened)
    assert count_rows(sqlite_hook, "douyin_order_items") == 20_000


def test_statements_are_built_once_per_table(sqlite_hook, monkeypatch):
    stream = get_stream("orders")
    built = []
    statements = SqlLanding.statements

    def counting_statements(self, dialect):
        built.append(self.table.name)
        return statements(self, dialect)

    monkeypatch.setattr(SqlLanding, "statements", counting_statements)
    with SqlStreamSink(sqlite_hook, [b.table for b in stream.tables]) as sink:
        run_sync(GeneratedOrders(5_000), stream, WINDOW, sink, batch_rows=500, max_workers=2)
    assert sorted(built) == ["order_items", "orders"]


def test_a_failing_sync_closes_its_table_sinks_and_keeps_the_flushes_before_it(sqlite_hook, monkeypatch):
    stream = get_stream("orders")
    opened = count_connections(sqlite_hook, monkeypatch)
    with pytest.raises(RuntimeError, match="gateway unreachable"), ExitStack() as stack:
        sinks = {b.table.name: stack.enter_context(SqlTableSink(sqlite_hook, b.table)) for b in stream.tables}
        run_sync(GeneratedOrders(5_000, fail_after_pages=20), stream, WINDOW, sinks, max_workers=1)
    assert len(opened) == 2
    assert_closed(opened)
    landed = count_rows(sqlite_hook, "douyin_orders")
    assert 0 < landed < 5_000
    assert count_rows(sqlite_hook, "douyin_order_items") == landed


def test_a_failing_flush_is_rolled_back_and_the_stream_sink_closed(db_hook, monkeypatch):
    stream = get_stream("orders")
    opened = count_connections(db_hook, monkeypatch)
    fail_the_third_item_statement(monkeypatch)
    with (
        pytest.raises(RuntimeError, match="disk full"),
        SqlStreamSink(db_hook, [b.table for b in stream.tables]) as sink,
    ):
        run_sync(GeneratedOrders(1_000), stream, WINDOW, sink, batch_rows=200, max_workers=1)
    assert len(opened) == 1
    assert_closed(opened)
    orders = {r[0] for r in db_hook.get_records("SELECT order_id FROM douyin_orders")}
    parents = {r[0] for r in db_hook.get_records("SELECT parent_order_id FROM douyin_order_items")}
    assert orders == parents and 0 < len(orders) < 1_000
