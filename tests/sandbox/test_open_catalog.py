"""The sandbox's goodlife deals, verify records and refunds; seeded data for K merchants; memory; CLI."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from open_testkit import PRODUCTS, PRODUCTS_GET, REFUNDS, VERIFY_RECORDS, OpenCaller, all_by_cursor, codes
from sandbox_testkit import cli_serve

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox.config import SandboxConfig
from airflow_provider_douyin.sandbox.open_platform import account_ids
from airflow_provider_douyin.sandbox.open_platform.platform import OpenPlatform

Factory = Callable[..., SandboxServer]
TABLES = ("life_orders", "life_certificates", "life_products", "life_verify_records", "life_refunds")


@pytest.fixture
def server(douyin_sandbox_factory: Factory) -> SandboxServer:
    return douyin_sandbox_factory(orders=20, life_orders=600, merchants=2)


@pytest.fixture
def caller(server: SandboxServer) -> OpenCaller:
    caller = OpenCaller(server)
    caller.login()
    return caller


# --------------------------------------------------------------------------- data set
def test_merchants_pois_and_ids(server: SandboxServer) -> None:
    info = requests.get(server.url + "/sandbox/open/info", timeout=10).json()
    assert info["account_ids"] == server.account_ids == [str(a) for a in account_ids(2)]
    assert info["client_key"] == server.client_key
    for merchant in info["merchants"]:
        assert int(merchant["account_id"]) > 2**53 and all(int(p) > 2**53 for p in merchant["poi_ids"])
        assert 2 <= len(merchant["poi_ids"]) <= 6 and merchant["orders"] == 600
    first, second = (server.open_truth("life_orders", a) for a in server.account_ids)
    assert not {o["order_id"] for o in first} & {o["order_id"] for o in second}
    assert {o["poi_id"] for o in first} <= set(info["merchants"][0]["poi_ids"])


def test_data_is_deterministic_per_seed(douyin_sandbox_factory: Factory) -> None:
    def snapshot(seed: int) -> Any:
        """Every truth table, with times made relative to the server's start."""
        server = douyin_sandbox_factory(orders=20, life_orders=200, days=10, seed=seed)
        start = server.open_platform.started_at  # type: ignore[union-attr]

        def relative(value: Any, key: str = "") -> Any:
            if isinstance(value, dict):
                return {k: relative(v, k) for k, v in value.items()}
            if isinstance(value, list):
                return [relative(v) for v in value]
            return value - start if "time" in key and value else value

        return {t: relative(server.open_truth(t)) for t in TABLES}

    one, two, other = snapshot(7), snapshot(7), snapshot(8)
    assert one == two
    assert one != other
    assert all(one[t] for t in TABLES)


def test_a_merchant_with_100k_orders_stays_small() -> None:
    platform = OpenPlatform(SandboxConfig(life_orders=100_000, days=90), clock=time.time)
    merchant = platform.merchants[0]
    tables = (merchant.orders, merchant.verifications, merchant.refunds)
    stored = sum(col.buffer_info()[1] * col.itemsize for t in tables for col in t.cols.values())
    stored += sum(t.update_index.buffer_info()[1] * 8 for t in tables)
    assert len(merchant.orders) == 100_000 and len(merchant.verifications) > 40_000
    assert stored / len(merchant.orders) < 150, f"{stored / len(merchant.orders):.0f} bytes per order"


# --------------------------------------------------------------------------- products
def test_product_query_pages_every_deal_by_cursor(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    truth = server.open_truth("life_products", account)
    assert len(truth) == 30
    rows = all_by_cursor(caller, PRODUCTS, "products", {"account_id": account, "count": 7})
    assert rows == truth
    online = all_by_cursor(caller, PRODUCTS, "products", {"account_id": account, "count": 50, "status": 1})
    assert online == [p for p in truth if p["online_status"] == 1] and online
    last = caller.data(PRODUCTS, {"account_id": account, "count": 50})
    assert last["has_more"] is False and len(last["products"]) == 30
    for bad in ({"count": 0}, {"count": 51}, {"status": 4}, {"cursor": "%%%"}):
        assert codes(caller.get(PRODUCTS, {"account_id": account, **bad}))[0] == 2100005, bad
    deal = truth[3]
    assert deal["sku"]["actual_amount"] < deal["sku"]["origin_amount"] and deal["product"]["pois"]


def test_product_query_stops_at_10000_results_with_4000002(douyin_sandbox_factory: Factory) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=50, life_products=10_040)
    caller = OpenCaller(server)
    caller.login()
    params: dict[str, Any] = {"account_id": server.account_ids[0], "count": 50, "cursor": ""}
    served = 0
    for _ in range(200):
        data = caller.data(PRODUCTS, params)
        served += len(data["products"])
        assert data["has_more"] is True
        params["cursor"] = data["next_cursor"]
    assert served == 10_000
    deep = caller.get(PRODUCTS, params)
    assert codes(deep) == (4000002, 4000002)


