"""The low-stock sensor in each mode on a 500-product sandbox shop, counting the sandbox's requests.

Poke mode keeps what the last poke saw on the sensor, reschedule mode in ``task_state_store``, a
deferrable sensor in its trigger, which continues from the poke the worker made before deferring.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.sensors.shop import DouyinLowStockSensor, DouyinOrdersSensor
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection
from tests.airflow.test_sensors_and_tokens import load_test_dags, task_states, xcom
from tests.streams.test_low_stock_condition import PRODUCTS, QUIET, THRESHOLD, stocked_shop


@pytest.fixture
def big_shop(douyin_sandbox_factory, monkeypatch) -> Any:
    server = stocked_shop(douyin_sandbox_factory)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(server.url))
    return server


def requests_since_reset(server: Any) -> Counter:
    counts = Counter(server.stats()["requests_by_method"])
    counts.pop("token.create", None)
    return counts


def test_poke_mode_reads_the_catalogue_once_then_changes_only(big_shop, in_memory_tokens):
    sensor = DouyinLowStockSensor(task_id="t", threshold=THRESHOLD, mode="poke")
    big_shop.reset_stats()
    assert sensor.poke({}) is False
    assert requests_since_reset(big_shop)["sku.list"] == PRODUCTS
    big_shop.reset_stats()
    assert sensor.poke({}) is False
    assert requests_since_reset(big_shop) == QUIET


def test_a_deferred_sensor_polls_changes_from_its_first_poke_and_fires_on_the_drop(
    big_shop, in_memory_tokens, monkeypatch
):
    hooks: list[DouyinShopHook] = []
    closed: list[bool] = []

    class CountingHook(DouyinShopHook):
        """Records every hook the trigger builds and whether its client was closed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            hooks.append(self)
            close = self.client.close
            self.client.close = lambda: (closed.append(True), close())

    monkeypatch.setattr("airflow_provider_douyin.triggers.shop.DouyinShopHook", CountingHook)
    sensor = DouyinLowStockSensor(task_id="t", threshold=THRESHOLD, deferrable=True, poke_interval=0.2)
    big_shop.reset_stats()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert requests_since_reset(big_shop)["sku.list"] == PRODUCTS  # the poke before deferring
    trigger = deferred.value.trigger
    assert {"changes_since", "full_read_at"} <= trigger.params.keys()

    (sku, *_) = big_shop.truth("skus", shop_id=SHOP_ID)

    async def quiet_pokes_then_the_drop() -> dict:
        events = trigger.run()
        pending = asyncio.ensure_future(events.__anext__())
        while big_shop.stats()["requests_by_method"].get("order.searchList", 0) < 3:  # quiet polls
            assert not pending.done(), pending.result().payload
            await asyncio.sleep(0.05)
        big_shop.set_stock(sku["id"], THRESHOLD - 3, touch_product=True)
        event = (await asyncio.wait_for(pending, 10)).payload
        await events.aclose()
        return event

    big_shop.reset_stats()
    event = asyncio.run(asyncio.wait_for(quiet_pokes_then_the_drop(), 60))
    assert event["status"] == "success", event
    assert [(s["sku_id"], s["stock_num"]) for s in event["payload"]] == [(str(sku["id"]), THRESHOLD - 3)]
    requests = requests_since_reset(big_shop)
    assert requests["sku.list"] <= 2  # the changed product, perhaps read again through the overlap
    assert requests["order.searchList"] >= 4  # one per poll: several polls, one client
    assert len(hooks) == 1 and closed == [True]
    assert sensor.execute_complete({}, event) == event["payload"]


def drop_stock_after_quiet_pokes(server: Any, sku_id: int, pokes: int) -> threading.Thread:
    """After ``pokes`` polls that follow the catalogue read, a SKU drops to 1 (a product edit)."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.stats()["requests_by_method"].get("order.searchList", 0) >= pokes:
                server.set_stock(sku_id, 1, touch_product=True)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_reschedule_mode_keeps_the_last_poke_in_the_task_state_store(big_shop, fresh_token_variable):
    (sku, *_) = big_shop.truth("skus", shop_id=SHOP_ID)
    big_shop.reset_stats()
    watcher = drop_stock_after_quiet_pokes(big_shop, sku["id"], pokes=2)
    run = load_test_dags()["douyin_test_low_stock_reschedule"].test(run_conf={"threshold": THRESHOLD})
    watcher.join(timeout=5)
    assert task_states(run) == {"low_stock": "success"}
    assert [(s["sku_id"], s["stock_num"]) for s in xcom(run, "low_stock")] == [(str(sku["id"]), 1)]
    requests = requests_since_reset(big_shop)
    # One catalogue read for the whole wait; every rescheduled poke after it read changes only.
    assert requests["sku.list"] == PRODUCTS + 1
    assert requests["order.searchList"] >= 3


def test_a_deferrable_sensor_whose_condition_holds_returns_without_deferring(shop, in_memory_tokens):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    sensor = DouyinOrdersSensor(
        task_id="t", window_start=now - timedelta(days=31), window_end=now, deferrable=True
    )
    result = sensor.execute({})
    assert result["orders"] == len(shop.truth("orders", shop_id=SHOP_ID)) > 0


def test_deferrable_defaults_to_the_operators_default_deferrable_setting():
    code = (
        "from airflow_provider_douyin.sensors.shop import DouyinLowStockSensor as S\n"
        "print(S(task_id='t', threshold=1).deferrable)\n"
        "print(S(task_id='u', threshold=1, deferrable=False).deferrable)"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-2:] == ["True", "False"], out.stderr[-2000:]
