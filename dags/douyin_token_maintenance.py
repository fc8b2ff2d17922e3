"""Keep the shop's and the Open Platform app's tokens alive (token maintenance).

Why: the access token lives 7 days and the refresh token 14. Refreshing inside the last
hour before access expiry rotates both (the old pair works for one more hour). A shop
that goes quiet and whose tokens nobody refreshes has a dead sync two weeks later and
needs a manual re-authorisation. This DAG refreshes every 30 minutes, which guarantees a
run inside every rotation hour; outside it Doudian returns the same pair, so the calls
are harmless.

Why a 1-slot pool and ``max_active_runs=1``: a concurrent refresh of the same token fails
(``isv.business-failed:31012``) and two writers could store different pairs. Create the
pool once: ``airflow pools set douyin_token 1 "Douyin token refresh (single owner)"``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG
from douyin_common import LANDING_TARGET, OPEN_CONN_ID, SHOP_CONN_ID, START_DATE, cron

from airflow_provider_douyin.operators.freshness import DouyinFreshnessCheckOperator
from airflow_provider_douyin.operators.tokens import DouyinTokenRefreshOperator

with DAG(
    dag_id="douyin_token_maintenance",
    schedule=cron("*/30 * * * *"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-engineering", "retries": 0},
    tags=["douyin", "maintenance"],
    doc_md=__doc__,
):
    refresh_shop = DouyinTokenRefreshOperator(
        task_id="refresh_tokens",
        douyin_conn_id=SHOP_CONN_ID,
        pool="douyin_token",
        execution_timeout=timedelta(minutes=5),
    )
    # The Open Platform app's client token (2 h) and, once `douyin-oauth exchange` stored one, the
    # user's refresh-token chain; its XCom warns when the authorization has a week or a renewal left.
    # Skipped in deployments without the connection.
    refresh_open = DouyinTokenRefreshOperator(
        task_id="refresh_open_tokens",
        douyin_conn_id=OPEN_CONN_ID,
        skip_if_missing=True,
        pool="douyin_token",
        execution_timeout=timedelta(minutes=5),
    )
    # Fails (naming the stream or connection) when a stream's data is older than its schedule
    # allows or a refresh chain has under 3 days left; runs after the refreshes, whatever they did.
    check = DouyinFreshnessCheckOperator(
        task_id="check_freshness",
        streams={
            SHOP_CONN_ID: ["orders", "after_sales", "settlements", "account_flows"],
            OPEN_CONN_ID: ["life_orders", "life_verify_records", "life_refunds"],
        },
        target=LANDING_TARGET,
        max_age=timedelta(hours=3),
        # Day D of bills and fund flows is published at D+1 15:00 (Asia/Shanghai).
        max_age_per_stream={"settlements": timedelta(hours=52), "account_flows": timedelta(hours=52)},
        token_conn_ids=[SHOP_CONN_ID, OPEN_CONN_ID],
        min_chain_days=3,
        trigger_rule="all_done",
    )
    [refresh_shop, refresh_open] >> check
