"""Near-real-time orders, after-sales and products from Doudian message pushes.

The push receiver (mounted in the API server, or ``douyin-push serve`` in front of it) stores each
signed push before acking it. The ``douyin_push_messages`` asset's watcher hands new messages out
in batches as asset events; each run re-reads the records they name (``order.orderDetail``,
``afterSale.Detail``, ``product.detail``) and upserts them into the same tables as
``douyin_orders_hourly``, guarded by ``update_time``, so a late or replayed push never overwrites
a newer row. Webhooks of the ``douyin_open_default`` app refresh the 抖音来客 order they name
(``douyin_life_orders``). A record that cannot be read is retried by the watcher after a backoff and parked
with its reason after five attempts. The hourly DAG stays the backstop for pushes that never come.

Set ``DOUYIN_PUSH_STORE_CONN_ID`` (or ``[douyin] push_store_conn_id``) to the SQL connection
holding the message tables, the same one the receiver uses; usually the warehouse.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Asset, AssetWatcher, task
from douyin_common import API_POOL, OPEN_CONN_ID, SHOP_CONN_ID, START_DATE, WAREHOUSE_CONN_ID

from airflow_provider_douyin.triggers.push import DouyinPushMessageTrigger

STORE_CONN_ID = os.environ.get("DOUYIN_PUSH_STORE_CONN_ID") or None

push_messages = Asset(
    "douyin_push_messages",
    watchers=[
        AssetWatcher(
            name="douyin_push_watcher",
            trigger=DouyinPushMessageTrigger(
                conn_ids=[SHOP_CONN_ID, OPEN_CONN_ID], store_conn_id=STORE_CONN_ID
            ),
        )
    ],
)

with DAG(
    dag_id="douyin_orders_realtime",
    schedule=[push_messages],
    start_date=START_DATE,
    catchup=False,
    default_args={"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["douyin", "orders", "push"],
    doc_md=__doc__,
):

    @task(pool=API_POOL, inlets=[push_messages])
    def land_pushed_records(triggering_asset_events=None) -> dict:
        from airflow_provider_douyin.operators.push import batches_of, land_push_batches

        events = triggering_asset_events[push_messages] if triggering_asset_events else []
        return land_push_batches(
            batches_of(events), target_conn_id=WAREHOUSE_CONN_ID, store_conn_id=STORE_CONN_ID
        )

    land_pushed_records()
