"""The movable business clock: publication, visibility, fund flows and mutations follow it;
the timestamp-skew check and tokens stay on wall time."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests
from sandbox_testkit import Gateway, error_of

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox.constants import day_start, fmt_time

DAY = 86400
HOUR = 3600


def _days_ago_at(days: int, hour: int) -> int:
    """``hour``:00 Asia/Shanghai, ``days`` days before today."""
    return day_start(time.time()) - days * DAY + hour * HOUR


def _settlements(gw: Gateway, lo: int, hi: int) -> list[dict]:
    params = {"start_time": fmt_time(lo), "end_time": fmt_time(hi), "size": 100}
    return gw.data("order.getSettleBillDetailV3", params)["data"]


@pytest.fixture
def three_days_ago(douyin_sandbox_factory: Callable[..., SandboxServer]) -> Gateway:
    """A shop whose business clock reads 14:00 Shanghai three days ago: an hour before publication."""
    gw = Gateway(douyin_sandbox_factory(orders=1500, now=_days_ago_at(3, 14)))
    gw.login()
    return gw


def test_the_clock_starts_where_asked_and_the_history_ends_there(three_days_ago: Gateway) -> None:
    server = three_days_ago.server
    start = _days_ago_at(3, 14)
    assert start <= server.clock() < start + 60
    assert server.engine.started_at - start < 60  # type: ignore[union-attr]
    latest = max(o["update_time"] for o in server.truth("orders"))
    assert start - HOUR < latest <= server.clock()


def test_moving_the_clock_past_15h_publishes_the_previous_days_bill(three_days_ago: Gateway) -> None:
    server = three_days_ago.server
    today = day_start(server.clock())
    yesterday = (today - DAY, today)
    internal = list(server.engine.shops[0].settlements.between(*yesterday))  # type: ignore[union-attr]
    assert internal, "the fixture settles rows yesterday"
    assert _settlements(three_days_ago, *yesterday) == []
    assert max(r["settle_time"] for r in server.truth("settlements")) < fmt_time(today - DAY)

    server.set_clock(now=today + 15 * HOUR + 1)  # no wall-clock wait: 15:00:01 the same day

    published = _settlements(three_days_ago, *yesterday)
    assert published and all(fmt_time(today - DAY) <= r["settle_time"] < fmt_time(today) for r in published)
    in_truth = [r for r in server.truth("settlements") if r["settle_time"] >= fmt_time(today - DAY)]
    assert len({r["request_no"] for r in in_truth}) == len({(idx, kind) for _, idx, kind in internal})


def test_fund_flows_appear_when_the_clock_reaches_their_bill_time(three_days_ago: Gateway) -> None:
    server = three_days_ago.server
    tomorrow = day_start(server.clock()) + DAY
    window = {"start_time": fmt_time(tomorrow), "end_time": fmt_time(tomorrow + DAY), "size": 100}
    assert three_days_ago.data("order.getShopAccountItem", window)["data"] == []
    flows_before = len(server.truth("account_flows"))

    server.set_clock(advance_s=DAY)  # past tomorrow's 01:00-06:00 settlement postings

    posted = three_days_ago.data("order.getShopAccountItem", window)["data"]
    assert posted, "orders completed today post their settlement flows tomorrow morning"
    assert len(server.truth("account_flows")) == flows_before + len(posted)


def test_mutations_are_stamped_and_become_visible_on_the_business_clock(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = douyin_sandbox_factory(orders=100, now=_days_ago_at(5, 9), visibility_lag_s=HOUR)
    gw = Gateway(server)
    gw.login()
    server.set_clock(advance_s=2 * DAY)
    stamped = server.mutate(new_orders=3)
    business_now = stamped["time"]
    assert 0 <= business_now - (_days_ago_at(5, 9) + 2 * DAY) < 60
    created = set(stamped["shops"][0]["created"])
    window = {
        "page": 0,
        "size": 100,
        "create_time_start": business_now - 1,
        "create_time_end": business_now + 1,
    }
    truth = {o["order_id"]: o for o in server.truth("orders")}
    assert all(truth[oid]["create_time"] == business_now for oid in created)
    assert gw.data("order.searchList", window)["total"] == 0  # the one-hour visibility lag

    server.set_clock(advance_s=HOUR + 1)  # no wall-clock wait for the lag either

    assert {o["order_id"] for o in gw.data("order.searchList", window)["shop_order_list"]} == created


def test_the_timestamp_check_and_tokens_stay_on_wall_time(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = douyin_sandbox_factory(orders=50, now=_days_ago_at(3, 12))
    gw = Gateway(server)
    gw.login()  # signed with the wall clock, three days after the business clock
    on_business_time = gw.call("product.listV2", {"page": 1, "size": 1}, timestamp=str(int(server.clock())))
    assert error_of(on_business_time) == (40003, "isv.timestamp-invalid")
    server.set_clock(advance_s=10 * DAY)  # past the 7-day access-token lifetime on the business clock
    assert gw.call("product.listV2", {"page": 1, "size": 1})["code"] == 10000


def test_the_control_endpoint_moves_the_clock_forward_only(douyin_sandbox: SandboxServer) -> None:
    url = douyin_sandbox.url + "/sandbox/clock"
    before = requests.get(url, timeout=5).json()
    assert abs(before["now"] - time.time()) < 5 and abs(before["offset_s"]) < 5
    moved = requests.post(url, json={"advance_s": 2 * DAY}, timeout=5).json()
    assert 2 * DAY <= moved["now"] - before["now"] < 2 * DAY + 5 and moved["iso"].endswith("+08:00")
    target = moved["now"] + HOUR
    assert 0 <= requests.post(url, json={"now": target}, timeout=5).json()["now"] - target < 1
    assert requests.get(douyin_sandbox.url + "/sandbox/info", timeout=5).json()["clock"]["now"] >= target
    for bad in ({"now": target - DAY}, {"advance_s": -1}, {"now": target, "advance_s": 1}, {"speed": 2}, {}):
        response = requests.post(url, json=bad, timeout=5)
        assert response.status_code == 400, (bad, response.text)
    assert requests.get(url, timeout=5).json()["now"] < target + 5


def test_a_shop_started_whole_days_later_is_the_same_shop_shifted(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    """Why the demo can pin its clock to noon of a recent day and print the same tables."""
    early, late = _days_ago_at(9, 12), _days_ago_at(2, 12)
    shift = late - early

    def shape(server: SandboxServer, offset: int) -> list[tuple]:
        return sorted(
            (
                o["order_id"],
                o["order_status"],
                o["pay_amount"],
                o["create_time"] - offset,
                o["update_time"] - offset,
            )
            for o in server.truth("orders")
        )

    a = douyin_sandbox_factory(orders=300, now=early)
    b = douyin_sandbox_factory(orders=300, now=late)
    assert shape(a, 0) == shape(b, shift)
    settled_a = sorted((r["request_no"], r["settle_amount"]) for r in a.truth("settlements"))
    settled_b = sorted((r["request_no"], r["settle_amount"]) for r in b.truth("settlements"))
    assert settled_a == settled_b and settled_a


def test_cli_starts_the_clock_at_now_and_documents_it() -> None:
    cli = [sys.executable, "-m", "airflow_provider_douyin.sandbox", "serve"]
    help_text = subprocess.run(
        [*cli, "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "--now WHEN" in help_text and "--clock-offset" in help_text and "POST /sandbox/clock" in help_text
    proc = subprocess.Popen(
        [*cli, "--port", "0", "--orders", "20", "--now", "2026-01-01T12:00:00+08:00"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        assert "business clock 2026-01-01T12:00" in proc.stdout.readline()
        clock = requests.get(url + "/sandbox/clock", timeout=5).json()
        assert 1767240000 <= clock["now"] < 1767240000 + 60
    finally:
        proc.terminate()
        proc.wait(timeout=10)
