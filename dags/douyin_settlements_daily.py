"""Daily settlements (结算账单) and fund flows, one Shanghai calendar day per run.

Doudian publishes day D's settlement bill on D+1 and advises reading it after 15:00.
Each run covers exactly one day, ``[D 00:00, D+1 00:00)`` Asia/Shanghai: it is created at
midnight, its deferrable sensor sleeps in the triggerer (no worker slot, no API call)
until D+1 15:00, checks that the bill is out, and then both finance streams read that
whole day by settle time (fund flows by posting time) with no lookback. Consecutive
runs tile the calendar, so every settled row is read by exactly one scheduled run, and
a backfill or retry of any day reads the same complete day again. A manual run without
a logical date reads from the stored watermark up to the latest published day.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param
from douyin_common import API_POOL, DEFAULT_ARGS, SHOP_CONN_ID, START_DATE, WINDOW_PARAMS, cron, land

from airflow_provider_douyin.sensors.shop import DouyinSettlementSensor

with DAG(
    dag_id="douyin_settlements_daily",
    schedule=cron("0 0 * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    params={
        **WINDOW_PARAMS,
        "settlement_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Settlement date",
            description="YYYY-MM-DD (Asia/Shanghai) whose bill to wait for; empty: the run's day, "
            "or the latest published day for a run without a logical date.",
        ),
    },
    tags=["douyin", "finance"],
    doc_md=__doc__,
):
    bill_published = DouyinSettlementSensor(
        task_id="settlement_published",
        douyin_conn_id=SHOP_CONN_ID,
        settlement_date="{{ params.settlement_date }}",
        deferrable=True,
        # Before 15:00 the sensor makes no call at all; after it, a late bill is asked for every 10 min
        # until 8 h after publication.
        poke_interval=timedelta(minutes=10),
        wait_after_publication=timedelta(hours=8),
        pool=API_POOL,
    )
    bill_published >> [
        land("settlements", lookback=timedelta(0)),
        land("account_flows", lookback=timedelta(0)),
    ]
