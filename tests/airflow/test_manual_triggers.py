"""Runs without a logical date under a real deployment: scheduler, DAG processor, triggerer, API server.

`airflow dags trigger <dag>` and a REST run with ``"logical_date": null`` have no data
interval, so the example DAGs' templates must render without one and the operators read
from their watermark. The harness runs LocalExecutor on a throwaway PostgreSQL metadata
database, the way the DAGs are deployed, with every port picked free.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_douyin.sandbox import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_CLIENT_KEY,
    SANDBOX_CLIENT_SECRET,
)
from tests.airflow.deployment import start_deployment
from tests.conftest import SECRET_PATTERNS

pytestmark = pytest.mark.timeout(420)

SHOP_ID = 1000001
DAGS = (
    "douyin_orders_hourly",
    "douyin_life_hourly",
    "douyin_products_daily",
    "douyin_settlements_daily",
    "douyin_token_maintenance",
)
POOLS = {"douyin_api": 4, "douyin_open_api": 4, "douyin_token": 1}


@pytest.fixture
def local_deployment(tmp_path: Path, metadata_db: str, douyin_sandbox_factory) -> Iterator[tuple]:
    sandbox = douyin_sandbox_factory(orders=400, seed=5)
    warehouse = tmp_path / "warehouse.db"
    env = {
        "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT": json.dumps(
            {
                "conn_type": "douyin_shop",
                "host": sandbox.url,
                "login": SANDBOX_APP_KEY,
                "password": SANDBOX_APP_SECRET,
                "extra": {"shop_id": str(SHOP_ID), "qps": 50},
            }
        ),
        "AIRFLOW_CONN_DOUYIN_OPEN_DEFAULT": json.dumps(
            {
                "conn_type": "douyin_open",
                "host": sandbox.url,
                "login": SANDBOX_CLIENT_KEY,
                "password": SANDBOX_CLIENT_SECRET,
                "extra": {"account_id": sandbox.account_ids[0], "qps": 50},
            }
        ),
        "AIRFLOW_CONN_DOUYIN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "DOUYIN_SAFETY_LAG_S": "0",
    }
    # The triggerer runs the settlements DAG's deferred sensor.
    services = ("scheduler", "dag-processor", "triggerer")
    with start_deployment(tmp_path, metadata_db, env=env, pools=POOLS, services=services) as deployed:
        yield deployed, sandbox, warehouse


def test_runs_without_a_logical_date_succeed(local_deployment):
    deployment, sandbox, warehouse = local_deployment
    runs: list[tuple[str, str]] = []
    for dag_id in DAGS:
        deployment.wait_for(
            lambda dag_id=dag_id: deployment.dag_parsed(dag_id), 120, f"{dag_id} to be parsed"
        )
        deployment.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        deployment.airflow("dags", "trigger", dag_id, "--run-id", f"cli_{dag_id}")
        cli_run = deployment.api("GET", f"/dags/{dag_id}/dagRuns/cli_{dag_id}")
        rest_run = deployment.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        for run in (cli_run, rest_run):
            assert run["logical_date"] is None, run
            runs.append((dag_id, run["dag_run_id"]))

    def finished_states() -> dict[tuple[str, str], str] | None:
        """Every run's state once all finished, or as soon as a task waits for a retry."""
        states = {
            (dag_id, run_id): deployment.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            for dag_id, run_id in runs
        }
        if all(state in ("success", "failed") for state in states.values()):
            return states
        retrying = [
            run
            for run in runs
            if any(ti["state"] == "up_for_retry" for ti in deployment.task_instances(*run))
        ]
        return {run: "up_for_retry" if run in retrying else states[run] for run in runs} if retrying else None

    finished = deployment.wait_for(finished_states, 240, "the manual runs to finish")
    failed = {run: state for run, state in finished.items() if state != "success"}
    assert not failed, f"{failed}\n{deployment.task_logs({run[0] for run in failed})}"
    # A retry would hide a first attempt that failed to render its templates.
    retried = [
        (dag_id, ti["task_id"], ti["try_number"])
        for dag_id, run_id in runs
        for ti in deployment.task_instances(dag_id, run_id)
        if ti["try_number"] != 1
    ]
    assert not retried, f"{retried}\n{deployment.task_logs({run[0] for run in retried})}"

    # The orders runs read from the watermark: every order the sandbox updated inside the windows
    # they report landed, and nothing else.
    windows = [
        deployment.api(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/land_orders/xcomEntries/return_value"
        )["value"]
        for dag_id, run_id in runs
        if dag_id == "douyin_orders_hourly"
    ]
    assert len(windows) == 2
    landed = {str(row[0]) for row in sqlite3.connect(warehouse).execute("SELECT order_id FROM douyin_orders")}
    expected = {
        str(order["order_id"])
        for order in sandbox.truth("orders", shop_id=SHOP_ID)
        if any(in_window(order["update_time"], window) for window in windows)
    }
    assert expected and landed == expected

    # Task, trigger and service logs of a real deployment carry no app_secret and no token.
    home_logs = Path(deployment.env["AIRFLOW_HOME"]) / "logs"
    for log_file in [*home_logs.rglob("*.log*"), *deployment.logs.glob("*.out")]:
        text = log_file.read_text(errors="replace")
        leaked = [pattern.pattern for pattern in SECRET_PATTERNS if pattern.search(text)]
        assert not leaked, f"{log_file} shows a secret: {leaked}"


def in_window(epoch: int, xcom: dict) -> bool:
    from datetime import datetime

    start, end = (datetime.fromisoformat(xcom[k]).timestamp() for k in ("window_start", "window_end"))
    return start <= epoch < end
