"""Every stream lands exactly (0 lost, 0 duplicated, latest versions) against the sandbox's ground truth.

The expected rows are derived from the sandbox's truth records by field name here, not
through the stream catalog, so a wrong column mapping fails these tests too.
"""

from __future__ import annotations

import time
from typing import Any

import pendulum
import pytest

from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore, RetryPolicy
from airflow_provider_douyin.landing.sinks import SqlTableSink
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from airflow_provider_douyin.streams.catalog import STREAMS, get_stream
from airflow_provider_douyin.streams.sync import SyncResult, run_sync
from airflow_provider_douyin.streams.windows import Window

SHOP_ID = 1000001
DAY = 86400
SAFETY_LAG = 2

# (table, key columns, compared column) -> how to read the same facts from the truth records.
EXPECTED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "orders": ("orders", ("order_id",), "update_time"),
    "order_items": ("orders", ("order_id",), "order_update_time"),
    "products": ("products", ("product_id",), "update_time"),
    "skus": ("skus", ("id",), "stock_num"),
    "after_sales": ("after_sales", ("aftersale_id",), "update_time"),
    "settlements": ("settlements", ("request_no", "order_id"), "settle_amount"),
    "account_flows": ("account_flows", ("account_trade_no",), "account_amount"),
}


def shanghai_text(epoch: int) -> str:
    return pendulum.from_timestamp(epoch, tz="Asia/Shanghai").format("YYYY-MM-DD HH:mm:ss")


def truth_rows(server: Any, table: str, read_until: int) -> dict[tuple, Any]:
    """``read_until``: the end of the last window read. Fund flows keep being booked as time passes
    (T+1 settlements land in the early hours), so those booked since were never offered to the read."""
    if table == "orders":
        return {(o["order_id"],): o["update_time"] for o in server.truth("orders", shop_id=SHOP_ID)}
    if table == "order_items":
        return {
            (item["order_id"],): order["update_time"]
            for order in server.truth("orders", shop_id=SHOP_ID)
            for item in order["sku_order_list"]
        }
    if table == "products":
        return {(p["product_id"],): p["update_time"] for p in server.truth("products", shop_id=SHOP_ID)}
    if table == "skus":
        return {(s["id"],): s["stock_num"] for s in server.truth("skus", shop_id=SHOP_ID)}
    if table == "after_sales":
        return {
            (a["aftersale_info"]["aftersale_id"],): a["aftersale_info"]["update_time"]
            for a in server.truth("after_sales", shop_id=SHOP_ID)
        }
    if table == "settlements":
        return {
            (r["request_no"], r["order_id"]): int(r["settle_amount"])
            for r in server.truth("settlements", shop_id=SHOP_ID)
        }
    booked_before = shanghai_text(read_until)
    return {
        (r["account_trade_no"],): int(r["account_amount"])
        for r in server.truth("account_flows", shop_id=SHOP_ID)
        if r["bill_time"] < booked_before
    }


def landed_rows(hook: Any, table: str, prefix: str) -> tuple[dict[tuple, Any], int]:
    _, keys, value = EXPECTED[table]
    rows = hook.get_records(f"SELECT {', '.join(keys)}, {value} FROM {prefix}{table}")
    return {tuple(r[:-1]): r[-1] for r in rows}, len(rows)


def assert_exact(
    server: Any, hook: Any, prefix: str, read_until: int, tables: list[str] | None = None
) -> None:
    for table in tables or list(EXPECTED):
        expected = truth_rows(server, table, read_until)
        landed, count = landed_rows(hook, table, prefix)
        lost = expected.keys() - landed.keys()
        extra = landed.keys() - expected.keys()
        stale = {k for k in expected.keys() & landed.keys() if expected[k] != landed[k]}
        assert (len(lost), len(extra), len(stale)) == (0, 0, 0), (
            f"{table}: {len(lost)} lost, {len(extra)} unexpected, {len(stale)} stale of {len(expected)}; "
            f"e.g. lost={sorted(lost)[:3]} stale={sorted(stale)[:3]}"
        )
        assert count == len(expected), f"{table}: duplicated rows"
        assert expected, f"{table}: the sandbox produced no records, the test proves nothing"


def make_client(server: Any, **overrides: Any) -> DoudianShopClient:
    options: dict[str, Any] = {
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
        "base_url": server.url,
        "shop_id": str(SHOP_ID),
        "qps": 400,
        "timeout": (2.0, 5.0),
        "token_store": InMemoryTokenStore(),
        "retry": RetryPolicy(max_attempts=15, max_delay=60, initial=0.01, maximum=0.2),
        **overrides,
    }
    return DoudianShopClient(**options)


