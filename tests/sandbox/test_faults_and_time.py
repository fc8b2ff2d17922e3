"""Fault injection, page drift, visibility lag and live mutations."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sandbox_testkit import Gateway, error_of

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox import server as server_module

DAY = 86400
LIST = ("product.listV2", {"page": 1, "size": 1})


def _naive_update_pager(gw: Gateway, lo: int, hi: int, size: int = 25) -> list[str]:
    """Offset paging over an update_time window: what a naive client does."""
    ids: list[str] = []
    for page in range(400):
        data = gw.data(
            "order.searchList",
            {
                "page": page,
                "size": size,
                "update_time_start": lo,
                "update_time_end": hi,
                "order_by": "update_time",
                "order_asc": True,
            },
        )
        if not data["shop_order_list"]:
            return ids
        ids += [o["order_id"] for o in data["shop_order_list"]]
    raise AssertionError("pager did not finish")


@pytest.mark.parametrize("drift", [0, 2])
def test_page_drift_breaks_naive_offset_paging(
    douyin_sandbox_factory: Callable[..., SandboxServer], drift: int
) -> None:
    server = douyin_sandbox_factory(orders=600, page_drift=drift)
    gw = Gateway(server)
    gw.login()
    hi = server.engine.started_at  # type: ignore[union-attr]
    lo = hi - 20 * DAY
    expected = {o["order_id"] for o in server.truth("orders") if lo <= o["update_time"] < hi}
    seen = _naive_update_pager(gw, lo, hi)
    if drift:
        assert set(seen) < expected, "drift must make the naive pager miss records"
        assert server.stats()["faults_injected"]["page_drift"] >= 2
        touched = {o["order_id"] for o in server.truth("orders") if o["update_time"] >= hi}
        assert touched and touched <= expected
    else:
        assert len(seen) == len(set(seen)) and set(seen) == expected


def test_visibility_lag(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=200, visibility_lag_s=1.0)
    gw = Gateway(server)
    gw.login()
    started = int(time.time())
    created = server.mutate(new_orders=2, updates=5)
    new_ids = set(created["shops"][0]["created"])
    assert created["shops"][0]["updated"] == 5
    window = {
        "page": 0,
        "size": 100,
        "update_time_start": started - 1,
        "update_time_end": started + 60,
        "order_by": "update_time",
    }
    assert gw.data("order.searchList", window)["total"] == 0
    assert new_ids <= {o["order_id"] for o in server.truth("orders")}  # truth is immediate
    time.sleep(1.1)
    visible = {o["order_id"] for o in gw.data("order.searchList", window)["shop_order_list"]}
    assert new_ids < visible and len(visible) == 7


def test_mutate_creates_and_advances(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=10)
    gw = Gateway(server)
    gw.login()
    stock_before = sum(s["stock_num"] for s in server.truth("skus"))
    sold_before = sum(p["sell_num"] for p in server.truth("products"))
    before = {o["order_id"]: o for o in server.truth("orders")}
    t0 = int(time.time())
    created = server.mutate(new_orders=20)["shops"][0]["created"]
    found = gw.data("order.searchList", {"page": 0, "size": 100, "create_time_start": t0})["shop_order_list"]
    assert {o["order_id"] for o in found} == set(created)
    assert all(o["order_status"] == 1 and o["pay_time"] == 0 for o in found)
    assert server.mutate(updates=60)["shops"][0]["updated"] == 60
    after = {o["order_id"]: o for o in server.truth("orders")}
    changed = [o for oid, o in after.items() if oid in before and o != before[oid]]
    changed += [o for oid, o in after.items() if oid in created and o["order_status"] != 1]
    assert changed and all(o["update_time"] >= t0 for o in changed)
    assert sum(s["stock_num"] for s in server.truth("skus")) < stock_before
    assert sum(p["sell_num"] for p in server.truth("products")) > sold_before


def test_same_seed_same_data(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    def fingerprint(server: SandboxServer) -> list[tuple]:
        return [
            (o["order_id"], o["order_status"], o["pay_amount"], o["post_addr"]["city"]["name"])
            for o in server.truth("orders")
        ]

    a, b = douyin_sandbox_factory(orders=300, seed=3), douyin_sandbox_factory(orders=300, seed=3)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(douyin_sandbox_factory(orders=300, seed=4))


def test_qps_limit(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=20, qps_limit=3)
    gw = Gateway(server)
    gw.login()
    time.sleep(1.05)
    codes = [error_of(gw.call(*LIST)) for _ in range(6)]
    assert codes[:3] == [(10000, "")] * 3
    assert (60000, "isv.traffic-limited") in codes[3:]
    limited = next(e for e in (gw.call(*LIST) for _ in range(3)) if e["code"] == 60000)
    assert limited["sub_msg"] == "请求太频繁，请稍后重试"
    time.sleep(1.05)
    assert gw.call(*LIST)["code"] == 10000


@pytest.mark.skipif(not server_module._KERNEL_STAMPS, reason="kernel receive stamps: Linux x86_64/aarch64")
def test_qps_limit_counts_a_request_from_its_arrival_not_from_when_it_was_read(
    douyin_sandbox_factory: Callable[..., SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway's edge counts arrivals. Here the handler of the first request gets no CPU for 2.2 s
    after its bytes arrived; a second request arriving 1.5 s after it is read first. They arrived
    more than a second apart, so at one request per second neither is throttled."""
    server = douyin_sandbox_factory(orders=20, qps_limit=1)
    first, second = Gateway(server), Gateway(server)  # each on a connection of its own
    second.token = first.login()["access_token"]
    stalled = threading.Event()
    original = server_module._Handler.handle_one_request

    def stalled_once(handler: Any) -> None:
        if not stalled.is_set():
            stalled.set()
            select.select([handler.connection], [], [])  # the request has arrived ...
            time.sleep(2.2)  # ... and is read 2.2 s later
        original(handler)

    time.sleep(1.05)  # the login's second has passed
    monkeypatch.setattr(server_module._Handler, "handle_one_request", stalled_once)
    replies: list[dict[str, Any]] = []
    late = threading.Thread(target=lambda: replies.append(second.call(*LIST)))
    late.start()  # a new connection: its handler is the stalled one
    time.sleep(1.5)
    replies.append(first.call(*LIST))  # on the login's connection, read at once
    late.join()
    assert stalled.is_set()
    assert [error_of(reply) for reply in replies] == [(10000, "")] * 2


