"""Sensors, their deferrable triggers and token persistence, run for real against the sandbox."""

from __future__ import annotations

import importlib.util
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from airflow_provider_douyin.sensors.shop import (
    DouyinLowStockSensor,
    DouyinOrdersSensor,
    DouyinSettlementSensor,
)
from airflow_provider_douyin.triggers.shop import DouyinConditionTrigger
from tests.airflow.conftest import CONN_ID, SHOP_ID

DAG_FILE = Path(__file__).parent / "dag_files" / "douyin_test_dags.py"
SHANGHAI = timezone(timedelta(hours=8))


def load_test_dags() -> dict[str, DAG]:
    spec = importlib.util.spec_from_file_location("douyin_test_dags", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {d.dag_id: d for d in vars(module).values() if isinstance(d, DAG)}


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id)
    with create_session() as session:
        row = session.scalars(query).first()
        return XComModel.deserialize_value(row) if row else None


def low_stock_truth(server: Any, threshold: int) -> list[tuple[str, int]]:
    return sorted(
        (str(s["id"]), s["stock_num"])
        for s in server.truth("skus", shop_id=SHOP_ID)
        if s["stock_num"] < threshold
    )


def today_in_shanghai() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


def days_ago_in_shanghai(days: int) -> str:
    return (datetime.now(SHANGHAI) - timedelta(days=days)).date().isoformat()


class TestPoke:
    def test_orders_sensor_fires_when_matching_orders_exist(self, shop, in_memory_tokens):
        now = datetime.now(timezone.utc)
        sensor = DouyinOrdersSensor(
            task_id="t", window_start=now - timedelta(days=31), window_end=now, order_statuses=[5]
        )
        completed = sum(1 for o in shop.truth("orders", shop_id=SHOP_ID) if o["order_status"] == 5)
        result = sensor.poke({})
        assert result.is_done and result.xcom_value["orders"] == completed > 0

    def test_orders_sensor_counts_orders_created_in_the_window(self, shop, in_memory_tokens):
        now = datetime.now(timezone.utc)
        start = now - timedelta(days=10)
        sensor = DouyinOrdersSensor(task_id="t", window_start=start, window_end=now, time_field="create_time")
        created = sum(
            1
            for o in shop.truth("orders", shop_id=SHOP_ID)
            if start.timestamp() <= o["create_time"] < now.timestamp()
        )
        assert sensor.poke({}).xcom_value["orders"] == created > 0

    def test_orders_sensor_waits_when_none_match(self, shop, in_memory_tokens):
        now = datetime.now(timezone.utc)
        sensor = DouyinOrdersSensor(
            task_id="t", window_start=now - timedelta(days=60), window_end=now - timedelta(days=50)
        )
        assert sensor.poke({}) is False

    def test_low_stock_sensor_names_exactly_the_skus_below_the_threshold(self, shop, in_memory_tokens):
        sku = shop.truth("skus", shop_id=SHOP_ID)[0]
        shop.set_stock(sku["id"], 2)
        expected = low_stock_truth(shop, 10)
        result = DouyinLowStockSensor(task_id="t", threshold=10).poke({})
        assert result.is_done
        assert sorted((s["sku_id"], s["stock_num"]) for s in result.xcom_value) == expected
        assert (str(sku["id"]), 2) in expected

    def test_low_stock_sensor_waits_when_no_sku_is_below(self, shop, in_memory_tokens):
        assert DouyinLowStockSensor(task_id="t", threshold=0).poke({}) is False

    def test_settlement_sensor_fires_for_a_published_day_and_waits_for_today(self, shop, in_memory_tokens):
        published = DouyinSettlementSensor(task_id="t", settlement_date=days_ago_in_shanghai(3))
        assert published.poke({}).xcom_value == {"settlement_date": days_ago_in_shanghai(3)}
        today = DouyinSettlementSensor(
            task_id="t", settlement_date=today_in_shanghai(), not_before=timedelta(0)
        )
        assert today.poke({}) is False

    def test_settlement_sensor_does_not_call_the_api_before_15h_next_day(self, shop, in_memory_tokens):
        shop.reset_stats()
        sensor = DouyinSettlementSensor(task_id="t", settlement_date=today_in_shanghai())
        assert sensor.poke({}) is False
        assert "order.getSettleBillDetailV3" not in shop.stats()["requests_by_method"]


