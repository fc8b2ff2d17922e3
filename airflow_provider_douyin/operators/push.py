"""The realtime DAG's task: land the records that a batch of push messages names.

Reads the batches from the run's triggering asset events (see ``triggers.push``), opens the hook
of the connection each batch came through (a shop or an Open Platform app; in a worker, so it may
refresh tokens), and upserts through ``SqlStreamSink``, the streams' landing path with its version
guard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_douyin.client.config import SHOP_CONN_TYPE
from airflow_provider_douyin.hooks.push import push_store
from airflow_provider_douyin.landing.sinks import SqlStreamSink
from airflow_provider_douyin.push.process import DoudianRecords, OpenRecords, process_messages
from airflow_provider_douyin.streams.schema import Table


def batches_of(events: Iterable[Any]) -> dict[str, list[int]]:
    """Union of the ``{conn_id: ids}`` batches of asset events (objects with ``extra``, or dicts).

    An event a trigger fired carries the trigger's payload as ``extra["payload"]``.
    """
    merged: dict[str, set[int]] = defaultdict(set)
    for event in events:
        extra = event.get("extra") if isinstance(event, Mapping) else getattr(event, "extra", None)
        payload = (extra or {}).get("payload") or {}
        for conn_id, ids in (payload.get("batches") or {}).items():
            merged[conn_id].update(int(i) for i in ids)
    return {conn_id: sorted(ids) for conn_id, ids in merged.items()}


def land_push_batches(
    batches: Mapping[str, Sequence[int]],
    *,
    target_conn_id: str,
    store_conn_id: str | None = None,
    table_prefix: str = "douyin_",
    max_attempts: int = 5,
    backoff_s: float = 60.0,
) -> dict[str, Any]:
    """Refresh and land every message of ``batches``; returns per-connection counts for XCom."""
    store = push_store(store_conn_id)
    target = BaseHook.get_hook(target_conn_id)

    def sink(tables: Sequence[Table]) -> SqlStreamSink:
        return SqlStreamSink(target, tables, table_prefix=table_prefix)

    summary = {}
    for conn_id, ids in batches.items():
        conn_type = BaseHook.get_connection(conn_id).conn_type
        if conn_type == SHOP_CONN_TYPE:
            from airflow_provider_douyin.hooks.shop import DouyinShopHook

            hook: Any = DouyinShopHook(conn_id)
            read: Any = DoudianRecords(hook.call)
        else:
            from airflow_provider_douyin.hooks.open_platform import DouyinOpenHook

            hook = DouyinOpenHook(conn_id)
            read = OpenRecords(hook.call, hook.config.account_id)
        with hook:
            result = process_messages(store, ids, read, sink, max_attempts=max_attempts, backoff_s=backoff_s)
        summary[conn_id] = result.as_dict()
    return summary
