"""Daily live-room report: each live session's sales beside its viewers, one Shanghai day per run.

Lands the day's shop orders and after-sales (``douyin_shop_default``) and the live-room viewer
figures of the shop's own broadcasting Douyin account (``douyin_open_default`` with extra
``open_id``, authorized once with ``douyin-oauth url`` / ``douyin-oauth exchange``), then rebuilds
``douyin_live_room_report``: per room, GMV and buyers from ``douyin_live_rooms`` (sales per room
from the sku orders) beside watching users, with buyer conversion (buyers / ``live_watch_ucnt_td``)
and GMV per watching user (fen).

Each run covers the 24 hours up to 00:30 Asia/Shanghai, when it starts (orders by update time, rooms
by start time). The platform marks a room's figures not ready while they may still grow (an evening
room that ended at 23:30 is not final at 00:30): those land with ``is_final`` 0, and the room figures
read one day of lookback, so the next run replaces them with the final ones and the report follows.
The report is rebuilt whole in one transaction, so reruns and backfills are harmless. Beside it the
run lands the account's videos, their daily and the account's daily series (last 30 days) and the
day's fan profile (these need the user's scope ``data.external.item`` for per-video data). It needs the
SQL warehouse (it is skipped when ``DOUYIN_LANDING_PATH`` sends the streams to object storage).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG
from douyin_common import DEFAULT_ARGS, LANDING_PATH, START_DATE, WAREHOUSE_CONN_ID, WINDOW_PARAMS, cron, land

from airflow_provider_douyin.landing.live_room_report import live_room_report_sql

with DAG(
    dag_id="douyin_live_daily",
    schedule=cron("30 0 * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=WINDOW_PARAMS,
    tags=["douyin", "live"],
    doc_md=__doc__,
):
    orders = land("orders", lookback=timedelta(minutes=10))
    # Each room's refund_amount comes from the after-sales landed beside its orders.
    after_sales = land("after_sales", lookback=timedelta(minutes=10))
    rooms = land("live_room_stats", lookback=timedelta(days=1))
    if not LANDING_PATH:
        live_room_report = SQLExecuteQueryOperator(
            task_id="live_room_report",
            conn_id=WAREHOUSE_CONN_ID,
            sql=live_room_report_sql(),
            autocommit=False,
            show_return_value_in_logs=False,
        )
        [orders, after_sales, rooms] >> live_room_report
    # The account's content and fans, once a day: snapshots (the last 30 days of daily series).
    for stream in ("videos", "video_daily", "account_daily", "fans_profile"):
        land(stream)
