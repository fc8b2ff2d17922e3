"""Settings shared by the example DAGs: change the landing target here, in one place.

* SQLite (default): the ``douyin_warehouse`` connection, e.g.
  ``AIRFLOW_CONN_DOUYIN_WAREHOUSE='{"conn_type": "sqlite", "host": "/data/douyin.db"}'``.
* PostgreSQL or MySQL/MariaDB: point the same connection id at your database, e.g.
  ``AIRFLOW_CONN_DOUYIN_WAREHOUSE='{"conn_type": "postgres", "host": "db", "login": "etl",
  "password": "...", "schema": "warehouse"}'`` — the operators pick the right upsert dialect.
* Object storage: set ``DOUYIN_LANDING_PATH=s3://aws_default@my-bucket/douyin`` (or ``file://``,
  ``gs://``...) and the DAGs write JSON Lines (gzip) through ``DouyinToStorageOperator`` instead.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import BaseOperator, Param, XComArg
from airflow.sdk.definitions.mappedoperator import MappedOperator

from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.transfers.douyin_to_sql import DouyinToSqlOperator
from airflow_provider_douyin.transfers.douyin_to_storage import DouyinToStorageOperator

try:  # Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable

SHOP_CONN_ID = "douyin_shop_default"
OPEN_CONN_ID = "douyin_open_default"
"""The Douyin Open Platform connection: the 抖音来客 life-service streams (extra ``account_id``) and the
authorized account's own data, live rooms included (extra ``open_id`` and a `douyin-oauth exchange`)."""
WAREHOUSE_CONN_ID = os.environ.get("DOUYIN_WAREHOUSE_CONN_ID", "douyin_warehouse")
LANDING_PATH = os.environ.get("DOUYIN_LANDING_PATH")
TIMEZONE = "Asia/Shanghai"
START_DATE = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)

# A pool sized to the app's QPS budget keeps parallel runs and backfills from throttling
# each other: `airflow pools set douyin_api 4 "Doudian API"`; the Open Platform app has its own
# budget: `airflow pools set douyin_open_api 4 "Douyin Open Platform API"`.
API_POOL = "douyin_api"
OPEN_API_POOL = "douyin_open_api"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
}

# How close to "now" a sync may read: records updated in the last moments may not be
# searchable yet, and the next run's lookback re-reads that tail.
SAFETY_LAG = timedelta(seconds=float(os.environ.get("DOUYIN_SAFETY_LAG_S", "120")))

# A run may override its window in the trigger form or with `--conf`. Unset, the templates
# render "None" and the operator reads the run's data interval, or, in a run without a logical
# date (`airflow dags trigger`, REST `"logical_date": null`), its stored watermark. A template
# that names `data_interval_start` itself would fail to render in such a run.
_WINDOW_FORMAT = "ISO 8601 with an offset, e.g. 2026-11-01T00:00:00+08:00; empty = the run's data interval"
WINDOW_PARAMS: dict[str, Param] = {
    "window_start": Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Window start (inclusive)",
        description=f"Read records updated from this time. {_WINDOW_FORMAT}.",
    ),
    "window_end": Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Window end (exclusive)",
        description=f"Read records updated before this time. {_WINDOW_FORMAT}.",
    ),
}
WINDOW_START = "{{ params.window_start }}"
WINDOW_END = "{{ params.window_end }}"


def cron(expression: str) -> CronDataIntervalTimetable:
    """Real data intervals in Shanghai time: Airflow 3's default cron timetable has zero-width ones."""
    return CronDataIntervalTimetable(expression, timezone=TIMEZONE)


LANDING_TARGET = f"{LANDING_PATH or WAREHOUSE_CONN_ID}.douyin_"
"""Where ``land`` lands, as the transfers name it in their watermarks (their ``target_id``)."""


def _is_open_platform(stream: str) -> bool:
    return get_stream(stream).platform == "douyin_open"


def _landing(stream: str, kwargs: dict[str, Any]) -> tuple[type[BaseOperator], dict[str, Any]]:
    """The operator class and arguments that land ``stream`` into the configured target."""
    common: dict[str, Any] = {
        "task_id": f"land_{stream}",
        "stream": stream,
        "window_start": WINDOW_START,
        "window_end": WINDOW_END,
        "pool": OPEN_API_POOL if _is_open_platform(stream) else API_POOL,
        "safety_lag": SAFETY_LAG,
        **kwargs,
    }
    if LANDING_PATH:
        return DouyinToStorageOperator, {"path": LANDING_PATH, **common}
    return DouyinToSqlOperator, {"sql_conn_id": WAREHOUSE_CONN_ID, **common}


def land(stream: str, **kwargs: Any) -> BaseOperator:
    """Land one stream into the configured target for the run's window."""
    operator, common = _landing(stream, kwargs)
    return operator(douyin_conn_id=OPEN_CONN_ID if _is_open_platform(stream) else SHOP_CONN_ID, **common)


def land_each_shop(stream: str, shop_conn_ids: XComArg, **kwargs: Any) -> MappedOperator:
    """Land one stream for every shop connection id in ``shop_conn_ids``: one mapped task per shop."""
    operator, common = _landing(stream, kwargs)
    return operator.partial(**common).expand(douyin_conn_id=shop_conn_ids)
