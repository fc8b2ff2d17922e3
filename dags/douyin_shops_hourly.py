"""Hourly orders and after-sales of many shops through one app (service provider / tool app mode).

A service provider's app is authorised by many shops; each shop is one ``douyin_shop`` connection
(the same app_key and app_secret, its own ``shop_id``, its own stored token). The Variable
``douyin_shop_conn_ids`` lists them as JSON, e.g. ``["douyin_shop_1001", "douyin_shop_1002"]``;
each run reads it and maps one task per shop and stream, so adding a shop is adding its connection
and its id to the list, with no change to this file. (Tasks can read a connection by id but cannot
list connections, hence the list.)

Every shop draws on the app's one QPS budget: give all the connections the same ``qps`` and the
same ``rate_limit_url`` (Redis), and the ``douyin_api`` pool may then run as many shops at once as
the workers have slots. The landed tables hold all shops; ``douyin_orders.shop_id`` tells them apart.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Variable, task
from douyin_common import DEFAULT_ARGS, START_DATE, WINDOW_PARAMS, cron, land_each_shop

SHOPS_VARIABLE = "douyin_shop_conn_ids"

with DAG(
    dag_id="douyin_shops_hourly",
    schedule=cron("5 * * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params=WINDOW_PARAMS,
    tags=["douyin", "orders", "shops"],
    doc_md=__doc__,
):

    @task(retries=0)
    def shop_connections() -> list[str]:
        """The shop connection ids this run syncs, from the ``douyin_shop_conn_ids`` Variable."""
        conn_ids = Variable.get(SHOPS_VARIABLE, default=None, deserialize_json=True)
        if not (isinstance(conn_ids, list) and conn_ids and all(isinstance(c, str) and c for c in conn_ids)):
            raise ValueError(
                f"Variable {SHOPS_VARIABLE} must be a JSON list of douyin_shop connection ids, "
                f'e.g. ["douyin_shop_1001", "douyin_shop_1002"]; got {conn_ids!r}'
            )
        if len(set(conn_ids)) != len(conn_ids):
            raise ValueError(f"Variable {SHOPS_VARIABLE} names a connection twice: {conn_ids!r}")
        return conn_ids

    shops = shop_connections()
    land_each_shop("orders", shops, lookback=timedelta(minutes=10))
    land_each_shop("after_sales", shops, lookback=timedelta(minutes=10))
