"""The low-stock check on a 500-product sandbox shop: requests per poke follow the changes, not the catalogue.

Requests are counted by the sandbox itself, and the SKUs a firing poke names are compared with the
sandbox's ground truth.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from functools import partial
from typing import Any

import pytest

from airflow_provider_douyin.client import DoudianShopClient
from airflow_provider_douyin.streams.conditions import CHANGE_OVERLAP_S, CheckResult, low_stock
from tests.streams.test_exactness import SHOP_ID, make_client

PRODUCTS = 500
THRESHOLD = 10
QUIET = Counter({"product.listV2": 1, "order.searchList": 1})
"""A poke that finds nothing changed: one empty product page, one empty order probe."""


def stocked_shop(douyin_sandbox_factory) -> Any:
    """500 products whose SKUs all hold well above THRESHOLD, so nothing is low until a test says so."""
    server = douyin_sandbox_factory(orders=400, products=PRODUCTS, seed=15)
    for sku in server.truth("skus", shop_id=SHOP_ID):
        if sku["stock_num"] < THRESHOLD + 50:
            server.set_stock(sku["id"], THRESHOLD + 50)
    # The generated history ends when the server starts, and with this seed nothing changed in the last
    # CHANGE_OVERLAP_S before it: a poke after the catalogue read is quiet even with the default overlap.
    started = server.info()["started_at"]
    latest = max(
        r["update_time"] for table in ("orders", "products") for r in server.truth(table, shop_id=SHOP_ID)
    )
    assert latest < started - CHANGE_OVERLAP_S
    time.sleep(max(0.0, started + 2.5 - time.time()))
    return server


@pytest.fixture
def shop(douyin_sandbox_factory) -> Any:
    return stocked_shop(douyin_sandbox_factory)


@pytest.fixture
def client(shop) -> DoudianShopClient:
    with make_client(shop) as client:
        client.tokens.access_token()  # the token.create is not part of any poke below
        yield client


def settle() -> None:
    """Let a change fall out of the overlap (1 s) behind the poke after the one that reads it."""
    time.sleep(2.5)


def requests_of(server: Any, poke: partial, **carry: Any) -> tuple[CheckResult, Counter]:
    server.reset_stats()
    result = poke(**carry)
    return result, Counter(server.stats()["requests_by_method"])


def low_truth(server: Any) -> list[tuple[str, int]]:
    return sorted(
        (str(s["id"]), s["stock_num"])
        for s in server.truth("skus", shop_id=SHOP_ID)
        if s["stock_num"] < THRESHOLD
    )


def named(result: CheckResult) -> list[tuple[str, int]]:
    return sorted((s["sku_id"], s["stock_num"]) for s in result.payload)


def one_sku_per_product(server: Any, count: int) -> list[dict[str, Any]]:
    first: dict[int, dict[str, Any]] = {}
    for sku in server.truth("skus", shop_id=SHOP_ID):
        first.setdefault(sku["product_id"], sku)
    return list(first.values())[:count]


def test_pokes_read_the_catalogue_once_then_only_what_changed(shop, client):
    poke = partial(low_stock, client.request, threshold=THRESHOLD, overlap_s=1)
    first, requests = requests_of(shop, poke)
    assert not first.done
    assert requests == Counter({"product.listV2": PRODUCTS // 100 + 1, "sku.list": PRODUCTS})

    quiet, requests = requests_of(shop, poke, **first.carry)
    assert not quiet.done
    assert requests == QUIET

    # Three products edited on their product page, their stock still above the threshold.
    edited = one_sku_per_product(shop, 3)
    for sku in edited:
        shop.set_stock(sku["id"], 500, touch_product=True)
    settle()
    after_edits, requests = requests_of(shop, poke, **quiet.carry)
    assert not after_edits.done
    assert requests == Counter({"product.listV2": 2, "sku.list": 3, "order.searchList": 1})

    # Orders placed and moved along their life cycle (paid orders take stock): their products are read.
    since = time.time()
    shop.mutate(new_orders=4, updates=6, shop_id=SHOP_ID)
    sold = {
        item["product_id"]
        for order in shop.truth("orders", shop_id=SHOP_ID)
        if order["update_time"] >= int(since)
        for item in order["sku_order_list"]
    }
    settle()
    after_sales, requests = requests_of(shop, poke, **after_edits.carry)
    assert not after_sales.done
    assert requests["sku.list"] == len(sold) > 0
    assert sum(requests.values()) <= 6 + len(sold)

    quiet_again, requests = requests_of(shop, poke, **after_sales.carry)
    assert requests == QUIET


def test_fires_on_the_poke_after_a_sku_drops_under_the_threshold(shop, client):
    poke = partial(low_stock, client.request, threshold=THRESHOLD, overlap_s=1)
    state = poke()
    assert not state.done

    # Stock taken by an order as it is placed: the order names the product.
    created = shop.mutate(new_orders=1, shop_id=SHOP_ID)["shops"][0]["created"][0]
    (order,) = [o for o in shop.truth("orders", shop_id=SHOP_ID) if o["order_id"] == created]
    sold_sku = order["sku_order_list"][0]["sku_id"]
    shop.set_stock(sold_sku, THRESHOLD - 1)
    fired, requests = requests_of(shop, poke, **state.carry)
    assert fired.done
    assert named(fired) == low_truth(shop) == [(str(sold_sku), THRESHOLD - 1)]
    assert requests["sku.list"] <= len(order["sku_order_list"])


def test_fires_on_a_product_page_edit_and_on_the_periodic_full_read_for_silent_edits(shop, client):
    poke = partial(low_stock, client.request, threshold=THRESHOLD, overlap_s=1)
    state = poke()

    # An inventory sync leaves the product's update_time alone: no change shows before the next full read.
    (silent,) = one_sku_per_product(shop, 1)
    shop.set_stock(silent["id"], 2)
    missed, requests = requests_of(shop, poke, **state.carry)
    assert not missed.done and requests == QUIET
    full, requests = requests_of(shop, partial(poke, full_read_every_s=0), **missed.carry)
    assert full.done and requests["sku.list"] == PRODUCTS
    assert named(full) == low_truth(shop) == [(str(silent["id"]), 2)]

    shop.set_stock(silent["id"], 100)
    state = poke()
    assert not state.done
    (edited,) = one_sku_per_product(shop, 1)
    shop.set_stock(edited["id"], 0, touch_product=True)
    fired, requests = requests_of(shop, poke, **state.carry)
    assert fired.done and requests["sku.list"] == 1
    assert named(fired) == low_truth(shop) == [(str(edited["id"]), 0)]


def test_a_change_just_before_the_previous_poke_is_still_read_through_the_overlap(shop, client):
    """Search shows a change a little late; each poke looks ``overlap_s`` behind the previous one."""
    poke = partial(low_stock, client.request, threshold=THRESHOLD, overlap_s=30)
    state = poke()
    (sku,) = one_sku_per_product(shop, 1)
    shop.set_stock(sku["id"], 1, touch_product=True)
    # As if the previous poke had started a few seconds after the edit without seeing it yet.
    late = {**state.carry, "changes_since": time.time() + 5}
    fired = poke(**late)
    assert fired.done and named(fired) == [(str(sku["id"]), 1)]


def test_the_conditions_import_without_airflow():
    """Sensors and triggers are Airflow's; what they evaluate is not, so a script can run it too."""
    code = (
        "import sys\n"
        "sys.modules['airflow'] = None  # any import of Airflow now fails\n"
        "import airflow_provider_douyin.streams.conditions\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