def test_product_online_get_takes_at_most_10_ids(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    truth = server.open_truth("life_products", account)
    ids = [p["product"]["product_id"] for p in truth[:3]]
    got = caller.data(PRODUCTS_GET, {"account_id": account, "product_ids": ",".join(ids)})["product_onlines"]
    assert got == truth[:3]
    by_out = caller.data(PRODUCTS_GET, {"account_id": account, "out_ids": truth[5]["product"]["out_id"]})
    assert by_out["product_onlines"] == [truth[5]]
    eleven = ",".join(p["product"]["product_id"] for p in truth[:11])
    assert codes(caller.get(PRODUCTS_GET, {"account_id": account, "product_ids": eleven}))[0] == 2100005


def test_product_updates_show_in_queries_and_truth(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    started = int(time.time())
    server.open_mutate(product_updates=5, account_id=account)
    truth = server.open_truth("life_products", account)
    assert 1 <= sum(p["product"]["update_time"] >= started for p in truth) <= 5
    assert all_by_cursor(caller, PRODUCTS, "products", {"account_id": account, "count": 50}) == truth


# --------------------------------------------------------------------------- verify records and refunds
@pytest.mark.parametrize(
    ("path", "key", "table", "time_field", "start", "end", "size"),
    [
        (VERIFY_RECORDS, "records", "life_verify_records", "verify_time", "start_time", "end_time", "size"),
        (REFUNDS, "after_sale_orders", "life_refunds", "refund_done_time", "refund_done_start_time",
         "refund_done_end_time", "page_size"),
    ],
)  # fmt: skip
def test_event_queries_page_a_time_window_by_cursor(
    caller: OpenCaller, server: SandboxServer, path: str, key: str, table: str, time_field: str, start: str,
    end: str, size: str,
) -> None:  # fmt: skip
    account = server.account_ids[1]
    truth = server.open_truth(table, account)
    assert len(truth) > 40
    times = sorted(r[time_field] for r in truth)
    lo, hi = times[5], times[-5]
    rows = all_by_cursor(caller, path, key, {"account_id": account, size: 9, start: lo, end: hi})
    assert rows == [r for r in truth if lo <= r[time_field] < hi]
    everything = all_by_cursor(caller, path, key, {"account_id": account, size: 100, start: 0})
    assert everything == truth
    assert codes(caller.get(path, {"account_id": account, size: 10}))[0] == 2100005, "the window is required"
    for bad in (0, 101):
        assert codes(caller.get(path, {"account_id": account, size: bad, start: 0}))[0] == 2100005


def test_event_cursors_pick_up_records_added_later(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    params = {"account_id": account, "size": 100, "start_time": 0}
    rows = all_by_cursor(caller, VERIFY_RECORDS, "records", params)
    last = caller.data(VERIFY_RECORDS, {**params, "cursor": ""})
    while last["has_more"]:
        last = caller.data(VERIFY_RECORDS, {**params, "cursor": last["cursor"]})
    server.open_mutate(updates=80, account_id=account)
    resumed = caller.data(VERIFY_RECORDS, {**params, "cursor": last["cursor"]})["records"]
    assert resumed and rows + resumed == server.open_truth("life_verify_records", account)


def test_verify_records_filter_by_poi(caller: OpenCaller, server: SandboxServer) -> None:
    account = server.account_ids[0]
    truth = server.open_truth("life_verify_records", account)
    poi = truth[0]["poi_id"]
    params = {"account_id": account, "size": 100, "start_time": 0, "poi_ids": poi}
    rows = all_by_cursor(caller, VERIFY_RECORDS, "records", params)
    assert rows == [r for r in truth if r["poi_id"] == poi]


def test_records_agree_with_the_orders(server: SandboxServer) -> None:
    account = server.account_ids[0]
    certificates = {c["certificate_id"]: c for c in server.open_truth("life_certificates", account)}
    for record in server.open_truth("life_verify_records", account):
        cert = certificates[record["certificate_id"]]
        assert cert["item_status"] == 201 and cert["verify_time"] == record["verify_time"]
        assert record["pay_amount"] == cert["pay_amount"]
    refunds = server.open_truth("life_refunds", account)
    assert len(refunds) == sum(c["item_status"] == 401 for c in certificates.values())
    for refund in refunds:
        cert = certificates[refund["certificate_id"]]
        assert (
            refund["refund_amount"] == cert["refund_amount"]
            and refund["apply_time"] <= refund["refund_done_time"]
        )


# --------------------------------------------------------------------------- control API and CLI
def test_control_api_errors(server: SandboxServer) -> None:
    assert requests.get(server.url + "/sandbox/open/truth/nope", timeout=10).status_code == 404
    bad = requests.post(server.url + "/sandbox/open/mutate", json={"account_id": "1"}, timeout=10)
    assert bad.status_code == 404
    text = requests.get(server.url + "/sandbox/open/truth/life_refunds", timeout=10).text
    assert len(text.splitlines()) == len(server.open_truth("life_refunds"))


def test_serve_prints_the_merchants_and_takes_the_open_platform_flags() -> None:
    flags = ["--merchants", "2", "--life-orders", "40", "--order-shuffle", "--client-token-ttl", "60"]
    with cli_serve("--orders", "20", *flags) as (url, proc):
        assert proc.stdout is not None
        proc.stdout.readline()
        assert proc.stdout.readline().startswith("merchants ['7136518000000000001', '7136518000000000002']")
        info = requests.get(url + "/sandbox/open/info", timeout=5).json()
        assert [m["orders"] for m in info["merchants"]] == [40, 40]
        faults = requests.get(url + "/sandbox/info", timeout=5).json()["faults"]
        assert faults["order_shuffle"] is True and faults["client_token_ttl"] == 60
