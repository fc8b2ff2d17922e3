"""Deferrable waiting for Douyin shop conditions.

The trigger holds only a check name, a connection id and plain parameters, and evaluates the same
function from ``streams.conditions`` that the sensor pokes with. It builds one client per run and
closes it when the run ends; the blocking calls run in a worker thread, so the triggerer's event
loop stays free. What a check learns (the low-stock check's last poke time) is carried from one
evaluation to the next in memory; after a triggerer restart the run starts over from the
parameters it was deferred with.

A trigger never rotates tokens: triggerers run many triggers concurrently and may be highly
available, so a refresh here could race another worker's. It reports ``auth_expired`` instead and
the task refreshes, then defers again. It also ends itself at the sensor's deadline, so the timeout
holds wherever it runs, and it can sleep until a known ``start_at`` first (a bill published at
15:00 is not asked for before; a condition the worker has just checked is not asked again before the
next ``poke_interval``), so one deferral covers both the wait and the polling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from airflow_provider_douyin.client.doudian_client import DoudianShopClient
from airflow_provider_douyin.client.errors import DouyinAuthError, DouyinError
from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.streams.conditions import evaluate


class DouyinConditionTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        check: str,
        conn_id: str,
        params: dict[str, Any],
        poke_interval: float = 60.0,
        deadline: float | None = None,
        start_at: float | None = None,
    ) -> None:
        super().__init__()
        self.check = check
        self.conn_id = conn_id
        self.params = params
        self.poke_interval = poke_interval
        self.deadline = deadline
        self.start_at = start_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "check": self.check,
                "conn_id": self.conn_id,
                "params": self.params,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
                "start_at": self.start_at,
            },
        )

    def _client(self) -> DoudianShopClient:
        return DouyinShopHook(self.conn_id, token_refresh=False).client

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.start_at is not None and self.start_at > time.time():
            self.log.info("Douyin %s: nothing to ask before %.0f; sleeping", self.check, self.start_at)
            wake = self.start_at if self.deadline is None else min(self.start_at, self.deadline)
            await asyncio.sleep(max(0.0, wake - time.time()))
            if self.start_at > time.time():
                yield TriggerEvent({"status": "timeout", "message": "deadline before the start time"})
                return
        client = await sync_to_async(self._client, thread_sensitive=False)()
        check = sync_to_async(evaluate, thread_sensitive=False)
        params = dict(self.params)
        try:
            while True:
                try:
                    result = await check(self.check, client.request, params)
                except DouyinAuthError as err:
                    yield TriggerEvent({"status": "auth_expired", "message": str(err)})
                    return
                except DouyinError as err:
                    yield TriggerEvent({"status": "error", "message": str(err)})
                    return
                if result.done:
                    yield TriggerEvent({"status": "success", "payload": result.payload})
                    return
                if self.deadline is not None and time.time() + self.poke_interval > self.deadline:
                    yield TriggerEvent({"status": "timeout", "message": result.reason})
                    return
                params.update(result.carry)
                self.log.info("Douyin %s not met yet: %s", self.check, result.reason)
                await asyncio.sleep(self.poke_interval)
        finally:
            client.close()
