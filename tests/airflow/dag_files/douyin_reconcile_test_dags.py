"""A reconciliation run through ``dag.test()``: the task stores its result through the real Task SDK
(XCom, Variable) and fails on a mismatch, calling its ``on_failure_callback``."""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_douyin.operators.reconcile import DouyinReconcileOperator


def record_failure(context) -> None:
    """Writes what an alert would send where the test can read it."""
    ti = context["ti"]
    found = ti.xcom_pull(task_ids=ti.task_id, key="reconciliation")
    with open(os.environ["DOUYIN_TEST_ALERT_FILE"], "w") as alert:
        json.dump({"exception": str(context.get("exception")), "counts": found["counts"]}, alert)


with DAG(
    "douyin_test_reconcile",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"window_start": None, "window_end": None, "sql_conn_id": "douyin_test_sqlite"},
) as dag:
    DouyinReconcileOperator(
        task_id="reconcile_orders",
        stream="orders",
        sql_conn_id="{{ params.sql_conn_id }}",
        window_start="{{ params.window_start }}",
        window_end="{{ params.window_end }}",
        on_failure_callback=record_failure,
    )