class TestTrigger:
    def test_trigger_carries_only_the_conn_id_and_plain_parameters(self):
        trigger = DouyinConditionTrigger(
            check="low_stock", conn_id=CONN_ID, params={"threshold": 5}, poke_interval=3
        )
        path, kwargs = trigger.serialize()
        assert path == "airflow_provider_douyin.triggers.shop.DouyinConditionTrigger"
        assert kwargs == {
            "check": "low_stock",
            "conn_id": CONN_ID,
            "params": {"threshold": 5},
            "poke_interval": 3,
            "deadline": None,
            "start_at": None,
        }
        json.dumps(kwargs)

    async def _first_event(self, trigger: DouyinConditionTrigger) -> dict:
        return (await trigger.run().__anext__()).payload

    def test_trigger_never_creates_a_token_and_reports_auth_expired(self, shop, in_memory_tokens):
        import asyncio

        trigger = DouyinConditionTrigger(check="low_stock", conn_id=CONN_ID, params={"threshold": 10})
        event = asyncio.run(self._first_event(trigger))
        assert event["status"] == "auth_expired"
        assert "token.create" not in shop.stats()["requests_by_method"]

    def test_a_deferring_sensor_pokes_once_and_its_trigger_waits_a_poke_interval(
        self, shop, in_memory_tokens
    ):
        import asyncio

        from airflow.sdk.exceptions import TaskDeferred

        now = datetime.now(timezone.utc)
        sensor = DouyinOrdersSensor(
            task_id="t",
            window_start=now - timedelta(days=60),
            window_end=now - timedelta(days=50),
            deferrable=True,
            poke_interval=30,
            timeout=2,
        )
        shop.reset_stats()
        try:
            sensor.execute({})
            raise AssertionError("the sensor did not defer")
        except TaskDeferred as deferred:
            trigger = deferred.trigger
        assert shop.stats()["requests_by_method"]["order.searchList"] == 1  # the worker's poke
        shop.reset_stats()
        event = asyncio.run(trigger.run().__anext__()).payload
        # The timeout came before the next poke was due: the trigger asked nothing.
        assert event["status"] == "timeout"
        assert "order.searchList" not in shop.stats()["requests_by_method"]

    def test_a_trigger_error_fails_the_task_with_the_api_errors_message(self):
        from airflow_provider_douyin.client.errors import DouyinError

        message = "order.searchList failed: code=50002 sub_code=isv.business-failed:20004 log_id=20261203abc"
        sensor = DouyinOrdersSensor(task_id="t")
        try:
            sensor.execute_complete({}, {"status": "error", "message": message})
            raise AssertionError("no error raised")
        except DouyinError as err:  # one root catches every error the provider raises
            assert str(err) == message


