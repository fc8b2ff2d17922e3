"""The low-stock sensor in each mode on a 500-product sandbox shop, counting the sandbox's requests.

Poke mode keeps what the last poke saw on the sensor, reschedule mode in ``task_state_store``, a
deferrable sensor in its trigger, which continues from the poke the worker made before deferring.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.sensors.shop import DouyinLowStockSensor, DouyinOrdersSensor
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection
from tests.airflow.test_sensors_and_tokens import load_test_dags, task_states
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
        await asyncio.sleep(1.0)  # several quiet pokes
        assert not pending.done()
        big_shop.set_stock(sku["id"], THRESHOLD - 3, touch_product=True)
        event = (await asyncio.wait_for(pending, 10)).payload
        await events.aclose()
        return event

    big_shop.reset_stats()
    event = asyncio.run(quiet_pokes_then_the_drop())
    assert event["status"] == "success", event
    assert [(s["sku_id"], s["stock_num"]) for s in event["payload"]] == [(str(sku["id"]), THRESHOLD - 3)]
    requests = requests_since_reset(big_shop)
    assert requests["sku.list"] <= 2  # the changed product, perhaps read again through the overlap
    assert requests["order.searchList"] >= 3  # one per poke: several polls, one client
    assert len(hooks) == 1 and closed == [True]
    assert sensor.execute_complete({}, event) == event["payload"]


def test_reschedule_mode_keeps_the_last_poke_in_the_task_state_store(big_shop, fresh_token_variable):
    big_shop.reset_stats()
    run = load_test_dags()["douyin_test_low_stock_reschedule"].test(run_conf={"threshold": 0})
    assert task_states(run) == {"low_stock": "skipped"}
    requests = requests_since_reset(big_shop)
    assert requests["sku.list"] == PRODUCTS  # one catalogue read for the whole wait
    pokes_after_it = requests["order.searchList"]
    assert pokes_after_it >= 1  # each a quiet poke: one product page, one order probe
    assert requests == Counter({m: n * pokes_after_it for m, n in QUIET.items()}) + Counter(
        {"product.listV2": PRODUCTS // 100 + 1, "sku.list": PRODUCTS}
    )


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
