"""DAGs that tests run through ``dag.test()`` against a sandbox.

``dag.test()`` re-parses the DAG from its file, which must sit in the configured DAGs
folder (the test suite points that here), so these are module-level DAGs driven by
``params`` and templated fields rather than built inside the tests.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.operators.tokens import DouyinTokenRefreshOperator
from airflow_provider_douyin.operators.transfer import (
    DouyinToSqlOperator,
    DouyinToStorageOperator,
    stream_asset,
)
from airflow_provider_douyin.sensors.shop import (
    DouyinLowStockSensor,
    DouyinOrdersSensor,
    DouyinSettlementSensor,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")
SENSOR = {"poke_interval": 1.0, "timeout": 8.0, "soft_fail": True}

with DAG(
    "douyin_test_sensors_deferrable",
    schedule=None,
    start_date=START,
    params={
        "window_start": None,
        "window_end": None,
        "settlement_date": None,
        "threshold": 10,
    },
) as sensors_deferrable:
    DouyinOrdersSensor(
        task_id="orders",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        order_statuses=[5],
        deferrable=True,
        **SENSOR,
    )
    DouyinSettlementSensor(
        task_id="settlement",
        settlement_date="{{ params.settlement_date }}",
        not_before=timedelta(0),
        deferrable=True,
        **SENSOR,
    )
    DouyinLowStockSensor(task_id="low_stock", threshold="{{ params.threshold }}", deferrable=True, **SENSOR)

with DAG(
    "douyin_test_orders_reschedule",
    schedule=None,
    start_date=START,
    params={
        "window_start": None,
        "window_end": None,
    },
) as orders_reschedule:
    DouyinOrdersSensor(
        task_id="orders",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        mode="reschedule",
        **SENSOR,
    )

with DAG("douyin_test_tokens", schedule=None, start_date=START) as tokens:

    @task
    def read_with_stored_token() -> int:
        """A second task reuses the pair the first one stored in the Variable."""
        return int(DouyinShopHook().call("product.listV2", {"page": 1, "size": 1})["total"])

    DouyinTokenRefreshOperator(task_id="refresh", force=True) >> read_with_stored_token()

with DAG(
    "douyin_test_transfers",
    schedule=None,
    start_date=START,
    params={
        "window_start": None,
        "window_end": None,
        "parts": 3,
        "path": None,
    },
) as transfers:

    @task
    def windows(params: dict) -> list[dict]:
        """Split the requested window into parts, one mapped task instance each."""
        start = pendulum.parse(params["window_start"])
        step = (pendulum.parse(params["window_end"]) - start) / params["parts"]
        return [
            {
                "window_start": (start + step * i).isoformat(),
                "window_end": (start + step * (i + 1)).isoformat(),
            }
            for i in range(params["parts"])
        ]

    # partial() does not run __init__ at parse time, so mapped tasks name their outlet explicitly.
    DouyinToSqlOperator.partial(
        task_id="orders_to_sql",
        stream="orders",
        sql_conn_id="douyin_test_target",
        safety_lag=0,
        outlets=[stream_asset("orders")],
    ).expand_kwargs(windows())
    DouyinToStorageOperator(
        task_id="orders_to_storage",
        stream="orders",
        path="{{ params.path }}",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        safety_lag=0,
    )

with DAG(
    "douyin_test_low_stock_reschedule",
    schedule=None,
    start_date=START,
    params={"threshold": 10},
) as low_stock_reschedule:
    DouyinLowStockSensor(
        task_id="low_stock",
        threshold="{{ params.threshold }}",
        mode="reschedule",
        poke_interval=1.0,
        timeout=90.0,
    )
