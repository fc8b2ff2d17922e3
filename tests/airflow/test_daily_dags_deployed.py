"""``douyin_live_daily`` and ``douyin_reconcile_daily`` on their real schedule under a real deployment.

Scheduler, DAG processor, triggerer and API server run as processes (LocalExecutor, a throwaway
PostgreSQL metadata database). Unpausing each DAG makes the scheduler create its latest scheduled
run (``catchup=False``); beside it each DAG gets a run without a logical date from ``airflow dags
trigger`` and one from REST (``"logical_date": null``), the way a user clicks Trigger. Every run must
succeed on its first try and cover exactly its window: the live DAG's rooms and orders are the
sandbox's for the windows its tasks report, and each reconciliation checks the whole last Shanghai
day before it ran (the scheduled run its data interval, the manual runs the same day) and finds the
warehouse equal to the API.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.airflow.deployment import Deployment, start_deployment
from tests.airflow.test_creator_streams import OPEN_ID, authorize
from tests.airflow.test_live_daily import SALES_COLUMNS, check_report, landed_stats, report
from tests.airflow.test_manual_triggers import POOLS, SHOP_ID, in_window

pytestmark = pytest.mark.timeout(480)

LIVE, RECONCILE, HOURLY = "douyin_live_daily", "douyin_reconcile_daily", "douyin_orders_hourly"
SHANGHAI = "Asia/Shanghai"


class SqliteRows:
    """The warehouse's rows through the same interface the live-report checks use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_records(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def deployed(tmp_path: Path, metadata_db: str, douyin_sandbox_factory) -> Iterator[tuple]:
    sandbox = douyin_sandbox_factory(orders=1500, life_orders=20, seed=11)
    warehouse = tmp_path / "warehouse.db"
    env = {
        "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT": json.dumps(
            {
                "conn_type": "douyin_shop",
                "host": sandbox.url,
                "login": sandbox.app_key,
                "password": sandbox.app_secret,
                "extra": {"shop_id": str(SHOP_ID), "qps": 100},
            }
        ),
        "AIRFLOW_CONN_DOUYIN_OPEN_DEFAULT": json.dumps(
            {
                "conn_type": "douyin_open",
                "host": sandbox.url,
                "login": sandbox.client_key,
                "password": sandbox.client_secret,
                # The broadcasting account, authorized once (what `douyin-oauth exchange` stores).
                "extra": {"open_id": OPEN_ID, "refresh_token": authorize(sandbox), "qps": 100},
            }
        ),
        "AIRFLOW_CONN_DOUYIN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "DOUYIN_SAFETY_LAG_S": "0",
        # The reconciliation waits for the hourly landing of its day's last hour; this test lands
        # the whole history before it starts, so it need not wait (between 00:00 and 01:00 it would).
        "DOUYIN_RECONCILE_DELAY_S": "0",
    }
    services = ("scheduler", "dag-processor", "triggerer")
    with start_deployment(tmp_path, metadata_db, env=env, pools=POOLS, services=services) as deployment:
        yield deployment, sandbox, warehouse


def runs_of(deployment: Deployment, dag_id: str) -> list[dict[str, Any]]:
    return deployment.api("GET", f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]


def wait_finished(deployment: Deployment, dag_ids: list[str], count: dict[str, int]) -> list[dict]:
    """All runs of ``dag_ids`` once ``count[dag_id]`` of each exist and every one finished."""

    def finished() -> list[dict] | None:
        runs = [run for dag_id in dag_ids for run in runs_of(deployment, dag_id)]
        if any(len([r for r in runs if r["dag_id"] == d]) < count[d] for d in dag_ids):
            return None
        return runs if all(run["state"] in ("success", "failed") for run in runs) else None

    return deployment.wait_for(finished, 360, f"the runs of {dag_ids} to finish")


def xcom(deployment: Deployment, run: dict, task_id: str, key: str = "return_value") -> Any:
    path = f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}/xcomEntries/{key}"
    return deployment.api("GET", path)["value"]