@pytest.mark.parametrize(
    ("fault", "code", "sub_code"),
    [("throttle_rate", 60000, "isv.traffic-limited"), ("busy_rate", 20000, "isp.service-error")],
)
def test_random_business_faults_hit_data_and_token_calls(
    douyin_sandbox: SandboxServer, fault: str, code: int, sub_code: str
) -> None:
    gw = Gateway(douyin_sandbox)
    gw.login()
    douyin_sandbox.set_faults(**{fault: 1.0})
    assert error_of(gw.call(*LIST)) == (code, sub_code)
    token = gw.call("token.create", {"code": "", "grant_type": "authorization_self", "shop_id": "1000001"})
    assert error_of(token) == (code, sub_code)
    douyin_sandbox.set_faults(**{fault: 0.0})
    assert gw.call(*LIST)["code"] == 10000


def test_transport_faults(douyin_sandbox: SandboxServer) -> None:
    gw = Gateway(douyin_sandbox)
    gw.login()
    douyin_sandbox.set_faults(http502_rate=1.0)
    bad = gw.send(*LIST[:1], '{"page":1,"size":1}')
    assert bad.status_code == 502 and bad.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in bad.text and "nginx" in bad.text
    douyin_sandbox.set_faults(http502_rate=0.0, reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        gw.send("product.listV2", '{"page":1,"size":1}')
    assert (
        requests.get(douyin_sandbox.url + "/sandbox/info", timeout=5).status_code == 200
    )  # control unaffected
    douyin_sandbox.set_faults(reset_rate=0.0, slow_rate=1.0, slow_ms=800)
    with pytest.raises(requests.ReadTimeout):
        gw.send("product.listV2", '{"page":1,"size":1}', timeout=0.3)
    douyin_sandbox.set_faults(slow_rate=0.0, latency_ms=150)
    began = time.perf_counter()
    assert gw.send("product.listV2", '{"page":1,"size":1}').json()["code"] == 10000
    assert time.perf_counter() - began >= 0.15
    injected = douyin_sandbox.stats()["faults_injected"]
    assert injected["http502"] == 1 and injected["reset"] == 1 and injected["slow"] == 1
    douyin_sandbox.reset_stats()
    assert douyin_sandbox.stats()["requests_total"] == 0
