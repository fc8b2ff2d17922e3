"""The Douyin page's push-receiver section reads the receiver's store, and creates none."""

from __future__ import annotations

import hashlib
import json

from airflow_provider_douyin.plugins.douyin_ui import render_page
from airflow_provider_douyin.plugins.status import push_section
from airflow_provider_douyin.push.protocol import PushMessage
from airflow_provider_douyin.push.store import open_store


def test_the_page_shows_each_connections_messages_rejections_and_parked(monkeypatch, tmp_path):
    monkeypatch.setenv("DOUYIN_PUSH_HOME", str(tmp_path / "default"))
    monkeypatch.delenv("DOUYIN_PUSH_STORE_CONN_ID", raising=False)
    assert push_section() == []  # no store configured, none at the default place: none created
    assert not (tmp_path / "default").exists()

    path = tmp_path / "store.db"
    monkeypatch.setenv("AIRFLOW_CONN_H10A_PAGE_STORE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    monkeypatch.setenv("DOUYIN_PUSH_STORE_CONN_ID", "h10a_page_store")
    store = open_store(f"sqlite:///{path}")
    for msg_id in ("a", "b"):
        message = PushMessage(msg_id=msg_id, tag="101", data='{"p_id":1}')
        store.accept("shop_one", "doudian", [message], hashlib.sha256(msg_id.encode()).hexdigest(), now=1.8e9)
    store.fail([2], "order.orderDetail failed", max_attempts=1, backoff_s=0)
    for _ in range(4):
        store.count_rejection("shop_one", "signature")

    (row,) = push_section()
    assert row["conn_id"] == "shop_one" and row["last_message_at"] == "2027-01-15T08:00:00+00:00"
    assert (row["rejected_signatures_last_hour"], row["parked"], row["pending"]) == (4, 1, 1)
    html = render_page(
        {"generated_at": "2027-01-15T08:00:00+00:00", "connections": [], "streams": [], "push": [row]}
    )
    assert '<tr data-receiver="shop_one">' in html and '<td class="error">4</td>' in html
    assert '<td class="warn">1</td>' in html and "receiver not configured" not in html