class TestDagRuns:
    def test_deferrable_sensors_fire_through_their_trigger(self, shop, fresh_token_variable):
        now = datetime.now(timezone.utc)
        sku = shop.truth("skus", shop_id=SHOP_ID)[1]
        shop.set_stock(sku["id"], 1)
        run = load_test_dags()["douyin_test_sensors_deferrable"].test(
            run_conf={
                "window_start": (now - timedelta(days=31)).isoformat(),
                "window_end": now.isoformat(),
                "settlement_date": days_ago_in_shanghai(3),
                "threshold": 10,
            }
        )
        assert task_states(run) == {"orders": "success", "settlement": "success", "low_stock": "success"}
        low = xcom(run, "low_stock")
        assert sorted((s["sku_id"], s["stock_num"]) for s in low) == low_stock_truth(shop, 10)
        assert xcom(run, "settlement") == {"settlement_date": days_ago_in_shanghai(3)}

    def test_deferrable_sensors_time_out_when_the_condition_never_holds(self, shop, fresh_token_variable):
        now = datetime.now(timezone.utc)
        run = load_test_dags()["douyin_test_sensors_deferrable"].test(
            run_conf={
                "window_start": (now - timedelta(days=60)).isoformat(),
                "window_end": (now - timedelta(days=50)).isoformat(),
                "settlement_date": today_in_shanghai(),
                "threshold": 0,
            }
        )
        assert task_states(run) == {"orders": "skipped", "settlement": "skipped", "low_stock": "skipped"}

    def test_orders_sensor_in_reschedule_mode(self, shop, fresh_token_variable):
        now = datetime.now(timezone.utc)
        run = load_test_dags()["douyin_test_orders_reschedule"].test(
            run_conf={"window_start": (now - timedelta(days=31)).isoformat(), "window_end": now.isoformat()}
        )
        assert task_states(run) == {"orders": "success"}

    def test_tokens_round_trip_through_the_variable_store(self, shop, fresh_token_variable):
        from airflow.models.variable import Variable as VariableModel  # the metadata DB itself, not a task

        run = load_test_dags()["douyin_test_tokens"].test()
        assert task_states(run) == {"refresh": "success", "read_with_stored_token": "success"}
        # The second task used the pair the first stored: one token.create for the whole run.
        assert shop.stats()["requests_by_method"]["token.create"] == 1

        stored = json.loads(VariableModel.get(fresh_token_variable))
        assert {"access_token", "refresh_token", "access_expires_at", "refresh_expires_at"} <= stored.keys()
        assert stored["access_expires_at"] > datetime.now(timezone.utc).timestamp() + 6 * 86400
        assert stored["refresh_expires_at"] > stored["access_expires_at"]

        pushed = xcom(run, "refresh")
        assert pushed["rotated"] is True
        assert stored["access_token"] not in json.dumps(pushed)
        assert stored["refresh_token"] not in json.dumps(pushed)


def test_two_workers_refreshing_at_once_end_with_one_newest_pair(douyin_sandbox_factory):
    """The 31012 race: two processes' clients (separate locks) share one store and refresh together."""
    server = douyin_sandbox_factory(orders=50, access_ttl=600, rotation_window=3600, refresh_hold_ms=300)
    store = InMemoryTokenStore()

    def client(worker: str) -> DoudianShopClient:
        return DoudianShopClient(
            app_key=SANDBOX_APP_KEY,
            app_secret=SANDBOX_APP_SECRET,
            base_url=server.url,
            shop_id=str(SHOP_ID),
            qps=100,
            token_store=store,
            token_lock_key=worker,  # separate workers do not share an in-process lock
        )

    first, second = client("worker-1"), client("worker-2")
    first.call("product.listV2", {"page": 1, "size": 1})
    original = store.load()
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def refresh(name: str, c: DoudianShopClient) -> None:
        barrier.wait()
        try:
            results[name] = c.tokens.refresh(force=True)
        except Exception as err:  # surfaced by the assertion below
            results[name] = err

    threads = [threading.Thread(target=refresh, args=(n, c)) for n, c in (("a", first), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    newest = store.load()
    assert results["a"] == results["b"] == newest, results
    assert newest.refresh_token != original.refresh_token
    assert server.stats()["refreshes"]["concurrent"] >= 1
    # Both workers go on working with the newest pair.
    assert first.call("product.listV2", {"page": 1, "size": 1})["total"] > 0
    assert second.call("product.listV2", {"page": 1, "size": 1})["total"] > 0


def test_mapped_sql_and_storage_operators_land_the_window_exactly(
    shop, fresh_token_variable, tmp_path, monkeypatch
):
    import gzip

    from airflow.models.asset import AssetEvent
    from airflow.sdk import BaseHook
    from airflow.utils.session import create_session

    monkeypatch.setenv(
        "AIRFLOW_CONN_DOUYIN_TEST_TARGET", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "t.db")})
    )
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=31)
    run = load_test_dags()["douyin_test_transfers"].test(
        run_conf={
            "window_start": start.isoformat(),
            "window_end": now.isoformat(),
            "parts": 3,
            "path": f"file://{tmp_path}/lake",
        }
    )
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert states == {
        ("windows", -1): "success",
        ("orders_to_sql", 0): "success",
        ("orders_to_sql", 1): "success",
        ("orders_to_sql", 2): "success",
        ("orders_to_storage", -1): "success",
    }
    truth = {o["order_id"]: o["update_time"] for o in shop.truth("orders", shop_id=SHOP_ID)}
    landed = dict(
        BaseHook.get_hook("douyin_test_target").get_records("SELECT order_id, update_time FROM douyin_orders")
    )
    assert landed == truth

    (manifest_path,) = (tmp_path / "lake" / "douyin_orders").glob("*/*/_manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rows"] == len(truth)
    rows = []
    for part in manifest["files"]:
        with gzip.open(manifest_path.parent / part["path"], "rt") as lines:
            rows.extend(json.loads(line) for line in lines)
    assert {r["order_id"]: r["update_time"] for r in rows} == truth

    # One asset event per task instance, carrying row counts and the window it covered.
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
        extras = [e.extra for e in events]
    assert len(extras) == 4
    assert all({"rows", "window_start", "window_end", "conn_id"} <= e.keys() for e in extras)
    assert sum(e["rows"]["orders"] for e in extras) >= 2 * len(truth)


