"""Sku orders say where they were sold, and only 精选联盟 (alliance) sales pay commission."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox.live_sessions import session_at


def test_attribution_follows_the_live_sessions_and_commission_only_alliance_sales(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = douyin_sandbox_factory(orders=1500, settle_ready_delay_s=0)
    seed = server.info()["seed"]
    products = {p["product_id"]: p for p in server.truth("products")}
    kinds: dict[str, int] = defaultdict(int)
    c_biz_of_order: dict[str, set[int]] = defaultdict(set)
    for order in server.truth("orders"):
        for item in order["sku_order_list"]:
            c_biz_of_order[order["order_id"]].add(item["c_biz"])
            assert item["c_biz_desc"] == {2: "精选联盟", 8: "小店自卖"}[item["c_biz"]]
            if item["room_id"]:
                kinds["room"] += 1
                session = session_at(seed, 1, order["create_time"])
                assert session is not None and session.room_id == item["room_id"] == int(item["room_id_str"])
                assert len(item["room_id_str"]) == 19 and item["room_id"] > 2**53
                assert (item["author_id"], item["c_biz"]) == (session.author_id, session.c_biz)
                assert (item["ad_env_type"], item["theme_type"], item["video_id"]) == ("live", "1", "")
                kinds["alliance room"] += item["c_biz"] == 2
            elif item["video_id"]:
                kinds["video"] += 1
                assert item["room_id_str"] == "0" and item["author_id"] and item["ad_env_type"] == "video"
            else:
                kinds["direct"] += 1
                assert (item["room_id_str"], item["author_id"], item["c_biz"]) == ("", 0, 8)
    assert min(kinds.values()) > 10 and len(kinds) == 4, kinds

    fees: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    normal = [r for r in server.truth("settlements") if r["trade_type"] == 0]
    for row in normal:
        alliance = c_biz_of_order[row["shop_order_id"]] == {2}
        assert row["flow_type_desc"] == ("精选联盟" if alliance else "小店自卖")
        rate = products[int(row["product_id"])]["cos_ratio"] if alliance else 0
        assert row["commission"] == (row["total_income"] * rate + 50) // 100
        assert (row["colonel_service_fee"] > 0) <= alliance
        assert (
            row["total_outcome"]
            == row["platform_service_fee"] + row["commission"] + row["colonel_service_fee"]
        )
        for name in ("platform_service_fee", "commission", "colonel_service_fee"):
            fees[row["shop_order_id"]][name] += row[name]
    assert sum(1 for r in normal if r["commission"] > 0) > 10
    assert sum(1 for r in normal if r["colonel_service_fee"] > 0) > 0

    # Fund flows post fees as they settle; the bill of the last day is not published yet.
    flows = server.truth("account_flows")
    settled = [f for f in flows if f["account_bill_desc_tag"] == 3 and f["shop_order_id"] in fees]
    assert len(settled) > 100
    for flow in settled:
        expected = fees[flow["shop_order_id"]]
        assert {name: flow[name] for name in expected} == expected
        assert flow["account_amount"] == sum(expected.values())
        assert flow["biz_type"] == (2 if c_biz_of_order[flow["shop_order_id"]] == {2} else 4)