def assert_first_tries_succeeded(deployment: Deployment, runs: list[dict]) -> None:
    failed = [(r["dag_id"], r["dag_run_id"], r["state"]) for r in runs if r["state"] != "success"]
    assert not failed, f"{failed}\n{deployment.task_logs({r['dag_id'] for r in runs})}"
    retried = [
        (run["dag_id"], ti["task_id"], ti["try_number"])
        for run in runs
        for ti in deployment.task_instances(run["dag_id"], run["dag_run_id"])
        if ti["try_number"] != 1
    ]
    assert not retried, f"{retried}\n{deployment.task_logs({r['dag_id'] for r in runs})}"


def start_runs(deployment: Deployment, dag_id: str) -> None:
    """Unpause (the scheduler creates the latest scheduled run), then two runs without a logical date."""
    deployment.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    deployment.airflow("dags", "trigger", dag_id, "--run-id", f"cli_{dag_id}")
    rest = deployment.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
    assert rest["logical_date"] is None, rest


def test_live_and_reconcile_dags_run_scheduled_and_triggered_on_their_windows(deployed) -> None:
    deployment, sandbox, warehouse = deployed
    for dag_id in (HOURLY, LIVE, RECONCILE):
        deployment.wait_for(lambda d=dag_id: deployment.dag_parsed(d), 120, f"{dag_id} to be parsed")

    # The shop's whole history lands first, so the reconciliation has every day to check against.
    now = datetime.fromtimestamp(sandbox.clock(), pendulum.UTC)
    history = {"window_start": (now - timedelta(days=31)).isoformat(), "window_end": now.isoformat()}
    deployment.api("PATCH", f"/dags/{HOURLY}", json={"is_paused": False})
    deployment.airflow("dags", "trigger", HOURLY, "--run-id", "history", "--conf", json.dumps(history))
    assert_first_tries_succeeded(deployment, wait_finished(deployment, [HOURLY], {HOURLY: 2}))
    deployment.api("PATCH", f"/dags/{HOURLY}", json={"is_paused": True})  # no later hour lands meanwhile

    for dag_id in (LIVE, RECONCILE):
        start_runs(deployment, dag_id)
    runs = wait_finished(deployment, [LIVE, RECONCILE], {LIVE: 3, RECONCILE: 3})
    assert_first_tries_succeeded(deployment, runs)
    by_type = {(r["dag_id"], r["run_type"]): r for r in runs}
    assert {t for _, t in by_type} == {"scheduled", "manual"}

    # Scheduled runs carry their interval: the last whole Shanghai day (reconcile) or the 24 hours to
    # 00:30 (live) before they were created.
    for dag_id, hour, minute in ((RECONCILE, 0, 0), (LIVE, 0, 30)):
        run = by_type[(dag_id, "scheduled")]
        start, end = (
            pendulum.parse(run[k]).in_timezone(SHANGHAI) for k in ("data_interval_start", "data_interval_end")
        )
        assert (end - start, end.hour, end.minute) == (timedelta(days=1), hour, minute), run
        assert end <= pendulum.parse(run["run_after"]) < end.add(days=1), run

    check_live_runs(deployment, sandbox, warehouse, [r for r in runs if r["dag_id"] == LIVE])
    check_reconciliations(deployment, sandbox, [r for r in runs if r["dag_id"] == RECONCILE])

    # Run again (a cleared task, as after a fix): the scheduled run reads the same windows again.
    scheduled = by_type[(LIVE, "scheduled")]
    before = {task: xcom(deployment, scheduled, task) for task in ("land_orders", "land_live_room_stats")}
    body = {"dry_run": False, "dag_run_id": scheduled["dag_run_id"], "only_failed": False}
    body |= {"task_ids": list(before), "include_downstream": True}
    deployment.api("POST", f"/dags/{LIVE}/clearTaskInstances", json=body)

    def rerun_done() -> list[dict] | None:
        tis = deployment.task_instances(LIVE, scheduled["dag_run_id"])
        again = [ti for ti in tis if ti["task_id"] in (*before, "live_room_report")]
        done = all(ti["try_number"] == 2 and ti["state"] in ("success", "failed") for ti in again)
        return again if done else None

    again = deployment.wait_for(rerun_done, 240, "the cleared tasks to run again")
    assert {ti["state"] for ti in again} == {"success"}, deployment.task_logs({LIVE})
    for task, first in before.items():
        second = xcom(deployment, scheduled, task)
        assert (second["window_start"], second["window_end"]) == (first["window_start"], first["window_end"])
        assert second["rows"] == first["rows"], task
    rerun = deployment.api("GET", f"/dags/{LIVE}/dagRuns/{scheduled['dag_run_id']}")
    check_live_runs(
        deployment, sandbox, warehouse, [rerun, *(r for r in runs if r["dag_id"] == LIVE and r != scheduled)]
    )


