"""What every Douyin transfer shares; ``douyin_to_sql`` and ``douyin_to_storage`` add their sinks.

Transfers share window resolution (explicit window or data interval, else stored watermark;
never past ``now - safety_lag`` or the stream's publication horizon), the concurrent
reader, the contiguous watermark (a window is recorded done only after its rows are
committed), a small XCom and an asset event per stream. Only the sinks differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.hooks.open_platform import DouyinOpenHook
from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.streams.catalog import Stream, get_stream
from airflow_provider_douyin.streams.reconcile import reconcilable
from airflow_provider_douyin.streams.sync import StreamSink, SyncResult, run_sync, workers_for
from airflow_provider_douyin.streams.windows import (
    Window,
    clamp_to_history,
    parse_datetime,
    resolve_sync_window,
)
from airflow_provider_douyin.transfers.lineage import TableDataset, transfer_lineage
from airflow_provider_douyin.transfers.reconciliation import reconcile_and_publish, summary
from airflow_provider_douyin.transfers.watermarks import VariableWatermark
from airflow_provider_douyin.ui import DOUYIN_PINK

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_douyin.landing.reconcile import SqlReconcileTarget


def stream_asset(stream: str) -> Asset:
    """The asset a stream's operators update; schedule downstream DAGs on it."""
    return Asset(name=f"douyin_{stream}", uri=f"douyin://streams/{stream}")


HOOKS = {"doudian": DouyinShopHook, "douyin_open": DouyinOpenHook}
"""The hook (and so the connection type) that serves each platform's streams."""


ACCOUNT_EXTRAS = {
    "account_id": "the 抖音来客 merchant account to read",
    "open_id": "the authorized Douyin user whose data to read, as `douyin-oauth exchange` printed it",
}
"""The connection extras a stream's ``account_param`` names, and what each holds."""


def platform_hook(conn_id: str | None, stream: Stream) -> DouyinShopHook | DouyinOpenHook:
    """The hook for ``stream``'s platform; a connection of the other platform is refused by the hook."""
    hook_cls = HOOKS[stream.platform]
    return hook_cls(conn_id or hook_cls.default_conn_name)


def stream_call(hook: DouyinShopHook | DouyinOpenHook, stream: Stream) -> Callable[..., ApiResponse]:
    """``hook.client.request``, with the connection's account filled in where the stream needs it."""
    if stream.account_param is None:
        return hook.client.request
    what = ACCOUNT_EXTRAS[stream.account_param]
    account = getattr(hook.config, stream.account_param)
    if not account:
        raise DouyinConfigError(
            f"Connection {hook.douyin_conn_id!r}: stream {stream.name!r} needs extra "
            f"{stream.account_param!r} ({what})"
        )
    scope = {stream.account_param: account}
    return lambda method, params=None: hook.client.request(method, {**scope, **(params or {})})


def _account(hook: DouyinShopHook | DouyinOpenHook) -> str:
    """The shop or 来客 account a connection reads, which names the lineage input dataset."""
    config = hook.config
    return str(getattr(config, "shop_id", None) or getattr(config, "account_id", None) or hook.douyin_conn_id)


def _as_timedelta(value: timedelta | float | int | str) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


