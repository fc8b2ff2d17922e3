"""Daily settlements (结算账单) and fund flows, gated on the T+1 settlement bill.

Doudian generates a day's settlement bill the next day and advises reading it after
15:00. The deferrable sensor waits in the triggerer, holding no worker slot, until the
bill for the run's day is published; then both finance streams land that day.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG
from douyin_common import API_POOL, DEFAULT_ARGS, SHOP_CONN_ID, START_DATE, WINDOW_PARAMS, cron, land

from airflow_provider_douyin.sensors.shop import DouyinSettlementSensor

with DAG(
    dag_id="douyin_settlements_daily",
    schedule=cron("0 16 * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={**WINDOW_PARAMS, "settlement_date": None},
    tags=["douyin", "finance"],
    doc_md=__doc__,
):
    bill_published = DouyinSettlementSensor(
        task_id="settlement_published",
        douyin_conn_id=SHOP_CONN_ID,
        # Empty means the day of the run's data interval (Asia/Shanghai).
        settlement_date="{{ params.settlement_date or '' }}",
        deferrable=True,
        poke_interval=timedelta(minutes=20),
        timeout=timedelta(hours=8),
        pool=API_POOL,
    )
    bill_published >> [
        land("settlements", lookback=timedelta(0)),
        land("account_flows", lookback=timedelta(0)),
    ]
