"""Runs without a logical date under a real deployment: scheduler, DAG processor, triggerer, API server.

`airflow dags trigger <dag>` and a REST run with ``"logical_date": null`` have no data
interval, so the example DAGs' templates must render without one and the operators read
from their watermark. The harness runs LocalExecutor on a throwaway PostgreSQL metadata
database, the way the DAGs are deployed, with every port picked free.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from airflow_provider_douyin.sandbox import (
    SANDBOX_CLIENT_KEY,
    SANDBOX_CLIENT_SECRET,
    SandboxServer,
)
from tests.airflow.deployment import (
    deployment_env,
    free_port,
    postgres_database,
    shop_connection,
    stop_services,
)
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


@pytest.fixture
def metadata_db() -> Iterator[str]:
    with postgres_database("h_airflow") as url:
        yield url


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    logs: Path
    warehouse: Path
    session: requests.Session
    sandbox: SandboxServer

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    def api(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def service_logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.out")))


@pytest.fixture
def deployment(tmp_path: Path, metadata_db: str, douyin_sandbox_factory) -> Iterator[Deployment]:
    sandbox = douyin_sandbox_factory(orders=400, seed=5)
    api_port = free_port()
    home, logs, warehouse = tmp_path / "home", tmp_path / "services", tmp_path / "warehouse.db"
    logs.mkdir()
    env = deployment_env(
        home,
        metadata_db,
        api_port,
        **{
            "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT": shop_connection(sandbox.url, SHOP_ID),
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
        },
    )
    deployment = Deployment(f"http://127.0.0.1:{api_port}", env, logs, warehouse, requests.Session(), sandbox)
    deployment.airflow("db", "migrate")
    for pool, slots in (("douyin_api", 4), ("douyin_open_api", 4), ("douyin_token", 1)):
        deployment.airflow("pools", "set", pool, str(slots), "Douyin")
    services = []
    # The triggerer runs the settlements DAG's deferred sensor.
    commands = (["api-server", "--port", str(api_port)], ["scheduler"], ["dag-processor"], ["triggerer"])
    for command in commands:
        out = (logs / f"{command[0]}.out").open("w")
        services.append(
            subprocess.Popen(
                [sys.executable, "-m", "airflow", *command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        token = wait_for(lambda: api_token(deployment.url), 120, "the API server", deployment)
        deployment.session.headers["Authorization"] = f"Bearer {token}"
        yield deployment
    finally:
        stop_services(services)


def api_token(url: str) -> str | None:
    try:
        response = requests.get(f"{url}/auth/token", timeout=5)
    except requests.ConnectionError:
        return None
    return response.json()["access_token"] if response.status_code == 201 else None


def wait_for(probe, seconds: float, what: str, deployment: Deployment):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n{deployment.service_logs()}")


def dag_parsed(deployment: Deployment, dag_id: str) -> bool:
    response = deployment.session.get(f"{deployment.url}/api/v2/dags/{dag_id}", timeout=10)
    return response.status_code == 200


def test_runs_without_a_logical_date_succeed(deployment: Deployment):
    runs: list[tuple[str, str]] = []
    for dag_id in DAGS:
        wait_for(
            lambda dag_id=dag_id: dag_parsed(deployment, dag_id), 120, f"{dag_id} to be parsed", deployment
        )
        deployment.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        deployment.airflow("dags", "trigger", dag_id, "--run-id", f"cli_{dag_id}")
        cli_run = deployment.api("GET", f"/dags/{dag_id}/dagRuns/cli_{dag_id}")
        rest_run = deployment.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        for run in (cli_run, rest_run):
            assert run["logical_date"] is None, run
            runs.append((dag_id, run["dag_run_id"]))

    def task_instances(dag_id: str, run_id: str) -> list[dict]:
        return deployment.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def finished_states() -> dict[tuple[str, str], str] | None:
        """Every run's state once all finished, or as soon as a task waits for a retry."""
        states = {
            (dag_id, run_id): deployment.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            for dag_id, run_id in runs
        }
        if all(state in ("success", "failed") for state in states.values()):
            return states
        retrying = [run for run in runs if any(ti["state"] == "up_for_retry" for ti in task_instances(*run))]
        return {run: "up_for_retry" if run in retrying else states[run] for run in runs} if retrying else None

    finished = wait_for(finished_states, 240, "the manual runs to finish", deployment)
    failed = {run: state for run, state in finished.items() if state != "success"}
    assert not failed, f"{failed}\n{task_logs(deployment, failed)}"
    # A retry would hide a first attempt that failed to render its templates.
    retried = [
        (dag_id, ti["task_id"], ti["try_number"])
        for dag_id, run_id in runs
        for ti in task_instances(dag_id, run_id)
        if ti["try_number"] != 1
    ]
    assert not retried, f"{retried}\n{task_logs(deployment, retried)}"

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
    landed = {
        str(row[0])
        for row in sqlite3.connect(deployment.warehouse).execute("SELECT order_id FROM douyin_orders")
    }
    expected = {
        str(order["order_id"])
        for order in deployment.sandbox.truth("orders", shop_id=SHOP_ID)
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


def task_logs(deployment: Deployment, runs) -> str:
    """The task logs of the DAGs named in ``runs``, tails only."""
    dag_ids = {run[0] for run in runs}
    home = Path(deployment.env["AIRFLOW_HOME"]) / "logs"
    logs = (p for dag_id in dag_ids for p in sorted(home.glob(f"dag_id={dag_id}/**/*.log")))
    return "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in logs)[-20000:]
