"""From stored messages to rows: re-read the named record, land it under the version guard, settle.

Runs against the sandbox gateway and a real database of each dialect; the store is real too.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_douyin.client.doudian_client import DoudianShopClient
from airflow_provider_douyin.landing.sinks import SqlStreamSink
from airflow_provider_douyin.push.process import DoudianRecords, process_messages
from airflow_provider_douyin.push.protocol import PushMessage, PushRejected
from airflow_provider_douyin.push.store import DONE, PARKED, PENDING, PushStore, open_store
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tests.airflow.deployment import free_port
from tests.push.pushkit import (
    SHOP_CONN,
    SHOP_ID,
    STORE_CONN,
    base_env,
    connection_env,
    doudian_body,
    doudian_headers,
    order_record,
    start_standalone,
)

PREFIX = "rt_"


def _client(sandbox) -> DoudianShopClient:
    return DoudianShopClient(
        app_key=SANDBOX_APP_KEY,
        app_secret=SANDBOX_APP_SECRET,
        shop_id=str(SHOP_ID),
        base_url=sandbox.url,
        qps=200,
    )


def _message(order_id: str, tag: str, msg_id: str) -> PushMessage:
    record = order_record(order_id, tag=tag, msg_id=msg_id)
    return PushMessage(msg_id=record["msg_id"], tag=record["tag"], data=record["data"])


def _accept(store: PushStore, *messages: PushMessage):
    body = json.dumps([m.__dict__ for m in messages]).encode()
    return store.accept(SHOP_CONN, "doudian", list(messages), hashlib.sha256(body).hexdigest())


def _landed(hook, table: str, key: str, value: str) -> list[tuple]:
    sql = f"SELECT {key}, update_time FROM {PREFIX}{table} WHERE {key} = '{value}'"
    return [(str(r[0]), int(r[1])) for r in hook.get_records(sql)]


def _items(hook, order_id: str) -> set[tuple]:
    return {
        (str(r[0]), int(r[1]))
        for r in hook.get_records(
            f"SELECT order_id, order_update_time FROM {PREFIX}order_items "
            f"WHERE parent_order_id = '{order_id}'"
        )
    }


def _changed_order(sandbox) -> tuple[str, dict, dict]:
    """An order the sandbox changes now: (id, truth before, truth after)."""
    before = {str(o["order_id"]): o for o in sandbox.truth("orders", shop_id=SHOP_ID)}
    sandbox.set_clock(advance_s=600)
    sandbox.mutate(updates=3, shop_id=SHOP_ID)
    after = {str(o["order_id"]): o for o in sandbox.truth("orders", shop_id=SHOP_ID)}
    order_id = next(k for k in sorted(after) if after[k]["update_time"] > before[k]["update_time"])
    return order_id, before[order_id], after[order_id]


def test_duplicate_and_reordered_pushes_land_one_row_at_the_newest_version(
    sql_hook, douyin_sandbox_factory, tmp_path: Path
):
    sandbox = douyin_sandbox_factory(orders=20, seed=11)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with _client(sandbox) as client:
        read = DoudianRecords(client.call)
        stale_reads = {str(o["order_id"]): read("order", str(o["order_id"])) for o in sandbox.truth("orders")}
        order_id, old, new = _changed_order(sandbox)

        # Reordered (paid before created) and duplicated deliveries of the change.
        first = _accept(store, _message(order_id, "101", "m-paid"), _message(order_id, "100", "m-created"))
        again = _accept(store, _message(order_id, "101", "m-paid"))
        assert (first.stored, again.stored, again.duplicates) == (2, 0, 1)

        def sink(tables):
            return SqlStreamSink(sql_hook, tables, table_prefix=PREFIX)

        ids = store.claim(lease_s=0)[SHOP_CONN]
        requests_before = sandbox.stats()["requests_by_method"].get("order.orderDetail", 0)
        result = process_messages(store, ids, read, sink)
        assert (
            sandbox.stats()["requests_by_method"].get("order.orderDetail", 0) == requests_before + 1
        )  # one read
        assert (len(result.done), result.rows) == (
            2,
            {"orders": 1, "order_items": len(new["sku_order_list"])},
        )
        assert _landed(sql_hook, "orders", "order_id", order_id) == [(order_id, new["update_time"])]

        # A push whose read returns the record as it was before the change (a replay, or a read
        # that started before the change and finished after) cannot move the row back.
        _accept(store, _message(order_id, "100", "m-replayed"))
        late = store.claim(lease_s=0)[SHOP_CONN]
        process_messages(store, late, lambda kind, key: stale_reads[key], sink)
        assert stale_reads[order_id]["orders"][0]["update_time"] == old["update_time"] < new["update_time"]
        assert _landed(sql_hook, "orders", "order_id", order_id) == [(order_id, new["update_time"])]
        expected_items = {(str(i["order_id"]), new["update_time"]) for i in new["sku_order_list"]}
        assert _items(sql_hook, order_id) == expected_items
        assert {m.status for m in store.load([*ids, *late])} == {DONE}


def test_unreadable_records_are_retried_then_parked_with_their_reason(douyin_sandbox_factory, tmp_path: Path):
    sandbox = douyin_sandbox_factory(orders=20, seed=12)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    missing = _message("6999999999999999999", "101", "m-missing")
    no_id = PushMessage(msg_id="m-no-id", tag="101", data='{"shop_id":1000001}')
    _accept(store, missing, no_id)

    def sink(tables):  # nothing may be written for these
        raise AssertionError("a sink was opened for unreadable records")

    with _client(sandbox) as client:
        read = DoudianRecords(client.call)
        first = process_messages(
            store, store.claim(lease_s=0)[SHOP_CONN], read, sink, max_attempts=3, backoff_s=0
        )
        assert len(first.parked) == 1 and len(first.retrying) == 1  # no id: parked at once
        for _ in range(2):
            handed_out = store.claim(lease_s=0)[SHOP_CONN]
            assert len(handed_out) == 1
            process_messages(store, handed_out, read, sink, max_attempts=3, backoff_s=0)
    assert store.claim(lease_s=0) == {}
    parked = {m.msg_id: m for m in store.parked()}
    assert set(parked) == {"m-missing", "m-no-id"}
    assert parked["m-missing"].attempts == 3 and "20014" in parked["m-missing"].reason
    assert "names no record id" in parked["m-no-id"].reason
    assert store.health()[SHOP_CONN]["parked"] == 2
    assert store.requeue_parked(SHOP_CONN) == 2 and store.health()[SHOP_CONN]["pending"] == 2


def test_a_receiver_killed_right_after_its_ack_loses_nothing(
    sqlite_hook, douyin_sandbox_factory, tmp_path: Path
):
    sandbox = douyin_sandbox_factory(orders=40, seed=13)
    store_path = tmp_path / "store.db"
    env = {**base_env(tmp_path), **connection_env(store_path, sandbox.url)}
    port = free_port()
    receiver = start_standalone(env, port, tmp_path / "receiver.out", "--store-conn-id", STORE_CONN)
    order_id, _, new = _changed_order(sandbox)
    body = doudian_body(order_record(order_id, tag="101", msg_id="before-kill"))
    try:
        response = requests.post(receiver.url("doudian", SHOP_CONN), data=body, headers=doudian_headers(body))
        assert response.json() == {"code": 0, "msg": "success"}
    finally:
        receiver.kill()  # SIGKILL as soon as the ack is in: no shutdown, no flush
    receiver = start_standalone(env, port, tmp_path / "receiver.out", "--store-conn-id", STORE_CONN)
    try:
        # The platform's redelivery after the crash is acked and not stored twice.
        again = requests.post(receiver.url("doudian", SHOP_CONN), data=body, headers=doudian_headers(body))
        assert again.json() == {"code": 0, "msg": "success"}
    finally:
        receiver.stop()
    store = open_store(f"sqlite:///{store_path}")
    [message_id] = store.claim(lease_s=0)[SHOP_CONN]
    with _client(sandbox) as client:
        process_messages(
            store, [message_id], DoudianRecords(client.call),
            lambda tables: SqlStreamSink(sqlite_hook, tables, table_prefix=PREFIX),
        )  # fmt: skip
    assert _landed(sqlite_hook, "orders", "order_id", order_id) == [(order_id, new["update_time"])]
    assert [m.status for m in store.load([message_id])] == [DONE]


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_the_store_on_a_warehouse_database(backend, request, monkeypatch):
    """The store works in the warehouse databases too: dedupe, body replay, claim, lease, counters."""
    from airflow_provider_douyin.hooks.push import store_url
    from tests.dbs import MYSQL_CONN_ID, POSTGRES_CONN_ID

    request.getfixturevalue(f"{backend}_hook")
    url = store_url(POSTGRES_CONN_ID if backend == "postgres" else MYSQL_CONN_ID)
    prefix = f"h10a_{backend}_{free_port()}_"
    store = open_store(url, prefix=prefix)
    try:
        m1, m2 = _message("6900000000000000001", "101", "a"), _message("6900000000000000001", "102", "b")
        assert _accept(store, m1, m2).stored == 2
        assert _accept(store, m1).duplicates == 1
        body_of_a_and_b = hashlib.sha256(json.dumps([m1.__dict__, m2.__dict__]).encode()).hexdigest()
        with pytest.raises(PushRejected):  # the body of a and b again, claimed to be c
            store.accept(SHOP_CONN, "doudian", [_message("1", "101", "c")], body_of_a_and_b)
        t0 = time.time()
        claimed = store.claim(lease_s=60, now=t0)[SHOP_CONN]
        assert len(claimed) == 2 and store.claim(lease_s=60, now=t0 + 30) == {}
        assert store.claim(lease_s=60, now=t0 + 61)[SHOP_CONN] == claimed  # the lease ran out
        store.finish(claimed[:1])
        store.fail(claimed[1:], "boom", max_attempts=1, backoff_s=0)
        assert [m.status for m in store.load(claimed)] == [DONE, PARKED]
        store.count_rejection(SHOP_CONN, "size", now=t0 - 2 * 86400)
        for _ in range(3):  # the first of a minute also drops counters older than a day
            store.count_rejection(SHOP_CONN, "signature")
        with store.engine.connect() as conn:
            kept = conn.execute(store.rejections.select()).all()
        assert [(r.reason, r.count) for r in kept] == [("signature", 3)]
        health = store.health()[SHOP_CONN]
        assert (health["rejected_signatures_last_hour"], health["parked"], health["pending"]) == (3, 1, 0)
        assert PENDING not in {m.status for m in store.load(claimed)}
    finally:
        store._meta.drop_all(store.engine)
        store.dispose()


def test_a_webhook_lands_the_life_order_it_names(sqlite_hook, douyin_sandbox_factory, tmp_path: Path):
    from airflow_provider_douyin.client.open_client import DouyinOpenClient
    from airflow_provider_douyin.push.process import OpenRecords
    from tests.push.pushkit import OPEN_CONN, webhook_body

    sandbox = douyin_sandbox_factory(orders=20, life_orders=30, seed=14)
    account_id = sandbox.account_ids[0]
    order = sandbox.open_truth("life_orders", account_id=account_id)[0]
    body = webhook_body(order_id=str(order["order_id"]))
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    message = PushMessage(msg_id="wh-1", tag="life_trade_order_notify", data=body.decode())
    store.accept(OPEN_CONN, "open", [message], hashlib.sha256(body).hexdigest())
    client = DouyinOpenClient(
        client_key=sandbox.client_key, client_secret=sandbox.client_secret, base_url=sandbox.url,
        lock_directory=str(tmp_path),
    )  # fmt: skip
    with client:
        result = process_messages(
            store, store.claim(lease_s=0)[OPEN_CONN], OpenRecords(client.call, account_id),
            lambda tables: SqlStreamSink(sqlite_hook, tables, table_prefix=PREFIX),
        )  # fmt: skip
    assert result.as_dict()["done"] == 1, [(m.status, m.reason) for m in store.load([1])]
    rows = sqlite_hook.get_records(f"SELECT order_id, update_order_time FROM {PREFIX}life_orders")
    assert [(str(r[0]), int(r[1])) for r in rows] == [(str(order["order_id"]), order["update_order_time"])]
    certificates = sqlite_hook.get_records(f"SELECT count(*) FROM {PREFIX}life_certificates")[0][0]
    assert certificates == len(order.get("certificate") or [])


def test_an_after_sale_push_refreshes_the_after_sale_and_its_order(
    sqlite_hook, douyin_sandbox_factory, tmp_path: Path
):
    sandbox = douyin_sandbox_factory(orders=200, seed=15)
    after_sale = sandbox.truth("after_sales", shop_id=SHOP_ID)[0]
    aftersale_id = str(after_sale["aftersale_info"]["aftersale_id"])
    order_id = str(after_sale["order_info"]["shop_order_id"])
    order = next(o for o in sandbox.truth("orders", shop_id=SHOP_ID) if str(o["order_id"]) == order_id)
    data = json.dumps({"aftersale_id": int(aftersale_id), "p_id": int(order_id), "shop_id": SHOP_ID})
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    _accept(store, PushMessage(msg_id="as-1", tag="200", data=data))
    with _client(sandbox) as client:
        result = process_messages(
            store, store.claim(lease_s=0)[SHOP_CONN], DoudianRecords(client.call),
            lambda tables: SqlStreamSink(sqlite_hook, tables, table_prefix=PREFIX),
        )  # fmt: skip
    assert result.done == [1] and result.rows["after_sales"] == 1 and result.rows["orders"] == 1
    expected = after_sale["aftersale_info"]["update_time"]
    assert _landed(sqlite_hook, "after_sales", "aftersale_id", aftersale_id) == [(aftersale_id, expected)]
    assert _landed(sqlite_hook, "orders", "order_id", order_id) == [(order_id, order["update_time"])]
