"""A transfer keeps enough requests in flight to fill its connection's qps, unless told how many."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_douyin.client.doudian_client import DoudianShopClient
from airflow_provider_douyin.streams.sync import workers_for
from airflow_provider_douyin.transfers import douyin_to_sql
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection
from tests.airflow.test_transfer_lifetimes import MONTH, to_sql, variables  # noqa: F401 (a fixture)

ORDERS = 8_000
"""Enough for 16 slices (one per five pages): more than the old fixed pool of 8 could walk at once."""


@pytest.fixture
def requests_in_flight(monkeypatch) -> dict[str, int]:
    """The most ``DoudianShopClient.request`` calls under way at once (waiting on the pace included)."""
    seen = {"now": 0, "peak": 0}
    lock = threading.Lock()
    request = DoudianShopClient.request

    def counting_request(self: DoudianShopClient, *args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["now"] += 1
            seen["peak"] = max(seen["peak"], seen["now"])
        try:
            return request(self, *args, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(DoudianShopClient, "request", counting_request)
    return seen


@pytest.mark.parametrize(
    ("qps", "max_workers", "most"),
    [(100, None, 30), (20, None, 8), (100, 3, 3)],
    ids=["qps 100: up to 30", "qps 20: 8", "told 3"],
)
@pytest.mark.usefixtures("in_memory_tokens", "variables")
def test_the_pool_is_sized_from_the_connections_qps(
    qps: int,
    max_workers: int | None,
    most: int,
    douyin_sandbox_factory,
    sqlite_hook,
    requests_in_flight,
    monkeypatch,
) -> None:
    server = douyin_sandbox_factory(orders=ORDERS, seed=5)
    extra = {"shop_id": str(SHOP_ID), "qps": qps}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(server.url, extra=extra))
    monkeypatch.setattr(douyin_to_sql.BaseHook, "get_hook", staticmethod(lambda conn_id: sqlite_hook))

    payload = to_sql(**MONTH, max_workers=max_workers).execute(context={})

    start, end = (datetime.fromisoformat(payload[k]).timestamp() for k in ("window_start", "window_end"))
    orders = server.truth("orders", shop_id=SHOP_ID)
    truth = {str(o["order_id"]) for o in orders if start <= o["update_time"] < end}
    landed = {row[0] for row in sqlite_hook.get_records("SELECT order_id FROM douyin_orders")}
    assert landed == truth and len(truth) > 0.99 * ORDERS
    assert requests_in_flight["peak"] <= most
    if most > 8:  # the old fixed default would never have had more than 8 under way
        assert requests_in_flight["peak"] > 8


def test_workers_for_fills_the_rate_at_300_ms_within_bounds() -> None:
    assert [workers_for(q) for q in (1, 10, 26, 27, 50, 100, 1000)] == [8, 8, 8, 9, 15, 30, 64]