class TestSettlementSensorKnowsThePublicationTime:
    """The bill of day D is published at D+1 00:00 + ``not_before``; the sensor never asks earlier."""

    SETTLE = "order.getSettleBillDetailV3"

    def settle_calls(self, server: Any) -> int:
        return server.stats()["requests_by_method"].get(self.SETTLE, 0)

    def test_a_same_day_run_defers_once_and_ends_when_the_bill_appears(self, shop, in_memory_tokens):
        import asyncio

        from airflow.sdk.exceptions import TaskDeferred

        # Yesterday's bill is made to appear 4 s from now, in the sandbox and for the sensor alike.
        midnight = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
        publish_in = (datetime.now(SHANGHAI) - midnight).total_seconds() + 4.0
        shop.set_faults(settle_ready_delay_s=publish_in)
        published_at = midnight.timestamp() + publish_in
        sensor = DouyinSettlementSensor(
            task_id="t",
            settlement_date=days_ago_in_shanghai(1),
            not_before=timedelta(seconds=publish_in),
            deferrable=True,
            poke_interval=1.0,
        )
        shop.reset_stats()
        try:
            sensor.execute({})
            raise AssertionError("the sensor did not defer")
        except TaskDeferred as deferred:
            trigger = deferred.trigger
        assert self.settle_calls(shop) == 0
        assert trigger.start_at == published_at
        assert trigger.deadline == published_at + 8 * 3600

        event = asyncio.run(trigger.run().__anext__()).payload
        ended = datetime.now(timezone.utc).timestamp()
        assert event["status"] == "success", event
        assert published_at <= ended < published_at + 3.0
        # One question, asked after the publication time, was enough: nothing was asked before it.
        assert self.settle_calls(shop) == 1
        assert sensor.execute_complete({}, event) == {"settlement_date": days_ago_in_shanghai(1)}

    def test_a_published_bill_returns_at_once_without_deferring(self, shop, in_memory_tokens):
        shop.reset_stats()
        sensor = DouyinSettlementSensor(task_id="t", settlement_date=days_ago_in_shanghai(3), deferrable=True)
        assert sensor.execute({}) == {"settlement_date": days_ago_in_shanghai(3)}
        assert self.settle_calls(shop) == 1

    def test_a_run_without_a_logical_date_waits_for_the_latest_published_day(self):
        sensor = DouyinSettlementSensor(task_id="t", settlement_date="None")
        now = datetime.now(SHANGHAI)
        latest = (now - timedelta(days=1, hours=15)).date().isoformat()
        assert sensor.check_params({})["day"] == latest

    def test_a_scheduled_run_waits_for_its_own_day(self):
        sensor = DouyinSettlementSensor(task_id="t")
        start = datetime(2026, 11, 30, tzinfo=SHANGHAI)
        assert sensor.check_params({"data_interval_start": start})["day"] == "2026-11-30"