class BaseDouyinTransferOperator(BaseOperator):
    """Shared window, read and bookkeeping logic; subclasses provide the sinks."""

    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"
    template_fields: Sequence[str] = ("stream", "douyin_conn_id", "window_start", "window_end")

    def __init__(
        self,
        *,
        stream: str,
        douyin_conn_id: str | None = None,
        window_start: datetime | str | None = None,
        window_end: datetime | str | None = None,
        lookback: timedelta | float = timedelta(minutes=10),
        safety_lag: timedelta | float = timedelta(minutes=2),
        initial_window: timedelta | float = timedelta(days=1),
        max_workers: int | None = None,
        batch_rows: int = 2_000,
        reconcile: bool = False,
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
        self.reconcile = reconcile

    @property
    def target_id(self) -> str:
        """Names the landing target in the watermark key."""
        raise NotImplementedError

    def open_sink(self, stream: Stream, window: Window | None) -> AbstractContextManager[StreamSink]:
        """The stream's sink, as a context manager that releases it however the sync ends."""
        raise NotImplementedError

    def lineage_target(self) -> TableDataset:
        """OpenLineage (namespace, name) of each landed table or folder."""
        raise NotImplementedError

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Called by the OpenLineage provider after a run: the stream read, the targets written, their
        columns and this run's row counts (see :mod:`~airflow_provider_douyin.transfers.lineage`)."""
        run = getattr(self, "_lineage_run", None)
        if run is None:  # the run failed before it landed anything
            return None
        account, rows = run
        return transfer_lineage(get_stream(self.stream), account, rows, self.lineage_target())

    def reconcile_target(self, stream: Stream) -> SqlReconcileTarget:
        """Where ``reconcile=True`` reads the landed rows back; only SQL targets can."""
        raise DouyinConfigError(f"{type(self).__name__} cannot reconcile: reconcile=True needs a SQL target")

    def resolve_window(
        self, stream: Stream, context: Context, watermark: VariableWatermark
    ) -> tuple[Window, Window]:
        """The window to read, and the part of it to record as done once it is committed.

        Runs without a logical date (manual or REST triggers with ``logical_date: null``) have
        no ``data_interval_*`` keys in the context; they, and zero-width intervals, read from
        the watermark.
        """
        now = datetime.now(timezone.utc)
        resolved = resolve_sync_window(
            parse_datetime(self.window_start) or parse_datetime(context.get("data_interval_start")),
            parse_datetime(self.window_end) or parse_datetime(context.get("data_interval_end")),
            watermark=watermark.get(),
            now=now,
            lookback=self.lookback,
            safety_lag=self.safety_lag,
            initial_window=self.initial_window,
            publication=stream.window.publication,
            stream=stream.name,
        )
        window = clamp_to_history(resolved.window, stream.window, now=now.timestamp(), stream=stream.name)
        self.log.info(
            "Stream %s: reading [%s, %s) from the %s", stream.name, *window.isoformat(), resolved.source
        )
        # Seconds older than the API's search limit cannot be read by any run: they count as done.
        return window, resolved.window

    def execute(self, context: Context) -> dict[str, Any]:
        stream = get_stream(self.stream)
        # Refused before any read: a stream without a detail call, or a target that cannot be read back.
        checked = self.reconcile_target(stream) if self.reconcile and reconcilable(stream) else None
        reconciliation = None
        with platform_hook(self.douyin_conn_id, stream) as hook:
            conn_id = hook.douyin_conn_id
            watermark = VariableWatermark(conn_id, stream.name, self.target_id) if stream.window else None
            window, done = self.resolve_window(stream, context, watermark) if watermark else (None, None)
            if watermark is not None:
                watermark.begin(window)
            with self.open_sink(stream, window) as sink:
                if window is not None and window.seconds == 0:
                    self.log.info("Stream %s: window is empty, nothing to read", stream.name)
                    result = SyncResult(stream=stream.name, window=window, rows=dict.fromkeys(sink.tables, 0))
                else:
                    result = run_sync(
                        stream_call(hook, stream),
                        stream,
                        window,
                        sink,
                        batch_rows=self.batch_rows,
                        max_workers=self.max_workers or workers_for(hook.config.qps),
                    )
            # After the commit, before the watermark: a window whose landing fails it is read again.
            if checked is not None and window.seconds > 0:
                with checked:
                    reconciliation = reconcile_and_publish(
                        stream_call(hook, stream),
                        stream,
                        window,
                        checked,
                        context=context,
                        conn_id=conn_id,
                        target_id=self.target_id,
                    )
        payload = result.as_xcom()
        self._lineage_run = (_account(hook), dict(payload["rows"]))
        if reconciliation is not None:
            payload["reconciliation"] = summary(reconciliation)
        if watermark is not None:
            state = watermark.record(done) if done.seconds > 0 else watermark.state()
            payload["watermark"] = datetime.fromtimestamp(state.watermark, timezone.utc).isoformat()
        self._record_asset_event(context, conn_id, payload)
        return payload

    def _record_asset_event(self, context: Context, conn_id: str, payload: Mapping[str, Any]) -> None:
        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                outlet_events[outlet].extra = {
                    "conn_id": conn_id,
                    "target": self.target_id,
                    "rows": dict(payload["rows"]),
                    "window_start": payload["window_start"],
                    "window_end": payload["window_end"],
                    **({"reconciliation": payload["reconciliation"]} if "reconciliation" in payload else {}),
                }
