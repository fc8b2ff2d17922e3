"""``DouyinReconcileOperator``: check a landed window against the API, e.g. yesterday's, once a day."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseHook, BaseOperator

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.landing.reconcile import SqlReconcileTarget
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.reconcile import reconcilable
from airflow_provider_douyin.streams.windows import Window, clamp_to_history, parse_datetime
from airflow_provider_douyin.transfers.base import platform_hook, stream_call
from airflow_provider_douyin.transfers.reconciliation import reconcile_and_publish, summary
from airflow_provider_douyin.ui import DOUYIN_PINK

if TYPE_CHECKING:
    from airflow.sdk import Context


def reconciliation_asset(stream: str) -> Asset:
    """The asset a stream's reconciliations update (not the stream's own: nothing new landed)."""
    return Asset(name=f"douyin_{stream}_reconciliation", uri=f"douyin://reconciliation/{stream}")


class DouyinReconcileOperator(BaseOperator):
    """Compare a window of a landed stream with the API and name the keys missing, extra or stale.

    Writes nothing to the target: it compares the API's count with the target's, lists the keys on
    both sides where they disagree (halving the window down to ``slice_span``) or where at most
    ``key_check_below`` records are, and settles each disputed record with its detail call, so a
    record updated after it was landed (it now belongs to a later window) is not an alarm.

    :param stream: ``orders`` or ``after_sales``.
    :param sql_conn_id: the database the stream was landed in by ``DouyinToSqlOperator``.
    :param table_prefix: the prefix it landed with.
    :param window_start: templated; unset ("", "None") means the run's ``data_interval_start``.
    :param window_end: templated, like ``window_start``.
    :param slice_span: a window whose counts differ is halved down to this span, then listed.
    :param key_check_below: parts of at most this many records are compared key by key even when
        the counts agree.
    :param fail_on_mismatch: fail the task (after storing the result) when anything mismatches.
    """

    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"
    template_fields: Sequence[str] = (
        "stream",
        "douyin_conn_id",
        "sql_conn_id",
        "table_prefix",
        "window_start",
        "window_end",
    )

    def __init__(
        self,
        *,
        stream: str,
        sql_conn_id: str,
        douyin_conn_id: str | None = None,
        table_prefix: str = "douyin_",
        window_start: Any = None,
        window_end: Any = None,
        slice_span: timedelta = timedelta(hours=1),
        key_check_below: int = 10_000,
        fail_on_mismatch: bool = True,
        max_workers: int = 4,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [reconciliation_asset(stream)])
        super().__init__(**kwargs)
        self.stream = stream
        self.sql_conn_id = sql_conn_id
        self.douyin_conn_id = douyin_conn_id
        self.table_prefix = table_prefix
        self.window_start = window_start
        self.window_end = window_end
        self.slice_span = slice_span
        self.key_check_below = key_check_below
        self.fail_on_mismatch = fail_on_mismatch
        self.max_workers = max_workers

    def execute(self, context: Context) -> dict[str, Any]:
        stream = get_stream(self.stream)
        reconcilable(stream)
        start = parse_datetime(self.window_start) or parse_datetime(context.get("data_interval_start"))
        end = parse_datetime(self.window_end) or parse_datetime(context.get("data_interval_end"))
        if start is None or end is None or end <= start:
            raise DouyinConfigError(
                "DouyinReconcileOperator needs a non-empty window: set window_start and window_end, "
                "or run it on a schedule with real data intervals"
            )
        window = clamp_to_history(
            Window.from_datetimes(start, end), stream.window, now=time.time(), stream=stream.name
        )
        db_hook = BaseHook.get_hook(self.sql_conn_id)
        with (
            platform_hook(self.douyin_conn_id, stream) as hook,
            SqlReconcileTarget(db_hook, stream.root, table_prefix=self.table_prefix) as target,
        ):
            document = reconcile_and_publish(
                stream_call(hook, stream),
                stream,
                window,
                target,
                context=context,
                conn_id=hook.douyin_conn_id,
                target_id=f"{self.sql_conn_id}.{self.table_prefix}",
                fail=self.fail_on_mismatch,
                slice_span=self.slice_span,
                key_check_below=self.key_check_below,
                max_workers=self.max_workers,
            )
        outlet_events = context.get("outlet_events")
        if outlet_events is not None:
            for outlet in self.outlets:
                if isinstance(outlet, Asset):
                    outlet_events[outlet].extra = {"reconciliation": summary(document)}
        return document
