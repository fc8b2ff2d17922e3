"""The AssetWatcher trigger hands out stored messages once per lease, and the task reads its batches."""

from __future__ import annotations

import asyncio
import hashlib
import json
from types import SimpleNamespace

import pytest

from airflow_provider_douyin.operators.push import batches_of
from airflow_provider_douyin.push.protocol import PushMessage
from airflow_provider_douyin.push.store import open_store
from airflow_provider_douyin.triggers.push import DouyinPushMessageTrigger


def _store_on(monkeypatch, tmp_path):
    path = tmp_path / "store.db"
    monkeypatch.setenv("AIRFLOW_CONN_H10A_STORE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return open_store(f"sqlite:///{path}")


def test_serialize_round_trips():
    trigger = DouyinPushMessageTrigger(conn_ids=["a"], store_conn_id="wh", poll_interval=2, lease_s=60)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_douyin.triggers.push.DouyinPushMessageTrigger"
    assert DouyinPushMessageTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_one_event_per_claim_with_every_waiting_message_then_none_until_the_lease_ends(monkeypatch, tmp_path):
    store = _store_on(monkeypatch, tmp_path)
    for conn_id, msg_id in (("shop_a", "1"), ("shop_a", "2"), ("shop_b", "3"), ("other", "4")):
        message = PushMessage(msg_id=msg_id, tag="101", data='{"p_id":1}')
        store.accept(conn_id, "doudian", [message], hashlib.sha256(msg_id.encode()).hexdigest())

    async def first_event(trigger):
        return await asyncio.wait_for(trigger.run().__anext__(), timeout=30)

    trigger = DouyinPushMessageTrigger(
        conn_ids=["shop_a", "shop_b"], store_conn_id="h10a_store", poll_interval=0.1
    )
    event = asyncio.run(first_event(trigger))
    assert event.payload == {"batches": {"shop_a": [1, 2], "shop_b": [3]}}
    with pytest.raises(TimeoutError):  # leased: not handed out again while its run may still settle it
        asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=1))
    store.fail([1], "boom", max_attempts=5, backoff_s=0)  # a failed read is due again at once
    again = asyncio.run(first_event(trigger))
    assert again.payload == {"batches": {"shop_a": [1]}}


def test_batches_of_merges_every_triggering_event():
    """Events as the triggerer records them: the trigger's payload under ``extra["payload"]``."""
    events = [
        SimpleNamespace(extra={"from_trigger": True, "payload": {"batches": {"shop_a": [3, 1]}}}),
        {"extra": {"from_trigger": True, "payload": {"batches": {"shop_a": [1, 2], "shop_b": [7]}}}},
        SimpleNamespace(extra={}),  # e.g. an event someone posted through the REST API
    ]
    assert batches_of(events) == {"shop_a": [1, 2, 3], "shop_b": [7]}
