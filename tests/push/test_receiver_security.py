"""The real HTTP receiver, standalone (``douyin-push serve``) and mounted in ``airflow api-server``.

Every forged or malformed request gets a non-success answer and leaves no message behind; the
only trace is the per-connection rejection counter. Accepted pushes get the documented ack,
duplicates included, and are stored once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from airflow_provider_douyin.push.store import PushStore, open_store
from tests.airflow.deployment import free_port
from tests.push.pushkit import (
    OPEN_CONN,
    OTHER_APP_KEY,
    OTHER_APP_SECRET,
    OTHER_SHOP_CONN,
    SHOP_CONN,
    STORE_CONN,
    Receiver,
    base_env,
    connection_env,
    doudian_body,
    doudian_headers,
    doudian_sign,
    metadata_database,
    mounted,
    open_sign,
    order_record,
    standalone,
    webhook_body,
)

pytestmark = pytest.mark.timeout(600)

MAX_BODY = 256 * 1024


@dataclass
class Target:
    receiver: Receiver
    store: PushStore

    def messages(self) -> int:
        import sqlalchemy as sa

        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.store.messages)).scalar_one()

    def rejections(self) -> int:
        return sum(h["rejected_last_hour"] for h in self.store.health().values())


@pytest.fixture(scope="module", params=["standalone", "mounted"])
def target(request, tmp_path_factory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp(request.param)
    store_path = tmp / "store.db"
    env = {**base_env(tmp), **connection_env(store_path), "DOUYIN_PUSH_STORE_CONN_ID": STORE_CONN}
    port = free_port()
    if request.param == "standalone":
        with standalone(env, port, tmp / "receiver.out") as receiver:
            yield Target(receiver, open_store(f"sqlite:///{store_path}"))
    else:
        with metadata_database() as metadata, mounted(env, metadata, tmp) as receiver:
            yield Target(receiver, open_store(f"sqlite:///{store_path}"))


def _doudian_cases() -> list[tuple[str, Callable[[Target], requests.Response]]]:
    body = doudian_body(order_record(6900000000000000001, msg_id="forged-1"))
    other = doudian_body(order_record(6900000000000000002, msg_id="forged-2"))
    url = lambda t, conn=SHOP_CONN: t.receiver.url("doudian", conn)  # noqa: E731

    def post(data: bytes, **headers: str | None) -> Callable[[Target], requests.Response]:
        return lambda t: requests.post(
            url(t), data=data, headers=doudian_headers(data, **headers), timeout=10
        )

    oversized = doudian_body(order_record(6900000000000000003, msg_id="big", pad="x" * MAX_BODY))
    return [
        ("missing event-sign", post(body, **{"event-sign": None})),
        ("empty event-sign", post(body, **{"event-sign": ""})),
        ("sign of another body", post(body, **{"event-sign": doudian_sign(other)})),
        ("sign with a wrong secret", post(body, **{"event-sign": doudian_sign(body, secret="guess")})),
        (
            "sign by another connection's secret",
            post(body, **{"event-sign": doudian_sign(body, OTHER_APP_KEY, OTHER_APP_SECRET)}),
        ),
        (
            "altered body (one digit of p_id)",
            lambda t: requests.post(
                url(t), data=body.replace(b"0001", b"0009"), headers=doudian_headers(body), timeout=10
            ),
        ),
        (
            "body re-serialised with spaces",
            lambda t: requests.post(
                url(t), data=json.dumps(json.loads(body)).encode(), headers=doudian_headers(body), timeout=10
            ),
        ),
        (
            "replayed body with a different msg_id",
            lambda t: requests.post(
                url(t), data=body.replace(b"forged-1", b"forged-9"), headers=doudian_headers(body), timeout=10
            ),
        ),
        ("wrong app-id", post(body, **{"app-id": OTHER_APP_KEY})),
        ("missing app-id", post(body, **{"app-id": None})),
        (
            "another connection's push on this path",
            lambda t: requests.post(
                url(t),
                data=body,
                headers=doudian_headers(
                    body,
                    **{
                        "app-id": OTHER_APP_KEY,
                        "event-sign": doudian_sign(body, OTHER_APP_KEY, OTHER_APP_SECRET),
                    },
                ),
                timeout=10,
            ),
        ),
        ("oversized body, correctly signed", post(oversized)),
        ("GET", lambda t: requests.get(url(t), timeout=10)),
        (
            "PUT, correctly signed",
            lambda t: requests.put(url(t), data=body, headers=doudian_headers(body), timeout=10),
        ),
        ("DELETE", lambda t: requests.delete(url(t), timeout=10)),
        ("truncated JSON, correctly signed", post(body[:-7])),
        ("an object, not an array", post(json.dumps(order_record(6900000000000000004)).encode())),
        ("empty array", post(b"[]")),
        ("empty body", post(b"")),
        ("data as an object", post(doudian_body({"tag": "101", "msg_id": "obj", "data": {"p_id": 1}}))),
        ("record without msg_id", post(doudian_body({"tag": "101", "data": "{}"}))),
        ("not UTF-8", post(b'[{"tag":"101","msg_id":"\xff","data":"{}"}]')),
        (
            "unknown connection",
            lambda t: requests.post(
                url(t, "no_such_conn"), data=body, headers=doudian_headers(body), timeout=10
            ),
        ),
        (
            "an Open Platform connection on the Doudian path",
            lambda t: requests.post(url(t, OPEN_CONN), data=body, headers=doudian_headers(body), timeout=10),
        ),
    ]


def _open_cases() -> list[tuple[str, Callable[[Target], requests.Response]]]:
    body = webhook_body(order_id="1080000000000000077")
    url = lambda t: t.receiver.url("open", OPEN_CONN)  # noqa: E731

    def post(data: bytes, sign: str | None = "ok", msg_id: str | None = "wh-forged") -> Callable:
        headers = {"X-Douyin-Signature": open_sign(data) if sign == "ok" else sign, "Msg-Id": msg_id}
        return lambda t: requests.post(
            url(t), data=data, headers={k: v for k, v in headers.items() if v is not None}, timeout=10
        )

    wrong_key = body.replace(b'"aw7sandbox0000a1"', b'"awsomebodyelse00"')
    return [
        ("webhook without signature", post(body, sign=None)),
        ("webhook with a forged signature", post(body, sign=open_sign(body, "guess"))),
        (
            "webhook with an altered body",
            lambda t: requests.post(
                url(t),
                data=body.replace(b"0077", b"0078"),
                headers={"X-Douyin-Signature": open_sign(body), "Msg-Id": "wh-forged"},
                timeout=10,
            ),
        ),  # fmt: skip
        ("webhook without Msg-Id", post(body, msg_id=None)),
        ("webhook truncated JSON", post(body[:-3])),
        ("webhook of another client_key", post(wrong_key)),
        ("webhook GET", lambda t: requests.get(url(t), timeout=10)),
        ("webhook oversized", post(b'{"event":"x","pad":"' + b"y" * MAX_BODY + b'"}')),
    ]


CASES = _doudian_cases() + _open_cases()


def test_forged_and_malformed_requests_are_refused_and_store_nothing(target: Target):
    assert len(CASES) >= 20
    # One accepted webhook first, so that a replay of its body under another Msg-Id can be tried.
    accepted = webhook_body(order_id="1080000000000000099")
    headers = {"X-Douyin-Signature": open_sign(accepted), "Msg-Id": "wh-original"}
    assert requests.post(target.receiver.url("open", OPEN_CONN), data=accepted, headers=headers).ok
    replay = ("webhook body replayed under another Msg-Id", lambda t: requests.post(
        t.receiver.url("open", OPEN_CONN), data=accepted,
        headers={"X-Douyin-Signature": open_sign(accepted), "Msg-Id": "wh-replayed"}, timeout=10,
    ))  # fmt: skip
    stored, rejected_before = target.messages(), target.rejections()
    refused = []
    for name, send in [*CASES, replay]:
        response = send(target)
        assert not 200 <= response.status_code < 300, f"{name}: accepted with {response.text}"
        assert response.json() not in ({"code": 0, "msg": "success"}, {"err_no": 0, "err_tips": "success"}), (
            name
        )
        assert target.messages() == stored, f"{name}: stored something"
        refused.append(name)
    assert len(refused) == len(CASES) + 1  # 100 %
    # Refusals for a known connection are counted (not stored); method, unknown-connection and
    # wrong-platform refusals happen before a connection is known and count nowhere.
    uncounted = {"GET", "PUT, correctly signed", "DELETE", "webhook GET", "unknown connection"}
    uncounted.add("an Open Platform connection on the Doudian path")
    assert target.rejections() - rejected_before == len(CASES) + 1 - len(uncounted)
    health = target.store.health()
    assert health[SHOP_CONN]["rejected_signatures_last_hour"] >= 7
    assert OTHER_SHOP_CONN not in health


def test_accepted_pushes_are_acked_stored_once_and_verifications_answered(target: Target):
    url = target.receiver.url("doudian", SHOP_CONN)
    before = target.messages()
    body = doudian_body(order_record(6900000000000000011, msg_id="ok-1"), order_record(6900000000000000012))
    for _ in range(3):  # the platform redelivers; every delivery is acked, one row is kept
        response = requests.post(url, data=body, headers=doudian_headers(body), timeout=10)
        assert response.status_code == 200 and response.content == b'{"code":0,"msg":"success"}'
    assert target.messages() == before + 2

    verify = doudian_body({"tag": "0", "data": {"shape": "not relied on"}})
    response = requests.post(url, data=verify, headers=doudian_headers(verify), timeout=10)
    assert response.status_code == 200 and response.json() == {"code": 0, "msg": "success"}
    assert target.messages() == before + 2

    unknown = doudian_body(order_record(6900000000000000013, tag="999", msg_id="unknown-tag"))
    response = requests.post(url, data=unknown, headers=doudian_headers(unknown), timeout=10)
    assert response.json() == {"code": 0, "msg": "success"}
    assert target.store.health()[SHOP_CONN]["unknown_tags"] == 1
    handed_out = target.store.claim(conn_ids=[SHOP_CONN], lease_s=0)[SHOP_CONN]
    assert "999" not in {m.tag for m in target.store.load(handed_out)}  # kept, never processed

    challenge = b'{"event":"verify_webhook","client_key":"","content":{"challenge":12345}}'
    response = requests.post(
        target.receiver.url("open", OPEN_CONN), data=challenge,
        headers={"X-Douyin-Signature": open_sign(challenge)}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 200 and response.json() == {"challenge": 12345}
    assert target.messages() == before + 3


def test_a_store_path_on_start_up(tmp_path: Path):
    """Given no store option, the receiver keeps messages in a local default store and says where."""
    env = {
        **base_env(tmp_path),
        **connection_env(tmp_path / "unused.db"),
        "DOUYIN_PUSH_HOME": str(tmp_path / "home"),
    }
    with standalone(env, free_port(), tmp_path / "receiver.out") as receiver:
        body = doudian_body(order_record(6900000000000000021))
        assert requests.post(receiver.url("doudian", SHOP_CONN), data=body, headers=doudian_headers(body)).ok
    default = tmp_path / "home" / "messages.db"
    assert f"the local default store sqlite:///{default}" in receiver.log.read_text()
    assert len(open_store(f"sqlite:///{default}").load(range(1, 10))) == 1
