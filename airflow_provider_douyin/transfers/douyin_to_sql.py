"""Land a Doudian stream in any common-sql database, an order and its items in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_douyin.landing.forked import ForkedSink
from airflow_provider_douyin.landing.live_rooms import derives_live_rooms
from airflow_provider_douyin.landing.reconcile import SqlReconcileTarget
from airflow_provider_douyin.landing.sinks import SqlStreamSink, open_sql_sink
from airflow_provider_douyin.streams.catalog import Stream
from airflow_provider_douyin.streams.windows import Window
from airflow_provider_douyin.transfers.base import BaseDouyinTransferOperator
from airflow_provider_douyin.transfers.lineage import TableDataset, sql_table_dataset


class DouyinToSqlOperator(BaseDouyinTransferOperator):
    """Upsert a stream into any common-sql database: ``douyin_<table>`` keyed by the API's ids.

    A row is never replaced by an older version, so reruns, overlapping windows and
    backfills in any order converge on the same tables.

    :param stream: ``orders``, ``products``, ``after_sales``, ``settlements`` or ``account_flows``.
    :param sql_conn_id: any connection whose hook is a ``DbApiHook`` (sqlite, postgres, mysql, ...).
    :param table_prefix: prefix of the landed tables.
    :param live_rooms: the ``orders`` and ``after_sales`` streams also keep ``<prefix>live_rooms`` and
        ``<prefix>live_room_products`` (sales per live room, see the README) equal to the landed
        orders, recomputing the rooms each window touches; ``False`` turns that off.
    :param forked_landing: upsert in a child process forked for the sync (POSIX), so the task's own
        process spends its CPU on reading: at QPS 50 landing took ~40% of it. Each flush is still one
        transaction, and the task succeeds only after the child committed them all. ``False`` lands
        in the task's process.
    :param window_start: templated; unset ("", "None") means the run's ``data_interval_start``, and
        without a non-empty interval the stored watermark. Template it as
        ``"{{ params.window_start }}"``, not ``"{{ params.window_start or data_interval_start }}"``:
        a run without a logical date (``airflow dags trigger``, REST ``logical_date: null``) has no
        ``data_interval_start`` and that template raises ``UndefinedError``.
    :param window_end: templated, like ``window_start``.
    :param lookback: re-read this much before the window start to catch late-visible updates.
    :param safety_lag: never read closer to now than this. Settlements and fund flows are also never
        read past their publication horizon (day D is final at D+1 15:00 Asia/Shanghai); a window
        beyond it is read up to the horizon and only that part is recorded done.
    :param initial_window: how far back the first watermark-driven run starts.
    :param max_workers: concurrent requests; the connection's ``qps`` sets the pace. ``None`` (the
        default): enough to fill that ``qps`` at round trips up to 300 ms, at least 8, at most 64.
    :param reconcile: after landing, reconcile the window with the API (``orders``, ``after_sales``)
        and fail the task, naming the keys, when a row is missing, extra or stale; the window is
        then not recorded done. The result goes to the XCom ``reconciliation``, the asset event's
        extra and the Variable ``douyin_reconcile__<conn>__<stream>__<sql_conn_id>.<table_prefix>``.
    """

    template_fields: Sequence[str] = (
        *BaseDouyinTransferOperator.template_fields,
        "sql_conn_id",
        "table_prefix",
    )

    def __init__(
        self,
        *,
        sql_conn_id: str,
        table_prefix: str = "douyin_",
        live_rooms: bool = True,
        forked_landing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id
        self.table_prefix = table_prefix
        self.live_rooms = live_rooms
        self.forked_landing = forked_landing

    @property
    def target_id(self) -> str:
        return f"{self.sql_conn_id}.{self.table_prefix}"

    def open_sink(self, stream: Stream, window: Window | None) -> SqlStreamSink | ForkedSink:
        db_hook = BaseHook.get_hook(self.sql_conn_id)
        tables = [b.table for b in stream.tables]
        return open_sql_sink(
            db_hook,
            tables,
            table_prefix=self.table_prefix,
            live_rooms=self.live_rooms and derives_live_rooms(t.name for t in tables),
            forked=self.forked_landing,
        )

    def lineage_target(self) -> TableDataset:
        return sql_table_dataset(BaseHook.get_hook(self.sql_conn_id), self.table_prefix)

    def reconcile_target(self, stream: Stream) -> SqlReconcileTarget:
        db_hook = BaseHook.get_hook(self.sql_conn_id)
        return SqlReconcileTarget(db_hook, stream.root, table_prefix=self.table_prefix)
