"""Daily reconciliation (对账) of yesterday's orders and after-sales with the API.

Each run covers one Shanghai calendar day, ``[D 00:00, D+1 00:00)`` by update time. It is
created at midnight and first sleeps in the triggerer for an hour, so the hourly landing of
D's last hour (``douyin_orders_hourly``, which starts at 00:05) has committed. Then, per stream,
``DouyinReconcileOperator`` compares the API's count with the warehouse's, lists the keys where
they differ (or the whole day when it is small), and names each order or after-sale missing,
extra or stale in the warehouse. Records updated since they were landed belong to a later day
now and are not reported. A mismatch fails the task after storing the result (the task's XCom
``reconciliation`` and the Variable ``douyin_reconcile__<conn>__<stream>__<target>``); the
``on_failure_callback`` below is where to alert. A manual run may check any window
(``--conf '{"window_start": ..., "window_end": ...}'``); it also waits an hour first.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG
from douyin_common import (
    API_POOL,
    DEFAULT_ARGS,
    SHOP_CONN_ID,
    START_DATE,
    WAREHOUSE_CONN_ID,
    WINDOW_END,
    WINDOW_PARAMS,
    WINDOW_START,
    cron,
)

from airflow_provider_douyin.operators.reconcile import DouyinReconcileOperator

log = logging.getLogger(__name__)


def alert_reconciliation_failed(context) -> None:
    """Replace with Slack/email/SMS: the XCom holds every key found, the exception the first ones."""
    ti = context["ti"]
    found = ti.xcom_pull(task_ids=ti.task_id, key="reconciliation") or {}
    log.error(
        "RECONCILIATION FAILED (%s): %s; counts %s",
        ti.task_id,
        context.get("exception"),
        found.get("counts"),
    )


with DAG(
    dag_id="douyin_reconcile_daily",
    schedule=cron("0 0 * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=WINDOW_PARAMS,
    tags=["douyin", "reconciliation"],
    doc_md=__doc__,
):
    after_the_last_hourly_landing = TimeDeltaSensor(
        task_id="after_the_last_hourly_landing", delta=timedelta(hours=1), deferrable=True
    )
    for stream in ("orders", "after_sales"):
        after_the_last_hourly_landing >> DouyinReconcileOperator(
            task_id=f"reconcile_{stream}",
            stream=stream,
            douyin_conn_id=SHOP_CONN_ID,
            sql_conn_id=WAREHOUSE_CONN_ID,
            window_start=WINDOW_START,
            window_end=WINDOW_END,
            pool=API_POOL,
            retries=0,  # a mismatch is a finding, not a transient error
            on_failure_callback=alert_reconciliation_failed,
        )
