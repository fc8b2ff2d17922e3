"""Idle workers take over the upper half of the busiest walk's range; every record is still read once."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from typing import Any

import pytest

from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.reader import StreamReader
from airflow_provider_douyin.streams.windows import Window

SHOP_ID = 1000001
DAY = 86400


def read_orders(
    server: Any, max_workers: int, days: int = 31
) -> tuple[StreamReader, Counter[str], list[tuple[str, str]]]:
    """Read the sandbox's orders of the last ``days`` days; return the reader, how often each id was
    emitted, and the ``update_time_start``/``end`` of every full-size request (the ranges walked)."""
    ranges: list[tuple[str, str]] = []
    with DoudianShopClient(
        app_key=SANDBOX_APP_KEY,
        app_secret=SANDBOX_APP_SECRET,
        base_url=server.url,
        shop_id=str(SHOP_ID),
        qps=1000,
        token_store=InMemoryTokenStore(),
    ) as client:

        def call(method: str, params: Any) -> Any:
            if params.get("size") == 100:
                ranges.append((params["update_time_start"], params["update_time_end"]))
            return client.request(method, params)

        reader = StreamReader(call, get_stream("orders"), max_workers=max_workers)
        now = int(time.time())
        emitted: Counter[str] = Counter()
        for rows in reader.read(Window(now - days * DAY, now - 1)):
            emitted.update(str(row["order_id"]) for row in rows.get("orders", []))
    return reader, emitted, ranges


def test_idle_workers_steal_half_of_the_busiest_range_and_no_record_is_read_twice(
    douyin_sandbox_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Orders pile up in recent days, so the newest of four equal-time slices holds most of them.
    server = douyin_sandbox_factory(orders=3000, seed=5, latency_ms=30)
    with caplog.at_level(logging.INFO, logger="airflow_provider_douyin.streams.reader"):
        reader, emitted, ranges = read_orders(server, max_workers=4)

    truth = {str(o["order_id"]) for o in server.truth("orders", shop_id=SHOP_ID)}
    assert set(emitted) == truth
    assert [order for order, times in emitted.items() if times > 1] == []
    planned = sum(int(m[1]) for r in caplog.records if (m := re.search(r"in (\d+) slices", r.getMessage())))
    assert planned == 4
    # Every stolen range is one more window, and a walk of its own from the cut upwards.
    assert reader.progress.windows_total > planned
    assert reader.progress.windows_done == reader.progress.windows_total
    # A walk that gave up its upper half asks for no record above the cut after it.
    assert len({end for _, end in ranges}) > planned


def test_a_lone_worker_reads_one_slice_and_steals_nothing(douyin_sandbox_factory: Any) -> None:
    server = douyin_sandbox_factory(orders=3000, seed=5)
    reader, emitted, _ = read_orders(server, max_workers=1)
    assert sum(emitted.values()) == len(emitted) == 3000
    # One slice per worker (every slice costs a short page); when the worker is done with it,
    # nothing is left to take.
    assert reader.progress.windows_total == 1


def test_a_window_that_fits_in_its_first_page_costs_one_request(douyin_sandbox_factory: Any) -> None:
    """A daily run of a quiet shop: the first page (a full-size request) plans the read and is
    landed, so the window costs one request, not a count probe and then a page."""
    server = douyin_sandbox_factory(orders=60, seed=5, days=2)
    reader, emitted, ranges = read_orders(server, max_workers=4, days=3)
    truth = {str(o["order_id"]) for o in server.truth("orders", shop_id=SHOP_ID)}
    assert set(emitted) == truth and sum(emitted.values()) == 60
    assert len(ranges) == 1 and server.stats()["requests_by_method"]["order.searchList"] == 1
    assert reader.progress.windows_total == 0  # nothing left to slice


def test_the_first_page_is_landed_and_the_slices_start_at_its_last_second(
    douyin_sandbox_factory: Any,
) -> None:
    server = douyin_sandbox_factory(orders=450, seed=5, days=2)
    reader, emitted, ranges = read_orders(server, max_workers=2, days=3)
    truth = {str(o["order_id"]) for o in server.truth("orders", shop_id=SHOP_ID)}
    assert set(emitted) == truth and sum(emitted.values()) == 450  # none lost, none twice
    first, *rest = ranges
    assert rest and min(int(start) for start, _ in rest) > int(first[0])  # the rest begins higher up
    # Five pages' worth of records: the first page, then one per 100 more and a short one per walk.
    assert server.stats()["requests_by_method"]["order.searchList"] <= 1 + 4 + reader.progress.windows_total


def test_a_long_window_is_read_in_a_slice_per_worker_at_once(douyin_sandbox_factory: Any) -> None:
    """A backfill's window of 7 days or more does not wait a round trip for its first page: every
    worker starts a slice at once. A sparse one costs at most one request per worker."""
    server = douyin_sandbox_factory(orders=60, seed=5)
    reader, emitted, ranges = read_orders(server, max_workers=4, days=31)
    truth = {str(o["order_id"]) for o in server.truth("orders", shop_id=SHOP_ID)}
    assert set(emitted) == truth and sum(emitted.values()) == 60
    assert reader.progress.windows_total == 4
    assert len(ranges) == server.stats()["requests_by_method"]["order.searchList"] == 4
    starts = sorted(int(start) for start, _ in ranges)
    assert len(set(starts)) == 4  # four slices of the window, none of them a whole-window opening

    dense = douyin_sandbox_factory(orders=3000, seed=5)
    _, emitted, _ = read_orders(dense, max_workers=4, days=8)
    window_start = int(time.time()) - 8 * DAY
    expected = {
        str(o["order_id"]) for o in dense.truth("orders", shop_id=SHOP_ID) if o["update_time"] >= window_start
    }
    assert set(emitted) == expected and sum(emitted.values()) == len(expected) > 0
