"""``reconcile=True`` on the SQL transfer and ``DouyinReconcileOperator``, against the sandbox and a
real database: what the task does on a mismatch, and where the result is stored."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.operators.reconcile import DouyinReconcileOperator, reconciliation_asset
from airflow_provider_douyin.streams.reconcile import DouyinReconciliationError
from airflow_provider_douyin.transfers import reconciliation, watermarks
from airflow_provider_douyin.transfers.base import stream_asset
from airflow_provider_douyin.transfers.douyin_to_sql import DouyinToSqlOperator
from airflow_provider_douyin.transfers.douyin_to_storage import DouyinToStorageOperator
from airflow_provider_douyin.transfers.watermarks import load_state
from tests.airflow.conftest import CONN_ID
from tests.airflow.test_life_streams import CONN_ID as LIFE_CONN_ID
from tests.airflow.test_life_streams import life_sandbox, token_stores  # noqa: F401 (a fixture)
from tests.airflow.test_life_streams import sync as life_sync
from tests.airflow.test_watermark_store import FakeVariables
from tests.conftest import ROOT

NOW = datetime.now(timezone.utc)
MONTH = {"window_start": (NOW - timedelta(days=32)).isoformat(), "window_end": NOW.isoformat()}
INVENTED = "6900000000000000"
RECONCILE_DAG_FILE = ROOT / "tests" / "airflow" / "dag_files" / "douyin_reconcile_test_dags.py"


class FakeTaskInstance:
    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))  # what an XCom backend would keep


class OutletEvents(dict):
    def __missing__(self, asset: Any) -> Any:
        self[asset] = type("Event", (), {"extra": None})()
        return self[asset]


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request) -> tuple[str, Any]:
    """(conn_id, hook) of a fresh database, reachable through ``BaseHook.get_hook(conn_id)``."""
    hook = request.getfixturevalue(f"{request.param}_hook")
    return f"douyin_test_{request.param}", hook


@pytest.fixture
def variables(monkeypatch) -> FakeVariables:
    fake = FakeVariables()
    monkeypatch.setattr(watermarks, "Variable", fake)
    monkeypatch.setattr(reconciliation, "Variable", fake)
    return fake


def context() -> dict[str, Any]:
    return {"ti": FakeTaskInstance(), "outlet_events": OutletEvents()}


def land(sql_conn_id: str, *, reconcile: bool = True, **kwargs: Any) -> DouyinToSqlOperator:
    return DouyinToSqlOperator(
        task_id="orders", stream="orders", sql_conn_id=sql_conn_id, lookback=0, reconcile=reconcile, **kwargs
    )


def invent_orders(hook: Any, count: int, update_time: int) -> list[str]:
    keys = [f"{INVENTED}{n:03d}" for n in range(count)]
    for key in keys:
        hook.run(f"INSERT INTO douyin_orders (order_id, update_time) VALUES ('{key}', {update_time})")
    return keys


def test_a_correct_landing_reconciles_and_says_so_everywhere(shop, in_memory_tokens, variables, warehouse):
    sql_conn_id, hook = warehouse
    shop.set_faults(page_drift=2)
    ctx = context()
    payload = land(sql_conn_id, **MONTH).execute(ctx)

    stored = json.loads(variables.values[f"douyin_reconcile__{CONN_ID}__orders__{sql_conn_id}.douyin_"])
    assert stored == ctx["ti"].xcoms["reconciliation"]
    assert stored["ok"] is True and stored["counts"] == {"missing": 0, "extra": 0, "stale": 0}
    # Every search touches two records of the window: they moved on, and are no alarm.
    assert stored["moved"] > 0 and stored["keys_compared"] >= stored["target_count"] > 0
    assert payload["reconciliation"] == reconciliation.summary(stored)
    assert ctx["outlet_events"][stream_asset("orders")].extra["reconciliation"] == payload["reconciliation"]
    assert load_state(next(v for k, v in variables.values.items() if k.startswith("douyin_watermark"))).done


def test_a_mismatch_fails_the_task_naming_the_keys_and_leaves_the_window_to_read_again(
    shop, in_memory_tokens, variables, warehouse
):
    sql_conn_id, hook = warehouse
    land(sql_conn_id, **MONTH).execute(context())
    watermark_before = {k: v for k, v in variables.values.items() if k.startswith("douyin_watermark")}
    (newest,) = hook.get_first("SELECT MAX(update_time) FROM douyin_orders")
    # A version newer than the API's is never overwritten by the upsert: it stays stale.
    (stale,) = hook.get_first(f"SELECT order_id FROM douyin_orders WHERE update_time < {newest} LIMIT 1")
    hook.run(f"UPDATE douyin_orders SET update_time = update_time + 1 WHERE order_id = '{stale}'")
    # A deleted row is landed again by the same run: no mismatch.
    hook.run("DELETE FROM douyin_orders WHERE order_id = (SELECT MIN(order_id) FROM douyin_orders)")
    # A row the API never had is not removed by the landing.
    invented = invent_orders(hook, 25, newest)

    ctx = context()
    with pytest.raises(DouyinReconciliationError) as failure:
        land(sql_conn_id, **MONTH).execute(ctx)

    message = str(failure.value)
    assert message.startswith("Reconciliation of orders [")
    assert f"26 mismatches: 25 extra (order.orderDetail does not know it): {invented[0]}, " in message
    assert f"{invented[19]} and 5 more; 1 stale: {stale} (update_time: target " in message
    assert invented[19] in message and invented[20] not in message
    document = ctx["ti"].xcoms["reconciliation"]
    assert (document["ok"], document["counts"]) == (False, {"missing": 0, "extra": 25, "stale": 1})
    assert sorted(document["extra"]) == invented and document["stale"] == [stale]
    assert (
        json.loads(variables.values[f"douyin_reconcile__{CONN_ID}__orders__{sql_conn_id}.douyin_"])
        == document
    )
    assert reconciliation.load_last(CONN_ID, "orders", f"{sql_conn_id}.douyin_") == document  # for a UI
    # Not recorded done: a watermark-driven run reads the window again.
    assert {k: v for k, v in variables.values.items() if k.startswith("douyin_watermark")} == watermark_before


def test_the_daily_operator_names_missing_rows_and_does_not_land_them(
    shop, in_memory_tokens, variables, warehouse
):
    sql_conn_id, hook = warehouse
    land(sql_conn_id, reconcile=False, **MONTH).execute(context())
    gone = [
        str(r[0]) for r in hook.get_records("SELECT order_id FROM douyin_orders ORDER BY order_id LIMIT 3")
    ]
    hook.run(f"DELETE FROM douyin_orders WHERE order_id IN ({', '.join(repr(k) for k in gone)})")

    check = DouyinReconcileOperator(
        task_id="reconcile_orders", stream="orders", sql_conn_id=sql_conn_id, fail_on_mismatch=False, **MONTH
    )
    ctx = context()
    document = check.execute(ctx)
    assert sorted(document["missing"]) == gone and document["counts"] == {
        "missing": 3,
        "extra": 0,
        "stale": 0,
    }
    assert ctx["outlet_events"][reconciliation_asset("orders")].extra == {
        "reconciliation": reconciliation.summary(document)
    }
    assert hook.get_first(f"SELECT COUNT(*) FROM douyin_orders WHERE order_id = '{gone[0]}'")[0] == 0

    check.fail_on_mismatch = True
    with pytest.raises(DouyinReconciliationError, match=f"3 missing: {gone[0]}, {gone[1]}, {gone[2]}$"):
        check.execute(context())


def test_reconcile_is_refused_before_any_read_where_it_cannot_work(
    shop, in_memory_tokens, variables, tmp_path
):
    requests_before = shop.stats()["requests_by_method"]
    with pytest.raises(DouyinConfigError, match="stream 'settlements' cannot be reconciled"):
        DouyinToSqlOperator(task_id="s", stream="settlements", sql_conn_id="x", reconcile=True).execute({})
    with pytest.raises(DouyinConfigError, match="DouyinToStorageOperator cannot reconcile"):
        DouyinToStorageOperator(task_id="o", stream="orders", path=str(tmp_path), reconcile=True).execute({})
    with pytest.raises(DouyinConfigError, match="needs a non-empty window"):
        DouyinReconcileOperator(task_id="r", stream="orders", sql_conn_id="x").execute({})
    assert shop.stats()["requests_by_method"] == requests_before


def test_a_real_task_stores_its_result_and_alerts_through_its_failure_callback(
    shop, fresh_token_variable, sqlite_hook, tmp_path, monkeypatch
):
    from airflow.models.variable import Variable as VariableModel  # the metadata DB itself, not a task

    from tests.airflow.test_sensors_and_tokens import task_states, xcom

    monkeypatch.setattr(watermarks, "Variable", FakeVariables())
    land("douyin_test_sqlite", reconcile=False, **MONTH).execute(context())
    (gone,) = sqlite_hook.get_first("SELECT MIN(order_id) FROM douyin_orders")
    sqlite_hook.run(f"DELETE FROM douyin_orders WHERE order_id = '{gone}'")
    monkeypatch.setenv("DOUYIN_TEST_ALERT_FILE", str(tmp_path / "alert.json"))
    key = f"douyin_reconcile__{CONN_ID}__orders__douyin_test_sqlite.douyin_"
    VariableModel.delete(key)

    run = load_reconcile_dag().test(run_conf=MONTH)

    assert task_states(run) == {"reconcile_orders": "failed"}
    alert = json.loads((tmp_path / "alert.json").read_text())
    assert alert["counts"] == {"missing": 1, "extra": 0, "stale": 0}
    assert alert["exception"].endswith(f"1 mismatch: 1 missing: {gone}")
    stored = json.loads(VariableModel.get(key))
    assert stored["missing"] == [gone] and stored["conn_id"] == CONN_ID
    assert stored["target"] == "douyin_test_sqlite.douyin_"
    assert xcom(run, "reconcile_orders") == stored
    VariableModel.delete(key)


def load_reconcile_dag() -> Any:
    import importlib.util

    from airflow.sdk import DAG

    spec = importlib.util.spec_from_file_location("douyin_reconcile_test_dags", RECONCILE_DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(d for d in vars(module).values() if isinstance(d, DAG))


def test_the_daily_example_dag_reconciles_yesterday_in_shanghai_and_alerts_on_failure(
    monkeypatch, airflow_db
):
    monkeypatch.syspath_prepend(str(ROOT / "dags"))
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow.test_settlements_schedule import scheduled_intervals

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("douyin_reconcile_daily")
    first_day = pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai")
    days = scheduled_intervals(dag, first_day, 3)
    assert [(d.start, d.end) for d in days] == [
        (first_day.add(days=n), first_day.add(days=n + 1)) for n in range(3)
    ]  # each run checks one whole Shanghai day, created once it is over
    checks = {t.task_id: t for t in dag.tasks if isinstance(t, DouyinReconcileOperator)}
    assert sorted(checks) == ["reconcile_after_sales", "reconcile_orders"]
    for check in checks.values():
        assert check.on_failure_callback and check.upstream_task_ids == {"after_the_last_hourly_landing"}

    # What the window and the wait render to, from the run the scheduler or a trigger made.
    from types import SimpleNamespace

    import jinja2

    sensor = dag.get_task("after_the_last_hourly_landing")
    check = checks["reconcile_orders"]

    def rendered(run: Any, params: dict[str, Any]) -> tuple[str, str, str]:
        context = {"dag": dag, "dag_run": run, "params": params, **dag.user_defined_macros}
        templates = (check.window_start, check.window_end, sensor.target_time)
        return tuple(jinja2.Environment().from_string(t).render(context) for t in templates)

    day = first_day.add(days=1)
    no_window = {"window_start": None, "window_end": None}
    scheduled = SimpleNamespace(
        data_interval_start=days[0].start, data_interval_end=days[0].end, run_after=day
    )
    assert rendered(scheduled, no_window) == (
        first_day.isoformat(),
        day.isoformat(),
        day.add(hours=1).isoformat(),
    )  # the data interval; an hour after the day ends
    # Triggered without a logical date (no data interval) in the afternoon: the last whole day, and no
    # wait, its hour being past; at 00:20 the day before, waiting until 01:00.
    for at in (day.add(hours=15), day.add(minutes=20)):
        manual = SimpleNamespace(
            data_interval_start=None, data_interval_end=None, run_after=at.in_timezone("UTC")
        )
        assert rendered(manual, no_window) == (
            first_day.isoformat(),
            day.isoformat(),
            day.add(hours=1).isoformat(),
        ), at
    conf = {"window_start": "2026-10-01T00:00:00+08:00", "window_end": "2026-10-08T00:00:00+08:00"}
    assert rendered(manual, conf) == (
        "2026-10-01T00:00:00+08:00", "2026-10-08T00:00:00+08:00", "2026-10-08T01:00:00+08:00"
    )  # fmt: skip


@pytest.mark.usefixtures("token_stores")
def test_life_orders_reconcile_by_listing_every_slice_and_settle_with_the_order_query(
    douyin_sandbox_factory, monkeypatch, variables, warehouse
):
    """The 抖音来客 order query cannot count a window cheaply: each slice is listed, and a disputed
    order is settled by the same query filtered by ``order_id``."""
    sql_conn_id, hook = warehouse
    server = life_sandbox(douyin_sandbox_factory, monkeypatch, life_orders=120)
    server.set_faults(page_drift=2, order_shuffle=True)
    payload = life_sync("life_orders", sql_conn_id, reconcile=True)
    assert payload["reconciliation"]["ok"] and payload["reconciliation"]["api_count"] > 0

    server.set_faults(page_drift=0)
    # An order the drift did not move on since it landed (a moved one belongs to the next window).
    current = {
        o["order_id"]: o["update_order_time"] for o in server.open_truth("life_orders", server.account_ids[0])
    }
    gone = min(
        str(k)
        for k, v in hook.get_records("SELECT order_id, update_order_time FROM douyin_life_orders")
        if current[str(k)] == v
    )
    hook.run(f"DELETE FROM douyin_life_orders WHERE order_id = '{gone}'")
    (newest,) = hook.get_first("SELECT MAX(update_order_time) FROM douyin_life_orders")
    hook.run(f"INSERT INTO douyin_life_orders (order_id, update_order_time) VALUES ('{INVENTED}1', {newest})")
    check = DouyinReconcileOperator(
        task_id="reconcile_life_orders",
        stream="life_orders",
        douyin_conn_id=LIFE_CONN_ID,
        sql_conn_id=sql_conn_id,
        fail_on_mismatch=False,
        # The landed window: orders the drift moved past it belong to the next one.
        window_start=payload["window_start"],
        window_end=payload["window_end"],
        slice_span=timedelta(days=30),
    )
    document = check.execute(context())
    assert (document["missing"], document["extra"], document["stale"]) == ([gone], [f"{INVENTED}1"], [])
