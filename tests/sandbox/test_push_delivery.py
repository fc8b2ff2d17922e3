"""Push messages (Doudian) and webhooks (Open Platform) the sandbox sends when its records change.

A stdlib HTTP receiver in the test collects every POST as raw bytes. Signatures are checked with
the documented formulas written out here (pinned by the documented computed examples), never with
the sandbox's own code; message contents are compared with the sandbox's truth.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sandbox_testkit import cli_serve

from airflow_provider_douyin.sandbox import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_CLIENT_KEY,
    SANDBOX_CLIENT_SECRET,
    SandboxServer,
)

ACK = b'{"code":0,"msg":"success"}'
ORDER_STATUS_TAGS = {"100", "101", "102", "103", "106"}


def doudian_sign(body: bytes, app_key: str = SANDBOX_APP_KEY, secret: str = SANDBOX_APP_SECRET) -> str:
    """event-sign: lower-hex MD5 of app_key + the raw body + app_secret."""
    return hashlib.md5(app_key.encode() + body + secret.encode()).hexdigest()


def open_sign(body: bytes, secret: str = SANDBOX_CLIENT_SECRET) -> str:
    """X-Douyin-Signature: lower-hex SHA-1 of client_secret + the raw body."""
    return hashlib.sha1(secret.encode() + body).hexdigest()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def platform(self) -> str:
        return "doudian" if "app-id" in self.headers else "open"

    def record(self) -> dict[str, Any]:
        """The single Doudian record of this POST."""
        records = json.loads(self.body)
        assert isinstance(records, list) and len(records) == 1
        return records[0]


def acknowledge(request: Received) -> tuple[int, bytes]:
    """What a correct receiver answers: the challenge echoed for verify_webhook, else the Doudian ack."""
    payload = json.loads(request.body)
    if isinstance(payload, dict) and payload.get("event") == "verify_webhook":
        return 200, json.dumps(payload["content"]).encode()
    return 200, ACK


class Receiver:
    """Records every POST and answers with ``reply(request)``; ``gate`` (if set) holds every answer."""

    def __init__(self, reply: Callable[[Received], tuple[int, bytes]] = acknowledge) -> None:
        self.reply = reply
        self.requests: list[Received] = []
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(request)
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                status, answer = receiver.reply(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/douyin/push"

    def of(self, platform: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.platform == platform]

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    """``make(reply)`` starts a receiver answering with ``reply``; all stop at teardown."""
    made: list[Receiver] = []

    def make(reply: Callable[[Received], tuple[int, bytes]] = acknowledge) -> Receiver:
        made.append(Receiver(reply))
        return made[-1]

    yield make
    for r in made:
        r.stop()


@pytest.fixture
def receiver(receiver_factory: Callable[..., Receiver]) -> Receiver:
    return receiver_factory()


def _data(listing: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    return [d["data"] for d in listing if d.get("tag") == tag]


# --------------------------------------------------------------------------- signatures
def test_the_test_formulas_reproduce_the_documented_computed_examples() -> None:
    doudian_body = (
        b'[{"tag":"100","msg_id":"7000000000000000001:100:1700000000","data":"{\\"biz\\":2,\\"create_time\\"'
        b':1700000000,\\"order_status\\":1,\\"order_type\\":0,\\"p_id\\":4900000000000000001,'
        b'\\"s_ids\\":[4900000000000000001],\\"shop_id\\":123456}"}]'
    )
    assert doudian_sign(doudian_body) == "d4669166c472b01c420bacb03be267d1"
    webhook_body = b'{"event":"verify_webhook","client_key":"awxxxxxxxx","content":{"challenge":12345}}'
    assert open_sign(webhook_body, "0123456789abcdef0123456789abcdef") == (
        "079ef69784dcf42fa16420216dfaa0277b1ef659"
    )


# --------------------------------------------------------------------------- Doudian messages
def test_shop_changes_push_signed_messages_that_match_the_truth(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(orders=60, push_url=receiver.url)
    orders_before = {o["order_id"]: o for o in sandbox.truth("orders")}
    sales_before = {a["aftersale_info"]["aftersale_id"]: a for a in sandbox.truth("after_sales")}
    created = sandbox.mutate(new_orders=3, updates=60)["shops"][0]["created"]
    listing = sandbox.wait_for_pushes()
    orders = {o["order_id"]: o for o in sandbox.truth("orders")}
    sales = {a["aftersale_info"]["aftersale_id"]: a for a in sandbox.truth("after_sales")}

    got = receiver.of("doudian")
    for request in got:
        assert request.path == "/douyin/push"
        assert request.headers["app-id"] == SANDBOX_APP_KEY
        assert request.headers["event-sign"] == doudian_sign(request.body)
        assert request.headers["content-type"] == "application/json"
        record = request.record()
        assert set(record) == {"tag", "msg_id", "data"} and isinstance(record["data"], str)
    records = [r.record() for r in got]
    assert [r["msg_id"] for r in records] == [d["msg_id"] for d in listing]
    assert all(d["state"] == "acked" and d["attempts"] == 1 and d["faults"] == [] for d in listing)
    messages = [(r["tag"], json.loads(r["data"])) for r in records]
    assert [d for _, d in messages] == [d["data"] for d in listing]
    assert {"100", "101", "200", "206"} <= {tag for tag, _ in messages}

    assert [str(d["p_id"]) for tag, d in messages if tag == "100"] == created
    changed = {oid for oid, o in orders.items() if oid not in orders_before or o != orders_before[oid]}
    assert {str(d["p_id"]) for _, d in messages} <= changed
    for oid in changed:
        order = orders[oid]
        own = [(tag, d) for tag, d in messages if str(d["p_id"]) == oid and tag in ORDER_STATUS_TAGS]
        for tag, data in own:
            assert data["s_ids"] == [int(s["order_id"]) for s in order["sku_order_list"]]
            assert (data["shop_id"], data["biz"], data["order_type"]) == (1000001, 2, 0)
            if tag == "101":
                assert (data["pay_time"], data["pay_amount"]) == (order["pay_time"], order["pay_amount"])
            if tag == "102":
                assert data["logistics_msg"]["logistics_code"] == order["logistics_info"][0]["tracking_no"]
            if tag == "103":
                assert data["complete_time"] == order["finish_time"]
        moved = oid not in orders_before or order["order_status"] != orders_before[oid]["order_status"]
        if moved and order["order_status"] != 2:  # 105 -> 2 has no message
            assert own[-1][1]["order_status"] == order["order_status"]

    opened = _data(listing, "200")
    assert sorted(str(d["aftersale_id"]) for d in opened) == sorted(set(sales) - set(sales_before))
    for data in opened:
        info = sales[str(data["aftersale_id"])]["aftersale_info"]
        assert (data["s_id"], data["apply_time"], data["refund_amount"]) == (
            int(info["related_id"]),
            info["apply_time"],
            info["refund_amount"],
        )
    resolved = {aid for aid, a in sales.items() if a["aftersale_info"]["aftersale_status"] != 6}
    resolved -= {aid for aid, a in sales_before.items() if a["aftersale_info"]["aftersale_status"] != 6}
    closing = [d for d in listing if d.get("tag") in ("204", "205", "206")]
    assert sorted(str(d["data"]["aftersale_id"]) for d in closing) == sorted(resolved)
    for d in closing:
        info = sales[str(d["data"]["aftersale_id"])]["aftersale_info"]
        assert d["data"]["aftersale_status"] == info["aftersale_status"]
        assert (d["tag"] == "206") == (info["aftersale_status"] == 12)


def test_a_product_edit_pushes_400_and_a_plain_stock_sync_pushes_nothing(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(orders=30, push_url=receiver.url)
    sku = sandbox.truth("skus")[0]
    sandbox.set_stock(sku["id"], 7)
    assert sandbox.wait_for_pushes() == []
    sandbox.set_stock(sku["id"], 5, touch_product=True)
    [delivery] = sandbox.wait_for_pushes()
    product = next(p for p in sandbox.truth("products") if p["product_id"] == sku["product_id"])
    assert delivery["tag"] == "400" and delivery["shop_id"] == 1000001
    assert delivery["data"]["product_id"] == product["product_id"]
    assert delivery["data"]["update_time"] == product["update_time"]
    [request] = receiver.of("doudian")
    assert json.loads(request.record()["data"]) == delivery["data"]


def test_url_checks_send_doudian_tag_0_and_the_open_challenge(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(
        orders=20, life_orders=20, push_url=receiver.url, webhook_url=receiver.url
    )
    doudian = sandbox.send_push_verification("doudian")
    challenge = sandbox.send_push_verification("open")
    listing = sandbox.wait_for_pushes()
    assert [(d["seq"], d["state"]) for d in listing] == [
        (doudian["seq"], "acked"),
        (challenge["seq"], "acked"),
    ]
    [tag0] = receiver.of("doudian")
    assert tag0.record()["tag"] == "0" and tag0.headers["event-sign"] == doudian_sign(tag0.body)
    [verify] = receiver.of("open")
    body = json.loads(verify.body)
    assert body["event"] == "verify_webhook" and body["client_key"] == SANDBOX_CLIENT_KEY
    assert isinstance(body["content"], dict) and body["content"] == challenge["data"]
    assert verify.headers["x-douyin-signature"] == open_sign(verify.body)


def test_a_receiver_that_does_not_echo_the_challenge_is_not_verified(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver_factory: Callable[..., Receiver]
) -> None:
    deaf = receiver_factory(lambda request: (200, ACK))
    sandbox = douyin_sandbox_factory(
        orders=20, life_orders=20, webhook_url=deaf.url, push_max_attempts=2, push_retry_ms=10
    )
    sandbox.send_push_verification("open")
    [delivery] = sandbox.wait_for_pushes()
    assert (delivery["state"], delivery["attempts"], delivery["acked"]) == ("failed", 2, False)
    assert len(deaf.of("open")) == 2


# --------------------------------------------------------------------------- Open Platform webhooks
def test_merchant_changes_send_signed_webhooks_that_match_the_truth(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(orders=20, life_orders=60, webhook_url=receiver.url)
    account = sandbox.account_ids[0]
    orders_before = {o["order_id"]: o for o in sandbox.open_truth("life_orders")}
    verified_before = {v["certificate_id"] for v in sandbox.open_truth("life_verify_records")}
    refunded_before = {r["certificate_id"] for r in sandbox.open_truth("life_refunds")}
    sandbox.open_mutate(new_orders=8, updates=8)
    sandbox.open_mutate(updates=40)
    listing = sandbox.wait_for_pushes()
    orders = {o["order_id"]: o for o in sandbox.open_truth("life_orders")}

    got = receiver.of("open")
    assert [r.headers["msg-id"] for r in got] == [d["msg_id"] for d in listing]
    events: dict[str, list[dict[str, Any]]] = {}
    for request in got:
        assert request.headers["x-douyin-signature"] == open_sign(request.body)
        body = json.loads(request.body)
        assert set(body) == {"event", "client_key", "content", "log_id"}
        assert body["client_key"] == SANDBOX_CLIENT_KEY and isinstance(body["content"], str)
        content = json.loads(body["content"])
        events.setdefault(f"{body['event']}:{content['action']}", []).append(content)

    paid = [
        oid for oid, o in orders.items() if o["pay_time"] and not orders_before.get(oid, {}).get("pay_time")
    ]
    pay_events = events.get("life_trade_order_notify:pay_success", [])
    assert sorted(e["order"]["order_id"] for e in pay_events) == sorted(paid) and paid
    for event in pay_events:
        order = orders[event["order"]["order_id"]]
        assert event["order"] == {
            "order_id": order["order_id"], "account_id": account, "pay_amount": order["pay_amount"],
            "original_amount": order["original_amount"], "create_time": order["create_order_time"],
            "pay_time": order["pay_time"],
        }  # fmt: skip
    verified = {v["certificate_id"] for v in sandbox.open_truth("life_verify_records")} - verified_before
    refunded = {r["certificate_id"] for r in sandbox.open_truth("life_refunds")} - refunded_before
    verify_events = events.get("life_trade_certificate_notify:verify", [])
    refund_events = events.get("life_trade_certificate_notify:refund_success", [])
    assert {e["certificate"]["certificate_id"] for e in verify_events} == verified and verified
    assert {e["certificate"]["certificate_id"] for e in refund_events} == refunded and refunded
    assert len(verify_events) + len(refund_events) + len(pay_events) == len(got)
    certificates = {c["certificate_id"]: c for c in sandbox.open_truth("life_certificates")}
    for event in verify_events + refund_events:
        certificate = certificates[event["certificate"]["certificate_id"]]
        assert event["certificate"]["order_id"] == certificate["order_id"]
        assert event["certificate"]["account_id"] == account


# --------------------------------------------------------------------------- acknowledgement
def test_no_ack_is_retried_and_an_ack_stops_the_retries(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver_factory: Callable[..., Receiver]
) -> None:
    answers = iter([(200, b'{"code":1,"msg":"fail"}'), (200, b"not json")])
    flaky = receiver_factory(lambda request: next(answers, (200, ACK)))
    sandbox = douyin_sandbox_factory(orders=20, push_url=flaky.url, push_retry_ms=10)
    sandbox.mutate(new_orders=1)
    [delivery] = sandbox.wait_for_pushes()
    assert (delivery["state"], delivery["attempts"]) == ("acked", 3)
    assert [a["acked"] for a in delivery["attempt_log"]] == [False, False, True]
    bodies = [r.body for r in flaky.of("doudian")]
    assert len(bodies) == 3 and len(set(bodies)) == 1
    sandbox.mutate(new_orders=1)
    assert sandbox.wait_for_pushes()[-1]["attempts"] == 1
    assert len(flaky.of("doudian")) == 4


def test_a_message_never_acknowledged_is_given_up_after_the_last_attempt(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver_factory: Callable[..., Receiver]
) -> None:
    broken = receiver_factory(lambda request: (500, b"oops"))
    sandbox = douyin_sandbox_factory(orders=20, push_url=broken.url, push_retry_ms=10, push_max_attempts=3)
    sandbox.mutate(new_orders=1)
    [delivery] = sandbox.wait_for_pushes()
    assert (delivery["state"], delivery["attempts"], delivery["status_code"]) == ("failed", 3, 500)
    assert len(broken.of("doudian")) == 3


def test_the_api_never_waits_for_a_slow_receiver(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    receiver.gate = threading.Event()
    sandbox = douyin_sandbox_factory(orders=20, push_url=receiver.url, push_retry_ms=10)
    first = requests.post(sandbox.url + "/sandbox/mutate", json={"new_orders": 1}, timeout=10)
    second = requests.post(sandbox.url + "/sandbox/mutate", json={"new_orders": 1}, timeout=10)
    assert first.status_code == second.status_code == 200
    assert not receiver.gate.is_set()  # both answered while the receiver still holds the first message
    assert requests.get(sandbox.url + "/sandbox/push", timeout=10).json()["pending"] == 2
    receiver.gate.set()
    assert [d["state"] for d in sandbox.wait_for_pushes()] == ["acked", "acked"]


# --------------------------------------------------------------------------- faults
def test_duplicates_arrive_twice_with_the_same_msg_id(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(orders=20, push_url=receiver.url, push_duplicate=1.0)
    sandbox.mutate(new_orders=2)
    listing = sandbox.wait_for_pushes()
    msg_ids = [r.record()["msg_id"] for r in receiver.of("doudian")]
    assert len(msg_ids) == 4 and len(set(msg_ids)) == 2
    assert all(msg_ids.count(m) == 2 for m in msg_ids)
    assert [d["faults"] for d in listing] == [[], ["duplicate"], [], ["duplicate"]]
    assert all(d["state"] == "acked" for d in listing)


def test_drops_never_arrive_but_are_listed(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(
        orders=20, life_orders=20, push_url=receiver.url, webhook_url=receiver.url, push_drop=1.0
    )
    sandbox.mutate(new_orders=3)
    sandbox.send_push_verification("open")
    listing = sandbox.wait_for_pushes()
    assert receiver.requests == []
    assert [(d["state"], d["attempts"], d["faults"]) for d in listing] == [("dropped", 0, ["drop"])] * 4


def test_bad_signatures_fail_verification_on_both_platforms(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(
        orders=20, life_orders=40, push_url=receiver.url, webhook_url=receiver.url, push_bad_sign=1.0
    )
    sandbox.mutate(new_orders=2)
    sandbox.open_mutate(updates=5)
    listing = sandbox.wait_for_pushes()
    doudian, webhooks = receiver.of("doudian"), receiver.of("open")
    assert len(doudian) == 2 and webhooks
    assert all(r.headers["event-sign"] != doudian_sign(r.body) for r in doudian)
    assert all(r.headers["x-douyin-signature"] != open_sign(r.body) for r in webhooks)
    assert all(d["faults"] == ["bad_sign"] and d["signature_valid"] is False for d in listing)
    sandbox.set_faults(push_bad_sign=0.0)
    sandbox.mutate(new_orders=1)
    sandbox.wait_for_pushes()
    last = receiver.of("doudian")[-1]
    assert last.headers["event-sign"] == doudian_sign(last.body)


def test_reorder_holds_a_message_back_behind_the_next_one(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(
        orders=20, push_url=receiver.url, push_reorder=0.5, push_reorder_hold_ms=3000
    )
    sandbox.mutate(new_orders=12)
    listing = sandbox.wait_for_pushes()
    arrival = [r.record()["msg_id"] for r in receiver.of("doudian")]
    sent = [d["msg_id"] for d in listing]
    assert sorted(arrival) == sorted(sent) and arrival != sent
    held = [i for i, d in enumerate(listing) if "reorder" in d["faults"]]
    assert held
    for i in held[:-1]:  # each arrives after a later message; the last may have none to wait for
        assert arrival.index(sent[i]) > min(arrival.index(later) for later in sent[i + 1 :])


def test_faults_are_the_same_for_the_same_seed_and_changes(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    faults = {"push_duplicate": 0.3, "push_drop": 0.3, "push_bad_sign": 0.3, "push_reorder": 0.3}
    runs = []
    for _ in range(2):
        sandbox = douyin_sandbox_factory(orders=40, push_url=receiver.url, push_reorder_hold_ms=50, **faults)
        sandbox.mutate(new_orders=4, updates=20)
        runs.append([(d["tag"], d["faults"], d["data"].get("p_id")) for d in sandbox.wait_for_pushes()])
    assert runs[0] == runs[1]
    assert {"drop", "bad_sign", "duplicate", "reorder"} <= {f for _, fs, _ in runs[0] for f in fs}


def test_push_delay_holds_every_first_attempt_back(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(orders=20, push_url=receiver.url, push_delay_ms=300)
    sandbox.mutate(new_orders=2)
    for delivery in sandbox.wait_for_pushes():
        assert delivery["attempt_log"][0]["at"] >= delivery["queued_at"] + 0.3 - 0.002  # rounding to ms


# --------------------------------------------------------------------------- control API and CLI
def test_urls_and_faults_are_set_at_runtime_over_http(
    douyin_sandbox_factory: Callable[..., SandboxServer], receiver: Receiver
) -> None:
    sandbox = douyin_sandbox_factory(orders=20, life_orders=20)
    base = sandbox.url
    requests.post(base + "/sandbox/mutate", json={"new_orders": 2}, timeout=10)
    assert requests.get(base + "/sandbox/pushes", timeout=10).json() == []
    assert (
        requests.post(base + "/sandbox/push/verify", json={"platform": "doudian"}, timeout=10).status_code
        == 409
    )

    urls = {"push_url": receiver.url, "webhook_url": receiver.url}
    state = requests.post(base + "/sandbox/push", json=urls, timeout=10).json()
    assert (state["push_url"], state["webhook_url"]) == (receiver.url, receiver.url)
    faults = requests.post(base + "/sandbox/faults", json={"push_duplicate": 1}, timeout=10).json()
    assert faults["push_duplicate"] == 1.0
    requests.post(base + "/sandbox/mutate", json={"new_orders": 1}, timeout=10)
    requests.post(base + "/sandbox/push/verify", json={"platform": "open"}, timeout=10)
    sandbox.wait_for_pushes()
    listing = requests.get(base + "/sandbox/pushes", timeout=10).json()
    assert [(d["platform"], d["faults"]) for d in listing] == [
        ("doudian", []),
        ("doudian", ["duplicate"]),
        ("open", []),
        ("open", ["duplicate"]),
    ]
    assert [d["seq"] for d in requests.get(base + "/sandbox/pushes?platform=open", timeout=10).json()] == [
        3,
        4,
    ]
    assert [d["seq"] for d in requests.get(base + "/sandbox/pushes?since=3", timeout=10).json()] == [4]
    assert len(receiver.requests) == 4

    refused = requests.post(base + "/sandbox/push", json={"push_url": "http://example.com/hook"}, timeout=10)
    assert refused.status_code == 400 and "loopback" in refused.json()["error"]
    assert requests.post(base + "/sandbox/push", json={"push": "x"}, timeout=10).status_code == 400
    requests.post(base + "/sandbox/push", json={"push_url": ""}, timeout=10)
    requests.post(base + "/sandbox/mutate", json={"new_orders": 1}, timeout=10)
    assert len(requests.get(base + "/sandbox/pushes", timeout=10).json()) == 4


def test_serve_sends_to_the_urls_given_on_the_command_line(receiver: Receiver) -> None:
    urls = ["--push-url", receiver.url, "--webhook-url", receiver.url]
    with cli_serve("--orders", "30", "--life-orders", "30", *urls, "--push-duplicate", "1") as (url, _):
        state = requests.get(url + "/sandbox/info", timeout=10).json()["push"]
        assert (state["push_url"], state["webhook_url"]) == (receiver.url, receiver.url)
        requests.post(url + "/sandbox/push/verify", json={"platform": "doudian"}, timeout=10)
        for _ in range(200):  # until both copies are acknowledged
            if requests.get(url + "/sandbox/push", timeout=10).json()["deliveries"].get("acked") == 2:
                break
            threading.Event().wait(0.05)
        assert [r.record()["tag"] for r in receiver.of("doudian")] == ["0", "0"]
