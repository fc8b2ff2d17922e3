"""The sandbox's goodlife order query: envelope, paging rules, cursor mode, filters, shuffle and faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from open_testkit import ORDERS, OpenCaller, all_orders_by_cursor, all_orders_by_page, codes

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox.open_platform import ROOT_ACCOUNT_ID

Factory = Callable[..., SandboxServer]
DAY = 86400


@pytest.fixture
def server(douyin_sandbox_factory: Factory) -> SandboxServer:
    return douyin_sandbox_factory(orders=20, life_orders=400, merchants=2)


@pytest.fixture
def caller(server: SandboxServer) -> OpenCaller:
    caller = OpenCaller(server)
    caller.login()
    return caller


def _query(caller: OpenCaller, **params: Any) -> dict[str, Any]:
    return caller.get(ORDERS, {"account_id": caller.server.account_ids[0], **params})


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["order_id"] for r in rows]


def test_envelope_and_logid(caller: OpenCaller) -> None:
    response = caller.get_raw(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 10})
    envelope = response.json()
    assert set(envelope) == {"data", "extra"}
    assert envelope["extra"] == {
        "error_code": 0, "description": "", "sub_error_code": 0, "sub_description": "",
        "logid": response.headers["X-Tt-Logid"], "now": envelope["extra"]["now"],
    }  # fmt: skip
    assert abs(envelope["extra"]["now"] / 1000 - time.time()) < 60, "extra.now is in milliseconds"
    assert envelope["data"]["error_code"] == 0 and envelope["data"]["description"] == ""
    assert envelope["data"]["page"] == {"page_num": 1, "page_size": 10, "total": 400}
    error = _query(caller, page_size=5)
    assert codes(error) == (2100005, 2100005) and error["data"]["description"]
    assert error["extra"]["sub_error_code"] == 0 and error["extra"]["logid"]


def test_page_size_rules(caller: OpenCaller) -> None:
    nothing = caller.data(ORDERS, {"account_id": caller.server.account_ids[0]})
    assert nothing["orders"] == [] and nothing["page"]["total"] == 400, "page_size defaults to 0: nothing"
    assert caller.data(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 0})["orders"] == []
    for bad in (1, 9, 201, "ten"):
        assert codes(_query(caller, page_size=bad))[0] == 2100005, bad
    assert (
        len(caller.data(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 10})["orders"])
        == 10
    )
    assert (
        len(caller.data(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 200})["orders"])
        == 200
    )
    assert codes(_query(caller, page_size=10, page_num=0))[0] == 2100005


def test_offset_paging_stops_at_10000_results_with_4000002(caller: OpenCaller) -> None:
    assert caller.data(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 200, "page_num": 50})
    deep = _query(caller, page_size=200, page_num=51)
    assert codes(deep) == (4000002, 4000002)
    assert "Cursor" in deep["data"]["description"]
    assert codes(_query(caller, page_size=10, page_num=1001))[0] == 4000002
    assert "orders" in caller.data(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 10,
                                            "cursor": ""})  # fmt: skip


def test_page_and_cursor_paging_each_return_the_truth(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    truth = {o["order_id"]: o for o in server.open_truth("life_orders", account)}
    assert len(truth) == 400
    for rows in (
        all_orders_by_page(caller, account, size=30),
        all_orders_by_cursor(caller, account, size=30),
    ):
        assert len(rows) == len(set(_ids(rows))) == 400
        assert {r["order_id"]: r for r in rows} == truth


def test_orders_are_realistic(server: SandboxServer) -> None:
    orders = server.open_truth("life_orders", server.account_ids[0])
    statuses = {o["order_status"] for o in orders}
    assert {101, 201, 301, 401} <= statuses, statuses
    for order in orders:
        assert order["original_amount"] - order["discount_amount"] == order["pay_amount"] > 0
        assert 1 <= order["count"] == len(order["certificate"]) <= 3
        assert sum(c["pay_amount"] for c in order["certificate"]) == order["pay_amount"]
        assert order["account_id"] == server.account_ids[0] and int(order["poi_id"]) > 2**53
        assert order["create_order_time"] <= order["update_order_time"]
        for cert in order["certificate"]:
            assert cert["order_id"] == order["order_id"]
            assert cert["refund_amount"] == (cert["pay_amount"] if cert["item_status"] == 401 else 0)
            assert bool(cert["verify_time"]) == (cert["item_status"] == 201)
            assert bool(cert["certificate_id"]) == bool(order["pay_time"])
    assert any(c["item_status"] == 201 for o in orders for c in o["certificate"])
    assert any(c["item_status"] == 401 for o in orders for c in o["certificate"])
    certificates = server.open_truth("life_certificates", server.account_ids[0])
    assert len(certificates) == sum(o["count"] for o in orders)
    assert len({c["order_item_id"] for c in certificates}) == len(certificates)


def test_time_filters_are_start_inclusive_and_end_exclusive(
    caller: OpenCaller, server: SandboxServer
) -> None:
    account = server.account_ids[0]
    truth = server.open_truth("life_orders", account)
    times = sorted(o["update_order_time"] for o in truth)
    lo, hi = times[50], times[250]
    got = all_orders_by_page(caller, account, size=50, update_order_start_time=lo, update_order_end_time=hi)
    assert sorted(_ids(got)) == sorted(o["order_id"] for o in truth if lo <= o["update_order_time"] < hi)
    created = sorted(o["create_order_time"] for o in truth)
    lo, hi = created[10], created[300]
    got = all_orders_by_cursor(caller, account, size=50, create_order_start_time=lo, create_order_end_time=hi)
    assert sorted(_ids(got)) == sorted(o["order_id"] for o in truth if lo <= o["create_order_time"] < hi)


def test_order_id_status_and_buyer_filters(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    truth = server.open_truth("life_orders", account)
    one = truth[123]
    assert _ids(caller.data(ORDERS, {"account_id": account, "page_size": 10, "order_id": one["order_id"]})[
        "orders"]) == [one["order_id"]]  # fmt: skip
    paid = all_orders_by_page(caller, account, size=100, order_status=101)
    assert sorted(_ids(paid)) == sorted(o["order_id"] for o in truth if o["order_status"] == 101)
    by_buyer = caller.data(ORDERS, {"account_id": account, "page_size": 100, "open_id": one["open_id"]})
    assert sorted(_ids(by_buyer["orders"])) == sorted(
        o["order_id"] for o in truth if o["open_id"] == one["open_id"]
    )
    other = server.open_truth("life_orders", server.account_ids[1])[0]["order_id"]
    assert caller.data(ORDERS, {"account_id": account, "page_size": 10, "order_id": other})["orders"] == []


def test_account_token_and_method_errors(caller: OpenCaller, server: SandboxServer) -> None:
    assert codes(caller.get(ORDERS, {"page_size": 10}))[0] == 2100005
    assert codes(_query(caller, page_size=10, account_id="7136518000000000999"))[0] == 2119005
    as_post = {"json": {"account_id": server.account_ids[0]}, "headers": {"access-token": caller.token}}
    response = caller.session.post(server.url + ORDERS, timeout=10, **as_post)
    assert codes(response.json())[0] == 2100005
    assert codes(caller.get("/goodlife/v1/no/such/api/", {}))[0] == 2119010


def test_the_life_account_header_is_checked_and_counted(caller: OpenCaller, server: SandboxServer) -> None:
    params = {"account_id": server.account_ids[0], "page_size": 10}
    ok = caller.get(ORDERS, params, headers={"Rpc-Transit-Life-Account": str(ROOT_ACCOUNT_ID)})
    assert codes(ok) == (0, 0)
    assert codes(caller.get(ORDERS, params, headers={"Rpc-Transit-Life-Account": "123"}))[0] == 2100005
    assert server.open_stats()["life_account_headers"] == {str(ROOT_ACCOUNT_ID): 1, "123": 1}
    log = requests.get(server.url + "/sandbox/open/requests", timeout=10).json()
    assert log[-2]["life_account"] == str(ROOT_ACCOUNT_ID) and log[-2]["has_access_token"]
    assert log[-2]["query"] == {"account_id": [server.account_ids[0]], "page_size": ["10"]}


def test_shuffle_returns_a_new_order_every_time_and_cursor_paging_stays_exact(
    douyin_sandbox_factory: Factory,
) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=300, order_shuffle=True)
    caller = OpenCaller(server)
    caller.login()
    account = server.account_ids[0]
    first = _ids(caller.data(ORDERS, {"account_id": account, "page_size": 50})["orders"])
    second = _ids(caller.data(ORDERS, {"account_id": account, "page_size": 50})["orders"])
    assert first != second and len(set(first)) == 50
    page = {"account_id": account, "page_size": 50, "cursor": ""}
    one, two = (_ids(caller.data(ORDERS, page)["orders"]) for _ in range(2))
    assert one != two and set(one) == set(two), "a cursor page keeps its rows, shuffled"
    truth = {o["order_id"] for o in server.open_truth("life_orders", account)}
    by_cursor = all_orders_by_cursor(caller, account, size=20)
    assert len(by_cursor) == len(truth) and set(_ids(by_cursor)) == truth
    by_page = all_orders_by_page(caller, account, size=20)
    assert set(_ids(by_page)) != truth, "offset paging over a shuffled result misses orders"


def test_shuffle_is_off_by_default(caller: OpenCaller) -> None:
    params = {"account_id": caller.server.account_ids[0], "page_size": 50}
    assert _ids(caller.data(ORDERS, params)["orders"]) == _ids(caller.data(ORDERS, params)["orders"])


def test_qps_limit_answers_both_throttle_codes(douyin_sandbox_factory: Factory) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=50, qps_limit=2)
    caller = OpenCaller(server)
    caller.login()
    seen = [codes(_query(caller, page_size=10)) for _ in range(8)]
    refused = [c for c in seen if c != (0, 0)]
    assert len(refused) >= 4 and {data for data, _ in refused} == {2119003, 28003018}
    assert all(data == extra for data, extra in refused)
    assert server.open_stats()["faults_injected"]["qps_limit"] == len(refused)
    time.sleep(1.05)
    assert codes(_query(caller, page_size=10)) == (0, 0)


def test_busy_throttle_502_and_reset_knobs(douyin_sandbox_factory: Factory) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=50)
    caller = OpenCaller(server)
    caller.login()
    server.set_faults(busy_rate=1.0)
    assert {codes(_query(caller, page_size=10))[0] for _ in range(2)} == {2119002, 2100004}
    server.set_faults(busy_rate=0.0, throttle_rate=1.0)
    assert {codes(_query(caller, page_size=10))[0] for _ in range(2)} == {2119003, 28003018}
    server.set_faults(throttle_rate=0.0, http502_rate=1.0)
    response = caller.get_raw(ORDERS, {"account_id": server.account_ids[0], "page_size": 10})
    assert response.status_code == 502 and "<html>" in response.text
    server.set_faults(http502_rate=0.0, reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        caller.get_raw(ORDERS, {"account_id": server.account_ids[0], "page_size": 10})
    server.set_faults(reset_rate=0.0, latency_ms=300)
    began = time.perf_counter()
    assert codes(_query(caller, page_size=10)) == (0, 0)
    assert time.perf_counter() - began >= 0.3
    assert server.open_stats()["faults_injected"] == {"busy": 2, "throttle": 2, "http502": 1, "reset": 1}


def test_page_drift_moves_orders_out_of_an_update_window(douyin_sandbox_factory: Factory) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=300, page_drift=2)
    caller = OpenCaller(server)
    caller.login()
    account = server.account_ids[0]
    hi = server.open_platform.started_at  # type: ignore[union-attr]
    before = {o["order_id"] for o in server.open_truth("life_orders", account) if o["update_order_time"] < hi}
    seen = _ids(
        all_orders_by_page(caller, account, size=20, update_order_start_time=0, update_order_end_time=hi)
    )
    assert set(seen) < before, "drift makes offset paging over an update window miss orders"
    touched = [o for o in server.open_truth("life_orders", account) if o["update_order_time"] >= hi]
    assert touched and all(o["remark"] for o in touched)
    assert server.open_stats()["faults_injected"]["page_drift"] >= 2


def test_visibility_lag_hides_changes_from_queries_but_not_from_truth(
    douyin_sandbox_factory: Factory,
) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=100, visibility_lag_s=1.0)
    caller = OpenCaller(server)
    caller.login()
    account = server.account_ids[0]
    started = int(time.time())
    created = set(server.open_mutate(new_orders=3, account_id=account)["merchants"][0]["created"])
    window = {"account_id": account, "page_size": 100, "update_order_start_time": started - 1}
    assert caller.data(ORDERS, window)["orders"] == []
    assert created <= {o["order_id"] for o in server.open_truth("life_orders", account)}
    time.sleep(1.1)
    assert set(_ids(caller.data(ORDERS, window)["orders"])) == created


def test_mutations_pay_verify_and_refund_orders(server: SandboxServer, caller: OpenCaller) -> None:
    account = server.account_ids[0]
    before = {t: len(server.open_truth(t, account)) for t in ("life_verify_records", "life_refunds")}
    started = int(time.time())
    result = server.open_mutate(new_orders=5, updates=60, account_id=account)["merchants"][0]
    assert len(result["created"]) == 5 and result["updated"] == 60
    after = {t: len(server.open_truth(t, account)) for t in ("life_verify_records", "life_refunds")}
    events = sum(after.values()) - sum(before.values())
    assert events > 0 and after["life_verify_records"] > before["life_verify_records"]
    changed = all_orders_by_cursor(caller, account, size=100, update_order_start_time=started)
    assert len(changed) >= 5
    truth = {o["order_id"]: o for o in server.open_truth("life_orders", account)}
    assert all(truth[o["order_id"]] == o for o in changed)


def test_numbers_as_strings_knob(caller: OpenCaller, server: SandboxServer) -> None:
    server.set_faults(open_numbers_as_strings=True)
    envelope = _query(caller, page_size=10)
    assert envelope["data"]["error_code"] == "0" and envelope["extra"]["error_code"] == "0"
    assert envelope["extra"]["sub_error_code"] == "0" and envelope["extra"]["now"].isdigit()
    assert envelope["data"]["page"]["total"] == 400 and len(envelope["data"]["orders"]) == 10
    token = caller.fetch_client_token()["data"]
    assert token["expires_in"] == "7200" and token["error_code"] == "0"
    assert codes(_query(caller, page_size=5)) == ("2100005", "2100005")
