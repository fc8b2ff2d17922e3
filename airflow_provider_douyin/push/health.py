"""Receiver health per connection, for the observability page.

``push_health()`` returns ``{conn_id: {...}}`` with ``messages_last_hour``,
``rejected_signatures_last_hour`` (a counter: refused requests are never stored),
``rejected_last_hour`` (every reason), ``parked``, ``pending``, ``unknown_tags`` and
``last_message_at`` (epoch seconds, ``None`` before the first message).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_douyin.push.store import PushStore


def push_health(
    store: PushStore | None = None, *, store_conn_id: str | None = None, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """Health of every connection that received or refused a push; the store as the receiver resolves it
    unless ``store`` is given."""
    if store is None:
        from airflow_provider_douyin.hooks.push import push_store

        store = push_store(store_conn_id)
    return store.health(now=now)
