"""Run a reconciliation inside a task and publish its result where users and the UI find it.

Every result goes to three places:

* the XCom ``reconciliation`` of the task (the full result, key lists capped at 1,000 per kind);
* the Variable ``douyin_reconcile__<conn>__<stream>__<target>`` (the same JSON, the latest result
  per connection, stream and landing target; ``<target>`` is ``<sql_conn_id>.<table_prefix>`` as
  in the watermark's key), so a page can show the last reconciliation of every stream;
* the asset event's ``extra["reconciliation"]`` (:func:`summary`: counts, no keys) when it succeeds.

A result with mismatches fails the task with :class:`DouyinReconciliationError`, whose message
names the first keys of each kind; the XCom and the Variable are written first.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.sdk import Variable

from airflow_provider_douyin.streams.catalog import Stream
from airflow_provider_douyin.streams.reader import ApiCall
from airflow_provider_douyin.streams.reconcile import DouyinReconciliationError, ReconcileTarget, reconcile
from airflow_provider_douyin.streams.windows import Window
from airflow_provider_douyin.transfers.watermarks import stream_variable_key

if TYPE_CHECKING:
    from airflow.sdk import Context

XCOM_KEY = "reconciliation"
SUMMARY_FIELDS = ("ok", "counts", "moved", "api_count", "target_count", "window_start", "window_end")


def reconciliation_key(conn_id: str, stream: str, target: str) -> str:
    """The Variable holding the latest reconciliation of one connection, stream and target."""
    return stream_variable_key("reconcile", conn_id, stream, target)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What an asset event carries: the verdict and the counts, never the keys."""
    return {name: result[name] for name in (*SUMMARY_FIELDS, "checked_at")}


def load_last(conn_id: str, stream: str, target: str) -> dict[str, Any] | None:
    """The latest stored result (see the module docstring for its shape), or ``None``."""
    raw = Variable.get(reconciliation_key(conn_id, stream, target), default=None)
    return json.loads(raw) if raw else None


def reconcile_and_publish(
    call: ApiCall,
    stream: Stream,
    window: Window,
    target: ReconcileTarget,
    *,
    context: Context,
    conn_id: str,
    target_id: str,
    fail: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Reconcile, store the result (XCom, Variable) and fail on a mismatch when ``fail``."""
    result = reconcile(call, stream, window, target, **options)
    document = {"conn_id": conn_id, "target": target_id, **result.as_dict()}
    Variable.set(reconciliation_key(conn_id, stream.name, target_id), json.dumps(document))
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key=XCOM_KEY, value=document)
    if fail and not result.ok:
        raise DouyinReconciliationError(result.message(), method=stream.method)
    return document
