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
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pendulum
from airflow.sdk import BaseOperator, Param, XComArg
from airflow.sdk.definitions.mappedoperator import MappedOperator
from croniter import croniter

from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.windows import parse_datetime
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


class RunWindow(NamedTuple):
    start: datetime
    end: datetime


def last_interval(expression: str, before: datetime) -> RunWindow:
    """The last whole interval of ``cron(expression)`` that ends at or before ``before``."""
    moments = croniter(expression, pendulum.instance(before).in_timezone(TIMEZONE) + timedelta(seconds=1))
    end = moments.get_prev(datetime)
    return RunWindow(moments.get_prev(datetime), end)


def run_window(dag: Any, dag_run: Any, params: Mapping[str, Any]) -> RunWindow:
    """The window a run covers, for tasks that need one fixed window (a check, not a landing).

    The trigger form's ``window_start``/``window_end``, else the run's data interval, else, in a run
    without a logical date (`airflow dags trigger`, REST ``"logical_date": null``, which have no data
    interval), the DAG's last whole interval before the run was triggered: the one a scheduled run
    at that moment would cover. Templates call it as ``run_window(dag, dag_run, params)`` (the DAG's
    ``user_defined_macros=RUN_WINDOW_MACROS``).
    """
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    if start is None or end is None or end <= start:
        start, end = last_interval(dag.timetable.expression, dag_run.run_after)
    return RunWindow(
        parse_datetime(params.get("window_start")) or pendulum.instance(start).in_timezone(TIMEZONE),
        parse_datetime(params.get("window_end")) or pendulum.instance(end).in_timezone(TIMEZONE),
    )


RUN_WINDOW_MACROS = {"run_window": run_window}
RUN_WINDOW_START = "{{ run_window(dag, dag_run, params).start.isoformat() }}"
RUN_WINDOW_END = "{{ run_window(dag, dag_run, params).end.isoformat() }}"


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
