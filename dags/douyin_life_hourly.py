"""Hourly, incremental: 抖音来客 (life-service) orders with their vouchers, verifications and refunds,
plus the online deals.

Needs a ``douyin_open`` connection (``douyin_open_default``) with the app's client_key and secret and
the merchant's ``account_id``; these APIs use the app's client token, so no user authorization is
involved. Each run reads its data interval (one hour, Asia/Shanghai) minus a 10-minute lookback;
upserts keyed by order, voucher, verification and refund id, guarded by their update times, make
the overlap and any rerun harmless. The deals are a snapshot of what is online now.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG
from douyin_common import DEFAULT_ARGS, START_DATE, WINDOW_PARAMS, cron, land

with DAG(
    dag_id="douyin_life_hourly",
    schedule=cron("10 * * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params=WINDOW_PARAMS,
    tags=["douyin", "life-services"],
    doc_md=__doc__,
):
    for stream in ("life_orders", "life_verify_records", "life_refunds"):
        land(stream, lookback=timedelta(minutes=10))
    land("life_products")
