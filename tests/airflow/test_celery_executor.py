"""The example DAGs on CeleryExecutor: two workers in separate processes share one app's QPS budget.

A real deployment (scheduler, DAG processor, API server) on a throwaway PostgreSQL metadata
database, Redis as the broker and the Celery result backend in PostgreSQL; two ``airflow celery
worker`` processes of concurrency 2. The sandbox serves three shops of one app; every shop's
connection paces through the same ``rate_limit_url``. ``douyin_orders_hourly`` lands the first shop
in three runs, ``douyin_shops_hourly`` all three shops in one run of mapped tasks; the warehouse
(PostgreSQL) must then hold exactly the sandbox's truth of every shop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.deployment import (
    CELERY_REDIS,
    Deployment,
    fresh_app,
    shop_env,
    start_deployment,
    warehouse_rows,
)
from tests.conftest import SECRET_PATTERNS
from tests.dbs import _unavailable

pytestmark = pytest.mark.timeout(900)

SHANGHAI = timezone(timedelta(hours=8))
DAYS = 2
WORKERS = ("worker-1", "worker-2")
ORDERS_DAG, SHOPS_DAG = "douyin_orders_hourly", "douyin_shops_hourly"


def celery_services_available() -> None:
    """Skip without the Celery provider or the broker's Redis; under CI=true, fail instead."""
    try:
        import airflow.providers.celery.executors.celery_executor  # noqa: F401
        import redis

        redis.Redis.from_url(CELERY_REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:  # the provider missing or broken (celery>=5.7), Redis down
        _unavailable(f"CeleryExecutor cannot run here: {exc!r}")


@pytest.fixture
def celery(tmp_path: Path, metadata_db: str, warehouse_db: str, douyin_sandbox_factory) -> Iterator[tuple]:
    celery_services_available()
    app = fresh_app()
    history_end = int(time.time()) // 3600 * 3600 - 3600
    sandbox = douyin_sandbox_factory(
        orders=120, shops=3, days=DAYS, seed=11, now=history_end, qps_limit=10, extra_apps=dict([app])
    )
    env = shop_env(sandbox.url, sandbox.shop_ids, app, warehouse_db, qps=10)
    pools = {"douyin_api": 4}
    with start_deployment(tmp_path, metadata_db, executor="CeleryExecutor", env=env, pools=pools) as deployed:
        for name in WORKERS:
            deployed.start_celery_worker(name, concurrency=2)
        for name in WORKERS:
            log = deployed.logs / f"{name}.out"
            deployed.wait_for(lambda log=log: " ready." in log.read_text(), 180, f"Celery {name}")
        yield deployed, sandbox, history_end


def trigger(deployment: Deployment, dag_id: str, start: int, end: int) -> str:
    conf = {
        k: datetime.fromtimestamp(t, SHANGHAI).isoformat()
        for k, t in (("window_start", start), ("window_end", end))
    }
    run = deployment.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    return run["dag_run_id"]


def test_two_celery_workers_land_every_shop_exactly(celery, warehouse_db: str):
    deployment, sandbox, history_end = celery
    start, end = history_end - DAYS * 86400 - 3600, history_end + 1
    for dag_id in (ORDERS_DAG, SHOPS_DAG):
        deployment.wait_for(lambda d=dag_id: deployment.dag_parsed(d), 180, f"{dag_id} to be parsed")
        deployment.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    # The first shop in three consecutive windows, every shop over the whole history at once.
    thirds = [start + (end - start) * i // 3 for i in range(4)]
    runs = [(ORDERS_DAG, trigger(deployment, ORDERS_DAG, thirds[i], thirds[i + 1])) for i in range(3)]
    runs.append((SHOPS_DAG, trigger(deployment, SHOPS_DAG, start, end)))

    def finished() -> dict[tuple[str, str], list[dict[str, Any]]] | None:
        """Every run's task instances once all runs finished, or as soon as a task waits for a retry."""
        # Run states before task instances: a run is finished only once its tasks are, so task
        # instances read after every run finished are final (read before, one may still be running).
        states = [deployment.api("GET", f"/dags/{d}/dagRuns/{r}")["state"] for d, r in runs]
        tis = {run: deployment.task_instances(*run) for run in runs}
        retrying = any(ti["state"] == "up_for_retry" for run_tis in tis.values() for ti in run_tis)
        return tis if retrying or all(s in ("success", "failed") for s in states) else None

    tis = deployment.wait_for(finished, 600, "the runs to finish")
    every_ti = [(run[0], ti) for run, run_tis in tis.items() for ti in run_tis]
    not_ok = [
        (d, ti["task_id"], ti["map_index"], ti["state"], ti["try_number"])
        for d, ti in every_ti
        if ti["state"] != "success" or ti["try_number"] != 1
    ]
    assert not not_ok, (
        f"{not_ok}\n{deployment.task_logs({d for d, *_ in not_ok})}\n{deployment.service_logs()}"
    )
    # 6 orders-DAG tasks, and the shop list plus one orders and one after-sales task per shop.
    assert len(every_ti) == 6 + 1 + 2 * len(sandbox.shop_ids)
    assert {ti["hostname"] for _, ti in every_ti} == set(WORKERS)

    landed = warehouse_rows(warehouse_db)
    for shop_id in sandbox.shop_ids:
        truth = {str(o["order_id"]): o["update_time"] for o in sandbox.truth("orders", shop_id=shop_id)}
        assert truth and landed["orders"].get(shop_id) == truth, shop_id
    truth_orders = [o for shop_id in sandbox.shop_ids for o in sandbox.truth("orders", shop_id=shop_id)]
    truth_items = {str(item["order_id"]) for o in truth_orders for item in o["sku_order_list"]}
    assert landed["order_items"] == truth_items
    truth_after_sales = {
        str(a["aftersale_info"]["aftersale_id"])
        for shop_id in sandbox.shop_ids
        for a in sandbox.truth("after_sales", shop_id=shop_id)
    }
    assert truth_after_sales and landed["after_sales"] == truth_after_sales

    # Not one answer but success and throttling: no auth failure, no token error, nothing refused.
    codes = sandbox.stats()["responses_by_code"]
    assert {code for code in codes if not code.startswith(("10000", "60000"))} == set(), codes

    home_logs = Path(deployment.env["AIRFLOW_HOME"]) / "logs"
    for log_file in [*home_logs.rglob("*.log*"), *deployment.logs.glob("*.out")]:
        text = log_file.read_text(errors="replace")
        leaked = [pattern.pattern for pattern in SECRET_PATTERNS if pattern.search(text)]
        assert not leaked, f"{log_file} shows a secret: {leaked}"
