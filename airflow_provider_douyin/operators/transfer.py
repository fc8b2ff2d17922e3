"""Operators that land a Doudian stream into a SQL database or object storage.

Both share window resolution (data interval, else stored watermark), the concurrent
reader, the watermark that only advances after a commit, a small XCom and an asset
event per stream. Only the sinks differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseHook, BaseOperator

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.hooks.watermarks import VariableWatermark
from airflow_provider_douyin.landing.sinks import SqlTableSink, StorageTableSink
from airflow_provider_douyin.streams.catalog import Stream, get_stream
from airflow_provider_douyin.streams.sync import SyncResult, TableSink, run_sync
from airflow_provider_douyin.streams.windows import (
    Window,
    clamp_to_history,
    parse_datetime,
    resolve_sync_window,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

DOUYIN_PINK = "#fe2c55"


def stream_asset(stream: str) -> Asset:
    """The asset a stream's operators update; schedule downstream DAGs on it."""
    return Asset(name=f"douyin_{stream}", uri=f"douyin://streams/{stream}")


def _as_timedelta(value: timedelta | float | int | str) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


class _DouyinTransferOperator(BaseOperator):
    """Shared window, read and bookkeeping logic; subclasses provide the sinks."""

    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"
    template_fields: Sequence[str] = ("stream", "douyin_conn_id", "window_start", "window_end")

    def __init__(
        self,
        *,
        stream: str,
        douyin_conn_id: str = DouyinShopHook.default_conn_name,
        window_start: datetime | str | None = None,
        window_end: datetime | str | None = None,
        lookback: timedelta | float = timedelta(minutes=10),
        safety_lag: timedelta | float = timedelta(minutes=2),
        initial_window: timedelta | float = timedelta(days=1),
        max_workers: int = 8,
        batch_rows: int = 2_000,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [stream_asset(stream)])
        super().__init__(**kwargs)
        self.stream = stream
        self.douyin_conn_id = douyin_conn_id
        self.window_start = window_start
        self.window_end = window_end
        self.lookback = _as_timedelta(lookback)
        self.safety_lag = _as_timedelta(safety_lag)
        self.initial_window = _as_timedelta(initial_window)
        self.max_workers = max_workers
        self.batch_rows = batch_rows

    @property
    def target_id(self) -> str:
        """Names the landing target in the watermark key."""
        raise NotImplementedError

    def open_sinks(self, stream: Stream, window: Window | None) -> dict[str, TableSink]:
        raise NotImplementedError

    def resolve_window(self, stream: Stream, context: Context, watermark: VariableWatermark) -> Window:
        now = datetime.now(timezone.utc)
        resolved = resolve_sync_window(
            parse_datetime(self.window_start) or parse_datetime(context.get("data_interval_start")),
            parse_datetime(self.window_end) or parse_datetime(context.get("data_interval_end")),
            watermark=watermark.get(),
            now=now,
            lookback=self.lookback,
            safety_lag=self.safety_lag,
            initial_window=self.initial_window,
        )
        window = clamp_to_history(resolved.window, stream.window, now=now.timestamp(), stream=stream.name)
        self.log.info(
            "Stream %s: reading [%s, %s) from the %s", stream.name, *window.isoformat(), resolved.source
        )
        return window

    def execute(self, context: Context) -> dict[str, Any]:
        stream = get_stream(self.stream)
        hook = DouyinShopHook(self.douyin_conn_id)
        watermark = (
            VariableWatermark(self.douyin_conn_id, stream.name, self.target_id) if stream.window else None
        )
        window = self.resolve_window(stream, context, watermark) if watermark else None
        sinks = self.open_sinks(stream, window)
        if window is not None and window.seconds == 0:
            self.log.info("Stream %s: window is empty, nothing to read", stream.name)
            result = SyncResult(stream=stream.name, window=window, rows=dict.fromkeys(sinks, 0))
        else:
            result = run_sync(
                hook.client.request,
                stream,
                window,
                sinks,
                check_inner_code=hook.client.check_inner_code,
                batch_rows=self.batch_rows,
                max_workers=self.max_workers,
            )
        payload = result.as_xcom()
        if watermark is not None:
            stored = watermark.advance(datetime.fromtimestamp(window.end, timezone.utc))
            payload["watermark"] = stored.isoformat()
        self._record_asset_event(context, payload)
        return payload

    def _record_asset_event(self, context: Context, payload: Mapping[str, Any]) -> None:
        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                outlet_events[outlet].extra = {
                    "conn_id": self.douyin_conn_id,
                    "rows": dict(payload["rows"]),
                    "window_start": payload["window_start"],
                    "window_end": payload["window_end"],
                }


class DouyinToSqlOperator(_DouyinTransferOperator):
    """Upsert a stream into any common-sql database: ``douyin_<table>`` keyed by the API's ids.

    A row is never replaced by an older version, so reruns, overlapping windows and
    backfills in any order converge on the same tables.

    :param stream: ``orders``, ``products``, ``after_sales``, ``settlements`` or ``account_flows``.
    :param sql_conn_id: any connection whose hook is a ``DbApiHook`` (sqlite, postgres, mysql, ...).
    :param table_prefix: prefix of the landed tables.
    :param window_start: templated; defaults to the run's ``data_interval_start``.
    :param window_end: templated; defaults to the run's ``data_interval_end``.
    :param lookback: re-read this much before the window start to catch late-visible updates.
    :param safety_lag: never read closer to now than this.
    :param initial_window: how far back the first watermark-driven run starts.
    :param max_workers: concurrent requests; the connection's ``qps`` sets the pace.
    """

    template_fields: Sequence[str] = (*_DouyinTransferOperator.template_fields, "sql_conn_id", "table_prefix")

    def __init__(self, *, sql_conn_id: str, table_prefix: str = "douyin_", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id
        self.table_prefix = table_prefix

    @property
    def target_id(self) -> str:
        return f"{self.sql_conn_id}.{self.table_prefix}"

    def open_sinks(self, stream: Stream, window: Window | None) -> dict[str, TableSink]:
        db_hook = BaseHook.get_hook(self.sql_conn_id)
        return {
            b.table.name: SqlTableSink(db_hook, b.table, table_prefix=self.table_prefix)
            for b in stream.tables
        }


class DouyinToStorageOperator(_DouyinTransferOperator):
    """Write a stream's window to object storage (``file://``, ``s3://``, ``gs://`` ...).

    Each table and window gets a deterministic folder with parts and a ``_manifest.json``,
    so a rerun overwrites its window instead of duplicating it.

    :param path: base ``ObjectStoragePath`` URI, e.g. ``s3://aws_default@bucket/douyin``.
    :param format: ``jsonl.gz`` (default) or ``parquet`` (needs pyarrow).
    """

    template_fields: Sequence[str] = (*_DouyinTransferOperator.template_fields, "path", "table_prefix")

    def __init__(self, *, path: str, format: str = "jsonl.gz", table_prefix: str = "douyin_", **kwargs: Any):
        super().__init__(**kwargs)
        self.path = path
        self.format = format
        self.table_prefix = table_prefix

    @property
    def target_id(self) -> str:
        return f"{self.path}.{self.table_prefix}"

    def open_sinks(self, stream: Stream, window: Window | None) -> dict[str, TableSink]:
        return {
            b.table.name: StorageTableSink(
                self.path, b.table, window, format=self.format, table_prefix=self.table_prefix
            )
            for b in stream.tables
        }
