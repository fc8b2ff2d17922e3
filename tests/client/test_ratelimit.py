"""Client-side pacing: N calls at rate r take (N - burst) / r, shared by every client of one app_key."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_douyin.client import InMemoryTokenStore, TokenBucket
from airflow_provider_douyin.client.ratelimit import BANK_S, START

from .fakes import BASE_URL, FakeClock, envelope, stored_pair


@pytest.mark.parametrize(("n", "rate", "burst"), [(11, 5.0, 1), (30, 10.0, 10), (7, 0.5, 2)])
def test_pacing_on_a_fake_clock(n: int, rate: float, burst: int) -> None:
    clock = FakeClock(now=0.0)
    bucket = TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)
    for _ in range(n):
        bucket.acquire()
    assert clock.now == pytest.approx((n - burst) / rate)


def test_idle_time_refills_up_to_burst_only() -> None:
    clock = FakeClock(now=0.0)
    bucket = TokenBucket(2.0, 3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0.0
    clock.advance(100.0)  # a long pause banks at most `burst` tokens
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.5, 0.5])


def test_multi_token_acquire_waits_proportionally() -> None:
    clock = FakeClock(now=0.0)
    bucket = TokenBucket(4.0, 1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    assert bucket.acquire(tokens=3) == pytest.approx(0.75)


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1.0, None), (1.0, 0)])
def test_invalid_configuration(rate: float, burst: int | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_threads_are_paced_at_the_rate() -> None:
    rate, threads, per_thread = 200.0, 8, 10
    bucket = TokenBucket(rate, 1)
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(per_thread):
            bucket.acquire()
            with lock:
                granted.append(time.monotonic())

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    granted.sort()
    assert len(granted) == threads * per_thread
    # the k-th grant can never come earlier than k / rate after the first one
    for k, moment in enumerate(granted):
        assert moment - granted[0] >= k / rate - 0.003


def test_two_clients_of_one_app_key_share_the_limit(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(f"{BASE_URL}/order/searchList", json=envelope(data={"shop_order_list": []}))
    rate, calls_per_client = 20.0, 5
    clients = [make_client(qps=rate, token_store=InMemoryTokenStore(stored_pair())) for _ in range(2)]
    pace = rate * START
    bank = max(1, round(pace * BANK_S))  # slots the bucket banks: 2 at this pace
    time.sleep(bank / pace)  # let the shared bucket fill its bank

    def run(client: Any) -> None:
        for page in range(calls_per_client):
            client.call("order.searchList", {"page": page, "size": 10})

    started = time.monotonic()
    pool = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    assert requests_mock.call_count == 2 * calls_per_client
    # one shared bucket: 10 calls with 2 banked need 8 intervals (two buckets would need 3)
    assert elapsed >= (2 * calls_per_client - bank) / pace - 0.01
