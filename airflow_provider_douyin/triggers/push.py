"""Event-driven scheduling on push messages: an ``AssetWatcher`` trigger over the message store.

Each poll claims the due pending messages (new ones, and ones whose retry backoff or lease has
run out) and yields ONE event for all of them, ``{"batches": {conn_id: [message ids]}}``: the
asset event that schedules the realtime DAG. Claiming hides the messages for ``lease_s``; a run
that never settles them (killed, failed), or an event that starts no run at all (Airflow 3.3's
scheduler can consume an asset event that arrives while it creates the previous run without
giving it a run: apache/airflow#70972), gets them handed out again after that. The only state is
in the store, so a triggerer restart loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from airflow_provider_douyin.hooks.push import push_store


class DouyinPushMessageTrigger(BaseEventTrigger):
    """Fires when push messages are waiting.

    :param conn_ids: the Douyin connections whose messages this watcher hands out (all if ``None``).
    :param store_conn_id: SQL connection of the message store (resolved as the receiver resolves it).
    :param poll_interval: seconds between polls of an empty store.
    :param batch_size: most messages in one event.
    :param lease_s: seconds a handed-out message stays hidden unless its run settles it.
    """

    def __init__(
        self,
        *,
        conn_ids: list[str] | None = None,
        store_conn_id: str | None = None,
        poll_interval: float = 1.0,
        batch_size: int = 500,
        lease_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.conn_ids = list(conn_ids) if conn_ids is not None else None
        self.store_conn_id = store_conn_id
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.lease_s = lease_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_ids": self.conn_ids,
                "store_conn_id": self.store_conn_id,
                "poll_interval": self.poll_interval,
                "batch_size": self.batch_size,
                "lease_s": self.lease_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        store = await sync_to_async(push_store)(self.store_conn_id)
        while True:
            batches = await asyncio.to_thread(
                store.claim, limit=self.batch_size, lease_s=self.lease_s, conn_ids=self.conn_ids
            )
            if batches:
                self.log.info(
                    "Handing out %d push message(s) of %s",
                    sum(map(len, batches.values())),
                    sorted(batches),
                )
                yield TriggerEvent({"batches": batches})
            else:
                await asyncio.sleep(self.poll_interval)
