"""The two push protocols: signature checks over the raw bytes, and parsing into messages.

Doudian message push (https://op.jinritemai.com/docs/guide-docs/153/99): a POST whose body is a
JSON array of ``{"tag", "msg_id", "data"}`` records, ``data`` being a JSON-encoded *string*; the
header ``event-sign`` is ``md5(app_key + raw_body + app_secret)`` in lower hex and ``app-id`` is the
app_key. Tag ``"0"`` is the console's URL verification. The ack is ``{"code":0,"msg":"success"}``.

Douyin Open Platform webhooks
(https://developer.open-douyin.com/docs/resource/zh-CN/local-life/connect/webhooks): a POST with a
JSON object ``{"event", "client_key", "content", ...}``; ``X-Douyin-Signature`` is
``sha1(client_secret + raw_body)`` and ``Msg-Id`` identifies the delivery. ``verify_webhook``
carries ``content.challenge``, answered with ``{"challenge": <value>}``.

A signature is always computed over the bytes received: a body parsed and re-serialised hashes
differently, and a verifier that re-serialises would accept bodies it never saw.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_douyin.client.errors import DouyinError

Platform = Literal["doudian", "open"]

VERIFY_TAG = "0"
VERIFY_EVENT = "verify_webhook"
DOUDIAN_ACK = {"code": 0, "msg": "success"}

ORDER_TAGS = frozenset(
    {"100", "101", "102", "103", "104", "105", "106", "108", "109", "110", "111"} | {"113", "126"}
)
AFTER_SALE_TAGS = frozenset({str(t) for t in (*range(200, 210), *range(211, 219), *range(224, 228))})
PRODUCT_TAGS = frozenset({"400", "417"})
Kind = Literal["order", "after_sale", "product", "life_order"]


class PushRejected(DouyinError):
    """A push request refused before anything is stored; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PushMessage:
    """One message of a push: what the store keeps and the processor reads."""

    msg_id: str
    tag: str
    """Doudian tag, or the webhook's ``event`` name."""
    data: str
    """The message's payload as text (Doudian: the ``data`` string; webhooks: the whole body)."""

    def payload(self) -> dict[str, Any]:
        value = json.loads(self.data)
        return value if isinstance(value, dict) else {}


def doudian_sign(app_key: str, app_secret: str, raw: bytes) -> str:
    return hashlib.md5(app_key.encode() + raw + app_secret.encode()).hexdigest()


def open_sign(client_secret: str, raw: bytes) -> str:
    return hashlib.sha1(client_secret.encode() + raw).hexdigest()


def check_sign(expected: str, given: str | None) -> None:
    """Constant-time comparison; a missing or wrong signature is 401."""
    if not given or not hmac.compare_digest(expected, given.strip().lower()):
        raise PushRejected(401, "bad or missing signature")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PushRejected(400, "body is not JSON") from None


def parse_doudian(raw: bytes) -> list[PushMessage]:
    """The messages of a verified Doudian body, without tag ``"0"`` verification records; any other
    record not ``{tag, msg_id, data: str}`` fails the whole body."""
    body = _json(raw)
    if not isinstance(body, list) or not body:
        raise PushRejected(400, "body is not a non-empty JSON array")
    messages = []
    for record in body:
        if not isinstance(record, dict):
            raise PushRejected(400, "a record is not an object")
        tag, msg_id, data = record.get("tag"), record.get("msg_id"), record.get("data")
        if not isinstance(tag, (str, int)) or isinstance(tag, bool):
            raise PushRejected(400, "a record lacks its tag")
        if str(tag) == VERIFY_TAG:  # the console's URL check: answered, never stored, shape not relied on
            continue
        if not isinstance(msg_id, str) or not msg_id:
            raise PushRejected(400, "a record lacks its msg_id")
        if not isinstance(data, str):
            raise PushRejected(400, "a record's data is not a JSON string")
        try:
            if not isinstance(json.loads(data), dict):
                raise ValueError
        except ValueError:
            raise PushRejected(400, "a record's data is not a JSON object") from None
        messages.append(PushMessage(msg_id=msg_id, tag=str(tag), data=data))
    if len({m.msg_id for m in messages}) != len(messages):
        raise PushRejected(400, "a msg_id repeats within one body")
    return messages


def parse_open(raw: bytes, msg_id: str | None) -> tuple[dict[str, Any], PushMessage | None]:
    """A verified webhook body and its message (``None`` for ``verify_webhook``, which needs no Msg-Id)."""
    body = _json(raw)
    if not isinstance(body, dict) or not isinstance(body.get("event"), str) or not body["event"]:
        raise PushRejected(400, "body is not a webhook event object")
    if body["event"] == VERIFY_EVENT:
        content = body.get("content")
        if isinstance(content, str):
            content = _json(content.encode())
        if not isinstance(content, dict) or "challenge" not in content:
            raise PushRejected(400, "verify_webhook without a challenge")
        return {"challenge": content["challenge"]}, None
    if not msg_id or not msg_id.strip():
        raise PushRejected(400, "missing Msg-Id header")
    return {}, PushMessage(msg_id=msg_id.strip(), tag=body["event"], data=raw.decode("utf-8"))


def webhook_order_id(message: PushMessage) -> str | None:
    """The 抖音来客 order id a webhook's ``content`` names (an object or a JSON string), if any."""
    content = message.payload().get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return None
    order_id = content.get("order_id") if isinstance(content, dict) else None
    return str(order_id) if isinstance(order_id, (str, int)) and str(order_id) else None


def kind_of(platform: Platform, message: PushMessage) -> Kind | None:
    """Which authoritative record a message points at; ``None``: an unknown tag, kept but not processed.

    A webhook points at a 抖音来客 order when its ``content`` carries an ``order_id``.
    """
    if platform == "open":
        return "life_order" if webhook_order_id(message) else None
    if message.tag in ORDER_TAGS:
        return "order"
    if message.tag in AFTER_SALE_TAGS:
        return "after_sale"
    if message.tag in PRODUCT_TAGS:
        return "product"
    return None
