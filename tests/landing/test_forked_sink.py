"""Landing in a forked child lands exactly what landing in-process does, and fails the same way.

The child is a real ``os.fork`` of the test process, writing to a real database (SQLite, PostgreSQL
and MariaDB for the exactness test); the reader runs ``run_sync`` over the generated
``order.searchList`` of ``test_sink_lifetimes``.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from airflow_provider_douyin.landing.forked import ForkedSink, LandingProcessError
from airflow_provider_douyin.landing.sinks import open_sql_sink
from airflow_provider_douyin.landing.sql import SqlLanding, dump_json
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.schema import Column, Table
from airflow_provider_douyin.streams.sync import run_sync
from tests.landing.test_landing_sql import fetch
from tests.landing.test_sink_lifetimes import WINDOW, GeneratedOrders, count_rows

ORDERS = get_stream("orders")
NOTES = Table(
    "notes",
    (Column("id", "str"), Column("v", "int"), Column("body", "json")),
    primary_key=("id",),
    version_column="v",
)


def forked_sink(hook: Any, tables: list[Table], prefix: str = "douyin_") -> ForkedSink:
    sink = open_sql_sink(hook, tables, table_prefix=prefix)
    assert isinstance(sink, ForkedSink)  # this platform forks: the test would prove nothing otherwise
    return sink


def child_is_gone(pid: int) -> bool:
    """Reaped: not even a zombie is left (``waitpid`` knows no such child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_forked_sync_lands_exactly_what_an_in_process_one_lands(sql_hook):
    tables = [b.table for b in ORDERS.tables]
    with forked_sink(sql_hook, tables, "forked_") as sink:
        forked = run_sync(GeneratedOrders(5_000), ORDERS, WINDOW, sink, batch_rows=700, max_workers=4)
        pid = sink.pid
    with open_sql_sink(sql_hook, tables, table_prefix="local_", forked=False) as sink:
        local = run_sync(GeneratedOrders(5_000), ORDERS, WINDOW, sink, batch_rows=700, max_workers=4)

    assert forked.rows == local.rows == {"orders": 5_000, "order_items": 5_000}
    for table in tables:
        order_by = ", ".join(table.primary_key)
        landed = sql_hook.get_records(f"SELECT * FROM forked_{table.name} ORDER BY {order_by}")
        assert len(landed) == 5_000  # every column, _extra included
        assert landed == sql_hook.get_records(f"SELECT * FROM local_{table.name} ORDER BY {order_by}")
    assert pid != os.getpid() and child_is_gone(pid)


def test_a_bad_row_fails_the_sync_with_its_own_error_and_nothing_after_it_lands(sqlite_hook):
    flush = {"notes": [{"id": "a", "v": 1, "body": {"n": 1}}]}
    bad = {"notes": [{"id": "b", "v": None, "body": None}]}
    refused = "'douyin_notes': row #1 has no value for version column 'v'"
    with pytest.raises(ValueError, match=refused), forked_sink(sqlite_hook, [NOTES]) as sink:
        sink.write(flush)
        sink.commit()
        sink.write(bad)  # the child fails on it; the reader hears of it at its next call
        sink.write({"notes": [{"id": "c", "v": 1, "body": None}]})
        sink.finish()
    assert [row["id"] for row in fetch(sqlite_hook, NOTES)] == ["a"]


def test_values_msgpack_cannot_hold_land_exactly(sqlite_hook):
    body = {"big": 2**70, "small": -(2**63) - 1, "nested": [{"x": 1.5e300}], "text": "鞋 \u00e9"}
    with forked_sink(sqlite_hook, [NOTES]) as sink:
        sink.write({"notes": [{"id": "a", "v": 1, "body": body}]})
        stats = sink.finish()
    assert stats["notes"] == {"table": "douyin_notes", "rows_received": 1, "rows_written": 1}
    assert sqlite_hook.get_first("SELECT body FROM douyin_notes")[0] == dump_json(body)


def test_the_child_connects_without_asking_airflow_for_the_connection(sqlite_hook, monkeypatch):
    sink = forked_sink(sqlite_hook, [NOTES])

    def no_lookups(*_args: Any, **_kwargs: Any) -> Any:
        # In a task this lookup talks to the task supervisor over the parent's channel.
        raise AssertionError("the landing process looked its connection up")

    monkeypatch.setattr(type(sqlite_hook), "get_connection", classmethod(no_lookups))
    with sink:
        sink.write({"notes": [{"id": "a", "v": 1, "body": None}]})
        sink.finish()
    assert count_rows(sqlite_hook, "douyin_notes") == 1


def test_a_killed_landing_process_fails_the_sync_naming_the_signal(sqlite_hook, monkeypatch):
    original, statements = SqlLanding._executemany, []

    def killed_in_the_second_flush(cur: Any, sql: str, params: list[Any]) -> None:
        statements.append(sql)  # the child's own copy of the list
        if len(statements) == 10:  # two per page (orders, items); a flush is 3 pages of 500 rows
            os.kill(os.getpid(), signal.SIGKILL)
        original(cur, sql, params)

    monkeypatch.setattr(SqlLanding, "_executemany", staticmethod(killed_in_the_second_flush))
    with (
        pytest.raises(LandingProcessError, match="killed by SIGKILL"),
        forked_sink(sqlite_hook, [b.table for b in ORDERS.tables]) as sink,
    ):
        run_sync(GeneratedOrders(3_000), ORDERS, WINDOW, sink, batch_rows=500, max_workers=1)
    orders = {r[0] for r in sqlite_hook.get_records("SELECT order_id FROM douyin_orders")}
    parents = {r[0] for r in sqlite_hook.get_records("SELECT parent_order_id FROM douyin_order_items")}
    # The first flush (its orders and items) committed; the killed one left nothing half-written.
    assert orders == parents and 0 < len(orders) < 3_000
    assert statements == []  # nothing ran in this process


def test_a_failing_read_rolls_the_child_back_and_reaps_it(sqlite_hook):
    with (
        pytest.raises(RuntimeError, match="gateway unreachable"),
        forked_sink(sqlite_hook, [b.table for b in ORDERS.tables]) as sink,
    ):
        pid = sink.pid
        # The reader may run up to 32 pages ahead of the landing: fail well after the first commit.
        run_sync(
            GeneratedOrders(5_000, fail_after_pages=40), ORDERS, WINDOW, sink, batch_rows=500, max_workers=1
        )
    landed = count_rows(sqlite_hook, "douyin_orders")
    assert 0 < landed < 5_000 and count_rows(sqlite_hook, "douyin_order_items") == landed
    assert child_is_gone(pid)


def test_a_sink_that_cannot_open_fails_on_entry(sqlite_hook, monkeypatch):
    def read_only(*_args: Any) -> None:
        raise OSError("attempt to write a read-only database")

    monkeypatch.setattr(SqlLanding, "ensure_table_on", read_only)
    sink = forked_sink(sqlite_hook, [NOTES])
    with pytest.raises(OSError, match="read-only database"):
        sink.__enter__()
    with pytest.raises(RuntimeError, match="not open"):
        sink.finish()
