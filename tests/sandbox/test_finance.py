"""Settlement (T+1, ≤ 7-day windows) and fund-flow cursor paging."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from sandbox_testkit import Gateway, error_of

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox.constants import day_start, fmt_time

DAY = 86400


@pytest.fixture
def fin(douyin_sandbox_factory: Callable[..., SandboxServer]) -> Gateway:
    gw = Gateway(douyin_sandbox_factory(orders=1500, settle_ready_delay_s=0))
    gw.login()
    return gw


def _walk(gw: Gateway, method: str, start: str, end: str, size: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"start_time": start, "end_time": end, "size": size}
    for _ in range(1000):
        data = gw.data(method, params)
        assert data["code"] == "100000" and data["data_size"] == len(data["data"]) and data["size"] == size
        rows += data["data"]
        if data["is_end"] == 1:
            return rows
        assert len(data["data"]) == size
        params = {**params, "start_index": data["next_start_index"], "start_time": data["next_start_time"]}
    raise AssertionError("cursor never ended")


def test_settlement_cursor_walk_matches_truth(fin: Gateway) -> None:
    now = int(time.time())
    lo, hi = day_start(now) - 7 * DAY, day_start(now)
    rows = _walk(fin, "order.getSettleBillDetailV3", fmt_time(lo), fmt_time(hi), 7)
    keys = [(r["request_no"], r["order_id"]) for r in rows]
    assert len(keys) == len(set(keys)) > 20
    truth = [r for r in fin.server.truth("settlements") if fmt_time(lo) <= r["settle_time"] < fmt_time(hi)]
    assert sorted(keys) == sorted((r["request_no"], r["order_id"]) for r in truth)
    assert [r["settle_time"] for r in rows] == sorted(r["settle_time"] for r in rows)
    requests_by_order: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        assert isinstance(r["settle_time"], str) and isinstance(r["order_time"], str)
        assert isinstance(r["product_id"], str) and type(r["settle_amount"]) is int
        assert r["settle_amount"] == r["total_income"] - r["total_outcome"]
        if r["trade_type"] == 0:
            requests_by_order[r["shop_order_id"]].add(r["request_no"])
    assert all(len(v) == 1 for v in requests_by_order.values())  # one request per shop order
    published = fin.server.truth("settlements")
    normal = {r["shop_order_id"]: r["request_no"] for r in published if r["trade_type"] == 0}
    refunds = [r for r in published if r["trade_type"] == 1]
    assert refunds, "some refunds happen after settlement"
    for r in refunds:  # a second request with a new request_no and a negative amount
        assert r["settle_amount"] < 0 and r["request_no"] != normal.get(r["shop_order_id"])


def test_settlement_is_t_plus_1(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=1500, settle_ready_delay_s=0)
    now = time.time()
    today = day_start(now)
    internal = server.engine.shops[0].settlements.between(today, today + DAY)  # type: ignore[union-attr]
    assert any(True for _ in internal), "fixture has rows settling today"
    published = server.truth("settlements")
    assert published and max(r["settle_time"] for r in published) < fmt_time(today)
    gw = Gateway(server)
    gw.login()
    rows = gw.data(
        "order.getSettleBillDetailV3",
        {"start_time": fmt_time(today - DAY), "end_time": fmt_time(today + DAY), "size": 100},
    )["data"]
    assert rows and all(r["settle_time"] < fmt_time(today) for r in rows)
    server.set_faults(settle_ready_delay_s=2 * DAY)  # yesterday's rows are not ready either
    assert len(server.truth("settlements")) < len(published)


@pytest.mark.parametrize(
    ("params", "sub_code"),
    [
        ({"start_time": "2026-01-01 00:00:00", "end_time": "2026-01-09 00:00:00", "size": 10}, "100026"),
        ({"start_time": "2026-01-01 00:00:00", "end_time": "2026-01-02 00:00:00", "size": 101}, "100026"),
        ({"start_time": "2026-01-01", "end_time": "2026-01-02 00:00:00", "size": 10}, "100026"),
        ({"size": 10}, "100026"),
    ],
)
def test_settlement_errors(fin: Gateway, params: dict[str, Any], sub_code: str) -> None:
    envelope = fin.call("order.getSettleBillDetailV3", params)
    assert error_of(envelope) == (40004, f"isv.parameter-invalid:{sub_code}")


def test_account_items_walk_and_caps(fin: Gateway) -> None:
    now = int(time.time())
    lo, hi = fmt_time(now - 10 * DAY), fmt_time(now + 1)
    rows = _walk(fin, "order.getShopAccountItem", lo, hi, 250)
    truth = [r for r in fin.server.truth("account_flows") if lo <= r["bill_time"] < hi]
    assert sorted(r["account_trade_no"] for r in rows) == sorted(r["account_trade_no"] for r in truth)
    assert len({r["account_trade_no"] for r in rows}) == len(rows)
    assert {r["fund_flow"] for r in rows} == {0, 1}
    default = fin.data("order.getShopAccountItem", {"start_time": lo, "end_time": hi})
    assert default["size"] == 100 and len(default["data"]) == 100
    too_big = fin.call("order.getShopAccountItem", {"start_time": lo, "end_time": hi, "size": 1001})
    assert error_of(too_big) == (40004, "isv.parameter-invalid:100026")
    by_order = fin.data("order.getShopAccountItem", {"order_id": rows[0]["shop_order_id"], "size": 10})[
        "data"
    ]
    assert by_order and {r["shop_order_id"] for r in by_order} == {rows[0]["shop_order_id"]}
