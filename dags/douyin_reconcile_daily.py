"""Daily reconciliation (对账) of yesterday's orders and after-sales with the API.

Each run covers one Shanghai calendar day, ``[D 00:00, D+1 00:00)`` by update time. It is
created at midnight and first sleeps in the triggerer until an hour after the day ends, so the
hourly landing of D's last hour (``douyin_orders_hourly``, which starts at 00:05) has committed
(``DOUYIN_RECONCILE_DELAY_S``, default 3600, changes that hour). Then, per stream,
``DouyinReconcileOperator`` compares the API's count with the warehouse's, lists the keys where
they differ (or the whole day when it is small), and names each order or after-sale missing,
extra or stale in the warehouse. Records updated since they were landed belong to a later day
now and are not reported. A mismatch fails the task after storing the result (the task's XCom
``reconciliation`` and the Variable ``douyin_reconcile__<conn>__<stream>__<target>``); the
``on_failure_callback`` below is where to alert. A run triggered without a logical date
(`airflow dags trigger`, the UI's Trigger, REST ``"logical_date": null``) checks the last whole
Shanghai day before it was triggered, the day a scheduled run would check; any run may check
another window (``--conf '{"window_start": ..., "window_end": ...}'``). A run waits only while its
window's end plus that hour is still ahead, so checking a past day starts at once.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG
from douyin_common import (
    API_POOL,
    DEFAULT_ARGS,
    RUN_WINDOW_END,
    RUN_WINDOW_MACROS,
    RUN_WINDOW_START,
    SHOP_CONN_ID,
    START_DATE,
    WAREHOUSE_CONN_ID,
    WINDOW_PARAMS,
    cron,
)

from airflow_provider_douyin.operators.reconcile import DouyinReconcileOperator

log = logging.getLogger(__name__)


class WaitUntil(DateTimeSensorAsync):
    """Sleeps in the triggerer until ``target_time``; succeeds at once when that has passed.

    ``DateTimeSensorAsync`` defers even then, and a trigger that fires at once can resume the task
    before the scheduler has seen it defer: the scheduler then fails that attempt ("finished with
    state success, but the task instance's state attribute is queued") and the run needs a retry.
    """

    def execute(self, context: Any) -> None:
        if datetime.now(timezone.utc) > self._moment:
            self.log.info("It is past %s: no wait", self._moment.isoformat())
            return None
        return super().execute(context)


AFTER_THE_LAST_HOURLY_LANDING = timedelta(seconds=float(os.environ.get("DOUYIN_RECONCILE_DELAY_S", "3600")))


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
    user_defined_macros={**RUN_WINDOW_MACROS, "after_landing": AFTER_THE_LAST_HOURLY_LANDING},
    tags=["douyin", "reconciliation"],
    doc_md=__doc__,
):
    after_the_last_hourly_landing = WaitUntil(
        task_id="after_the_last_hourly_landing",
        target_time="{{ (run_window(dag, dag_run, params).end + after_landing).isoformat() }}",
    )
    for stream in ("orders", "after_sales"):
        after_the_last_hourly_landing >> DouyinReconcileOperator(
            task_id=f"reconcile_{stream}",
            stream=stream,
            douyin_conn_id=SHOP_CONN_ID,
            sql_conn_id=WAREHOUSE_CONN_ID,
            window_start=RUN_WINDOW_START,
            window_end=RUN_WINDOW_END,
            pool=API_POOL,
            retries=0,  # a mismatch is a finding, not a transient error
            on_failure_callback=alert_reconciliation_failed,
        )
