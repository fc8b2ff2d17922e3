"""Hourly, incremental: orders with their order items, and after-sales.

Each run reads its data interval (one hour, Asia/Shanghai) minus a 10-minute lookback,
so updates that became searchable late are re-read; upserts keyed by order id and
guarded by ``update_time`` make the overlap harmless. Backfill any range with
``airflow backfill create --dag-id douyin_orders_hourly --from-date ... --to-date ...``
(Doudian only searches the last 90 days).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG
from douyin_common import DEFAULT_ARGS, START_DATE, WINDOW_PARAMS, cron, land

with DAG(
    dag_id="douyin_orders_hourly",
    schedule=cron("5 * * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params=WINDOW_PARAMS,
    tags=["douyin", "orders"],
    doc_md=__doc__,
):
    land("orders", lookback=timedelta(minutes=10))
    land("after_sales", lookback=timedelta(minutes=10))