def check_live_runs(deployment: Deployment, sandbox: Any, warehouse: Path, runs: list[dict]) -> None:
    orders = sandbox.truth("orders", shop_id=SHOP_ID)
    rooms_windows = []
    for run in runs:
        landed = xcom(deployment, run, "land_orders")
        expected = {o["order_id"] for o in orders if in_window(o["update_time"], landed)}
        assert landed["rows"]["orders"] == len(expected), (run["run_type"], landed)
        assert expected or run["run_type"] == "manual", landed  # a day of the shop has orders
        rooms_windows.append(xcom(deployment, run, "land_live_room_stats"))
    scheduled = next(r for r in runs if r["run_type"] == "scheduled")
    rooms = xcom(deployment, scheduled, "land_live_room_stats")
    interval_start = pendulum.parse(scheduled["data_interval_start"])
    assert pendulum.parse(rooms["window_start"]) == interval_start - timedelta(days=1)  # one day of lookback
    assert pendulum.parse(rooms["window_end"]) == pendulum.parse(scheduled["data_interval_end"])

    # Every room the account started inside the windows the runs read, and no other; final figures
    # equal the platform's.
    truth = {int(r["room_id"]): r for r in sandbox.open_truth("live_room_stats", open_id=OPEN_ID)}
    expected_rooms = {
        room for room, row in truth.items() if any(in_window(row["live_start_ts"], w) for w in rooms_windows)
    }
    hook = SqliteRows(warehouse)
    stats = landed_stats(hook)
    assert expected_rooms and set(stats) == expected_rooms
    for room, (watch_users, final) in stats.items():
        if final and truth[room]["is_final"]:
            assert watch_users == truth[room]["live_watch_ucnt_td"], room
    sales = hook.get_records(f"SELECT {', '.join(SALES_COLUMNS)} FROM douyin_live_rooms")
    check_report(report(hook), stats, sales)


def check_reconciliations(deployment: Deployment, sandbox: Any, runs: list[dict]) -> None:
    orders = sandbox.truth("orders", shop_id=SHOP_ID)
    for run in runs:
        after = pendulum.parse(run["run_after"]).in_timezone(SHANGHAI)
        day_end = after.start_of("day")  # the last whole Shanghai day before the run was created
        for stream in ("orders", "after_sales"):
            found = xcom(deployment, run, f"reconcile_{stream}", key="reconciliation")
            window = (pendulum.parse(found["window_start"]), pendulum.parse(found["window_end"]))
            assert window == (day_end.subtract(days=1), day_end), (run["run_type"], found)
            assert found["ok"] and found["api_count"] == found["target_count"], found
        day = {"window_start": window[0].isoformat(), "window_end": window[1].isoformat()}
        expected = {o["order_id"] for o in orders if in_window(o["update_time"], day)}
        orders_found = xcom(deployment, run, "reconcile_orders", key="reconciliation")
        assert orders_found["api_count"] == len(expected) > 0, (run["run_type"], orders_found)
