"""A one-task DAG the watermark and transaction tests run (and kill) in a subprocess."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_douyin.operators.transfer import DouyinToSqlOperator

with DAG(
    "douyin_test_watermark",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"window_start": None, "window_end": None},
) as watermark_dag:
    # Small flushes and few workers, so a run is still landing when the test kills it.
    DouyinToSqlOperator(
        task_id="orders_to_postgres",
        stream="orders",
        sql_conn_id="douyin_test_postgres",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        safety_lag=0,
        max_workers=2,
        batch_rows=300,
    )
