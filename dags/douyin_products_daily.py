"""Daily snapshot of products and SKUs with stock, plus a low-stock alert (库存预警).

``products`` is a full catalogue walk (``product.listV2`` cursor mode has no 10,000 cap)
with ``sku.list`` per product. The low-stock sensor then succeeds when any SKU is below
the threshold, and its callback alerts with the SKUs it found; when none is low it
gives up quietly at its timeout (``soft_fail``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DAG
from douyin_common import API_POOL, DEFAULT_ARGS, SHOP_CONN_ID, START_DATE, WINDOW_PARAMS, cron, land

from airflow_provider_douyin.sensors.shop import DouyinLowStockSensor

LOW_STOCK_THRESHOLD = 10

log = logging.getLogger(__name__)


def alert_low_stock(context) -> None:
    """Replace with Slack/email/SMS: the sensor's XCom names each SKU and its stock."""
    skus = context["ti"].xcom_pull(task_ids=context["ti"].task_id) or []
    lines = [f"sku {s['sku_id']} ({s['code']}): {s['stock_num']} left" for s in skus]
    log.warning("LOW STOCK: %d SKUs below %d\n%s", len(skus), LOW_STOCK_THRESHOLD, "\n".join(lines))


with DAG(
    dag_id="douyin_products_daily",
    schedule=cron("30 6 * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=WINDOW_PARAMS,
    tags=["douyin", "products"],
    doc_md=__doc__,
):
    snapshot = land("products")
    low_stock = DouyinLowStockSensor(
        task_id="low_stock",
        douyin_conn_id=SHOP_CONN_ID,
        threshold=LOW_STOCK_THRESHOLD,
        mode="reschedule",
        poke_interval=timedelta(minutes=30),
        timeout=timedelta(hours=6),
        soft_fail=True,
        pool=API_POOL,
        on_success_callback=alert_low_stock,
    )
    snapshot >> low_stock