def sync(client: DoudianShopClient, hook: Any, stream: str, window: Window | None, prefix: str) -> SyncResult:
    spec = get_stream(stream)
    sinks = {b.table.name: SqlTableSink(hook, b.table, table_prefix=prefix) for b in spec.tables}
    return run_sync(
        client.request,
        spec,
        window if spec.window else None,
        sinks,
        batch_rows=150,
        max_workers=4,
    )


def full_history(now: float | None = None) -> Window:
    now = int(now or time.time())
    return Window(now - 31 * DAY, now - SAFETY_LAG)


def wait_past(seconds: float) -> None:
    time.sleep(seconds)


SHOP_STREAMS = [name for name, stream in STREAMS.items() if stream.platform == "doudian"]
"""The shop gateway's streams; the 抖音来客 streams are held to the truth in test_life_streams.py."""


def test_every_stream_is_declared_with_a_truth_comparison():
    declared = {b.table.name for name in SHOP_STREAMS for b in STREAMS[name].tables}
    assert declared == set(EXPECTED)
    assert {s.platform for s in STREAMS.values()} == {"doudian", "douyin_open"}


def test_every_stream_lands_exactly(douyin_sandbox_factory, sql_hook):
    server = douyin_sandbox_factory(orders=600, seed=11)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    window = full_history()
    results = {name: sync(client, sql_hook, name, window, "douyin_") for name in SHOP_STREAMS}
    assert_exact(server, sql_hook, "douyin_", window.end)
    assert results["orders"].rows["orders"] >= 600


def test_exact_under_every_fault_at_once(douyin_sandbox_factory, sql_hook):
    """Drift, visibility lag, throttling, busy, 502s, resets and 3-second tokens, all together."""
    server = douyin_sandbox_factory(orders=2000, seed=5)
    wait_past(SAFETY_LAG)
    server.set_faults(
        page_drift=2,
        visibility_lag_s=1.0,
        throttle_rate=0.10,
        busy_rate=0.05,
        http502_rate=0.02,
        reset_rate=0.02,
        access_ttl=3,
        refresh_ttl=120,
        rotation_window=1,
        grace=1,
    )
    client = make_client(server)
    first = full_history()
    for name in ("orders", "after_sales"):
        sync(client, sql_hook, name, first, "douyin_")

    # The shop moves on: 150 new orders created in the same second (a crowded second) and updates.
    server.mutate(new_orders=150, updates=80, shop_id=SHOP_ID)
    wait_past(SAFETY_LAG + 1.5)
    second = Window(first.end - 60, int(time.time()) - SAFETY_LAG)
    for name in ("orders", "after_sales"):
        sync(client, sql_hook, name, second, "douyin_")

    # Records the drift fault touched during that read now carry a later update_time; a final
    # incremental run (drift off, other faults on) picks them up exactly like a scheduled next run.
    server.set_faults(page_drift=0)
    wait_past(SAFETY_LAG + 1.5)
    third = Window(second.end - 60, int(time.time()) - SAFETY_LAG)
    history = Window(third.end - 31 * DAY, third.end)
    for name in SHOP_STREAMS:
        sync(client, sql_hook, name, third if name in ("orders", "after_sales") else history, "douyin_")

    assert_exact(server, sql_hook, "douyin_", third.end)
    # The faults really happened: otherwise this test would prove nothing.
    injected = server.stats()["faults_injected"]
    assert injected.get("page_drift", 0) > 0 and injected.get("throttle", 0) > 0, injected
    assert sum(injected.get(kind, 0) for kind in ("busy", "http502", "reset")) > 0, injected
    stats = server.stats()
    assert stats["refreshes"]["case2"] + stats["refreshes"]["case3"] > 0, stats["refreshes"]


def table_snapshot(hook: Any, table: str, prefix: str) -> list[tuple]:
    _, keys, _ = EXPECTED[table]
    return [tuple(r) for r in hook.get_records(f"SELECT * FROM {prefix}{table} ORDER BY {', '.join(keys)}")]


@pytest.mark.parametrize("order", [("a", "b", "c"), ("c", "a", "b", "a"), ("b", "c", "c", "a")])
def test_reruns_and_overlapping_windows_in_any_order_leave_identical_tables(
    douyin_sandbox_factory, sql_hook, order
):
    server = douyin_sandbox_factory(orders=400, seed=3)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    end = int(time.time()) - SAFETY_LAG
    windows = {
        "a": Window(end - 31 * DAY, end - 10 * DAY),
        "b": Window(end - 12 * DAY, end),  # overlaps a
        "c": Window(end - 20 * DAY, end - 5 * DAY),  # overlaps both
    }
    for key in ("a", "b", "c"):
        sync(client, sql_hook, "orders", windows[key], "ref_")
    for key in order:
        sync(client, sql_hook, "orders", windows[key], "run_")
    for table in ("orders", "order_items"):
        assert table_snapshot(sql_hook, table, "run_") == table_snapshot(sql_hook, table, "ref_")
    assert_exact(server, sql_hook, "run_", end, ["orders", "order_items"])
