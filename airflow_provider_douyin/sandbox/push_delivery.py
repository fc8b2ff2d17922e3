"""Delivery of Doudian push messages and Open Platform webhooks to a receiver, with faults on demand.

Both platforms call back the app's configured URL when records change:

* Doudian (https://op.jinritemai.com/docs/message-docs/): an HTTP POST whose body is a JSON array of
  ``{"tag", "msg_id", "data"}`` with ``data`` a JSON *string*; headers ``app-id`` (the app_key) and
  ``event-sign`` = lower-hex MD5 of ``app_key + raw body + app_secret``. The receiver acknowledges
  with ``{"code": 0, "msg": "success"}`` within 5 s; a URL is first checked with a ``tag "0"`` message.
* Open Platform (https://developer.open-douyin.com/docs/resource/zh-CN/local-life/connect/webhooks):
  a POST of ``{"event", "client_key", "content", "log_id"}`` with ``content`` a JSON string;
  headers ``Msg-Id`` and ``X-Douyin-Signature`` = lower-hex SHA-1 of ``client_secret + raw body``.
  A URL is checked with ``verify_webhook``, whose ``content`` is an object ``{"challenge": n}``
  and whose reply must echo ``{"challenge": n}``. Any HTTP 200 acknowledges a business event.

Messages are built while the data lock is held (so they describe exactly the version that was
written) and queued; one daemon thread sends them, so the API never waits for a receiver. A
message not acknowledged is retried ``push_max_attempts`` times in all, after ``push_retry_ms``,
doubling; neither platform's docs fix a schedule, so this one is the sandbox's. Fault decisions are
drawn from one RNG seeded by the sandbox seed, in the order messages are queued, so the same seed
and the same mutations fault the same messages. Every delivery is recorded for ``GET /sandbox/pushes``;
signatures are never listed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .config import FaultConfig, SandboxConfig
from .hashing import mix
from .reply import ControlError

DOUDIAN, OPEN = "doudian", "open"
PLATFORMS = (DOUDIAN, OPEN)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MSG_ID_BASE = 7_000_000_000_000_000_000
"""Doudian msg_ids are ``<19-digit id>:<tag>:<epoch seconds>``, like the documented example."""
VERIFY_EVENT = "verify_webhook"


def check_url(url: str) -> str:
    """An empty string (nothing is sent) or an http URL on loopback: the sandbox never leaves the host."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise ValueError(f"push and webhook URLs must be http:// on loopback, not {url!r}")
    return url


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Message:
    """What one POST carries: the body exactly as sent, and both signatures' headers."""

    platform: str
    kind: str
    """The Doudian tag or the Open Platform event."""
    msg_id: str
    owner: int | str | None
    """The shop_id (a number) or account_id (text), as the records carry them; ``None`` for a URL check."""
    body: bytes
    headers: dict[str, str]
    forged: dict[str, str]
    """The same headers with a signature made with a wrong secret (``push_bad_sign``)."""
    content: Any
    """The decoded ``data`` / ``content``, as listed."""
    challenge: int | None = None


@dataclass
class Delivery:
    """One sending of a message (a duplicate is a second delivery of it), and what became of it."""

    seq: int
    message: Message
    url: str
    faults: list[str]
    due: float
    rank: float
    queued_at: float = field(default_factory=lambda: round(time.time(), 3))
    """Wall time the message was queued, epoch seconds."""
    held: bool = False
    state: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.message.forged if "bad_sign" in self.faults else self.message.headers

    def listing(self) -> dict[str, Any]:
        message = self.message
        last = self.attempts[-1] if self.attempts else {}
        return {
            "seq": self.seq,
            "platform": message.platform,
            "tag" if message.platform == DOUDIAN else "event": message.kind,
            "msg_id": message.msg_id,
            "shop_id" if message.platform == DOUDIAN else "account_id": message.owner,
            "url": self.url,
            "state": self.state,
            "acked": self.state == "acked",
            "attempts": len(self.attempts),
            "status_code": last.get("status_code"),
            "queued_at": self.queued_at,
            "faults": list(self.faults),
            "signature_valid": "bad_sign" not in self.faults,
            "data": message.content,
            "body": message.body.decode(),
            "attempt_log": [dict(a) for a in self.attempts],
        }


class PushDelivery:
    """Queues, signs, faults, sends and records the messages of both platforms of one server."""

    def __init__(
        self,
        config: SandboxConfig,
        app: tuple[str, str],
        client: tuple[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``app`` is the Doudian ``(app_key, app_secret)``, ``client`` the Open Platform
        ``(client_key, client_secret)``; ``clock`` (the business clock) stamps msg_ids and log_ids."""
        self.faults: FaultConfig = config.faults
        self.urls = {DOUDIAN: check_url(config.push_url), OPEN: check_url(config.webhook_url)}
        self._app, self._client = app, client
        self.clock = clock
        self._rng = random.Random(mix(config.seed, 0x9054))
        self._cond = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._queue: list[Delivery] = []
        self._messages = 0
        """Messages built so far; numbers msg_ids and log_ids (a duplicate is no new message)."""
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- producing
    def wants(self, platform: str) -> bool:
        """Whether a URL is set, so callers skip building messages nobody receives."""
        return bool(self.urls[platform])

    def doudian(self, shop_id: int, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue Doudian messages ``(tag, data)``, one POST each."""
        for tag, data in messages:
            self._enqueue(self._doudian(shop_id, tag, data))

    def webhooks(self, account_id: int, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Queue Open Platform webhooks ``(event, msg_id, content)``, one POST each."""
        for event, msg_id, content in events:
            body = {"event": event, "client_key": self._client[0], "content": _json(content),
                    "log_id": f"{int(self.clock())}{mix(self._number(), 0x106) % 10**16:016d}"}  # fmt: skip
            self._enqueue(self._webhook(str(account_id), event, msg_id, _json(body).encode(), content))

    def verify(self, platform: str) -> Delivery:
        """Queue the URL check: Doudian's ``tag "0"`` message or the ``verify_webhook`` challenge."""
        if platform not in PLATFORMS:
            raise ControlError(400, f"platform must be one of {', '.join(PLATFORMS)}")
        if platform == DOUDIAN:
            message = self._doudian(None, "0", {})
        else:
            with self._cond:
                challenge = self._rng.randrange(10_000, 10**9)
            content = {"challenge": challenge}
            body = _json({"event": VERIFY_EVENT, "client_key": self._client[0], "content": content}).encode()
            message = self._webhook(
                None, VERIFY_EVENT, f"{VERIFY_EVENT}:{challenge}", body, content, challenge
            )
        delivery = self._enqueue(message)
        if delivery is None:
            raise ControlError(409, f"no {'push_url' if platform == DOUDIAN else 'webhook_url'} is set")
        return delivery

    def _number(self) -> int:
        with self._cond:
            self._messages += 1
            return self._messages

    def _doudian(self, shop_id: int | None, tag: str, data: dict[str, Any]) -> Message:
        app_key, secret = self._app
        msg_id = f"{MSG_ID_BASE + self._number()}:{tag}:{int(self.clock())}"
        body = _json([{"tag": tag, "msg_id": msg_id, "data": _json(data)}]).encode()

        def sign(key: str) -> dict[str, str]:
            digest = hashlib.md5(app_key.encode() + body + key.encode()).hexdigest()
            return {"app-id": app_key, "event-sign": digest, "Content-Type": "application/json"}

        return Message(DOUDIAN, tag, msg_id, shop_id, body, sign(secret), sign(secret[::-1]), data)

    def _webhook(self, account_id: str | None, event: str, msg_id: str, body: bytes, content: Any,
                 challenge: int | None = None) -> Message:  # fmt: skip
        secret = self._client[1]

        def sign(key: str) -> dict[str, str]:
            digest = hashlib.sha1(key.encode() + body).hexdigest()
            return {"Msg-Id": msg_id, "X-Douyin-Signature": digest, "Content-Type": "application/json"}

        return Message(
            OPEN, event, msg_id, account_id, body, sign(secret), sign(secret[::-1]), content, challenge
        )

    def _enqueue(self, message: Message) -> Delivery | None:
        """Roll the faults, record the delivery and queue it; ``None`` when its platform has no URL."""
        faults = self.faults
        with self._cond:
            url = self.urls[message.platform]
            if not url:
                return None
            rolls = [(name, self._rng.random(), rate) for name, rate in (
                ("duplicate", faults.push_duplicate), ("reorder", faults.push_reorder),
                ("drop", faults.push_drop), ("bad_sign", faults.push_bad_sign),
            )]  # fmt: skip
            applied = {name for name, roll, rate in rolls if roll < rate}
            due = time.monotonic() + faults.push_delay_ms / 1000.0
            seq = len(self._deliveries) + 1
            if "drop" in applied:
                self._deliveries.append(Delivery(seq, message, url, ["drop"], due, seq, state="dropped"))
                return self._deliveries[-1]
            kept = [name for name in ("bad_sign", "reorder") if name in applied]
            delivery = Delivery(seq, message, url, kept, due, seq, held="reorder" in applied)
            if delivery.held:
                delivery.due += faults.push_reorder_hold_ms / 1000.0
            copies = [delivery]
            if "duplicate" in applied:
                copy = Delivery(seq + 1, message, url, ["duplicate", *kept], delivery.due, seq + 0.25)
                copy.held = delivery.held
                copies.append(copy)
            self._deliveries.extend(copies)
            self._queue.extend(copies)
            self._cond.notify_all()
        return delivery

    # ----------------------------------------------------------------- sending
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="douyin-sandbox-push", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                delivery = self._next()
                if delivery is None:
                    return
                self._queue.remove(delivery)
                self._release_overtaken(delivery)
                self._in_flight += 1
            try:
                self._attempt(delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _release_overtaken(self, sent: Delivery) -> None:
        """A message held back goes right after the first later one of its platform that is sent,
        or alone when its hold ends first."""
        if sent.held:
            sent.held = False
            return
        for held in self._queue:
            if held.held and held.seq < sent.seq and held.message.platform == sent.message.platform:
                held.held, held.due, held.rank = False, sent.due, sent.rank + 0.5

    def _next(self) -> Delivery | None:
        """Wait (holding the condition) for the first message due; ``None`` when stopping."""
        while not self._stopping:
            if self._queue:
                first = min(self._queue, key=lambda d: (d.due, d.rank))
                wait = first.due - time.monotonic()
                if wait <= 0:
                    return first
                self._cond.wait(wait)
            else:
                self._cond.wait()
        return None

    def _attempt(self, delivery: Delivery) -> None:
        attempt: dict[str, Any] = {
            "at": round(time.time(), 3),
            "status_code": None,
            "acked": False,
            "error": "",
        }
        timeout = self.faults.push_ack_timeout_ms / 1000.0
        try:
            status, reply = _post(delivery.url, delivery.message.body, delivery.headers, timeout)
            attempt["status_code"] = status
            attempt["acked"] = status == 200 and _acknowledges(delivery, reply)
            if not attempt["acked"]:
                attempt["error"] = reply[:200].decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"[:200]
        with self._cond:
            delivery.attempts.append(attempt)
            if attempt["acked"]:
                delivery.state = "acked"
            elif len(delivery.attempts) >= max(self.faults.push_max_attempts, 1):
                delivery.state = "failed"
            else:
                backoff = self.faults.push_retry_ms / 1000.0 * 2 ** (len(delivery.attempts) - 1)
                delivery.due = time.monotonic() + backoff
                self._queue.append(delivery)

    # ----------------------------------------------------------------- reading
    def listing(self, platform: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        with self._cond:
            chosen = [d for d in self._deliveries if d.seq > since and platform in (None, d.message.platform)]
            return [d.listing() for d in chosen]

    def state(self) -> dict[str, Any]:
        with self._cond:
            counts: dict[str, int] = {}
            for d in self._deliveries:
                counts[d.state] = counts.get(d.state, 0) + 1
            return {"push_url": self.urls[DOUDIAN], "webhook_url": self.urls[OPEN],
                    "pending": len(self._queue) + self._in_flight, "deliveries": counts}  # fmt: skip

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight (retries included); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # ----------------------------------------------------------------- control API
    def control(self, http_method: str, path: str, query: dict[str, str], body: Any) -> Any:
        """``GET|POST /sandbox/push``, ``POST /sandbox/push/verify``, ``GET /sandbox/pushes``."""
        route = path.rstrip("/")
        if http_method == "GET" and route == "/sandbox/push":
            return self.state()
        if http_method == "GET" and route == "/sandbox/pushes":
            platform = query.get("platform") or None
            if platform is not None and platform not in PLATFORMS:
                raise ControlError(400, f"platform must be one of {', '.join(PLATFORMS)}")
            try:
                since = int(query.get("since") or 0)
            except ValueError as exc:
                raise ControlError(400, "since must be an integer") from exc
            return self.listing(platform, since)
        if http_method != "POST" or not isinstance(body, dict):
            raise ControlError(
                404 if http_method != "POST" else 400, f"no control endpoint {http_method} {path}"
            )
        if route == "/sandbox/push":
            return self.set_urls(body)
        if route == "/sandbox/push/verify":
            return self.verify(str(body.get("platform", ""))).listing()
        raise ControlError(404, f"no control endpoint POST {path}")

    def set_urls(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"push_url": ..., "webhook_url": ...}``, each optional; ``""`` or ``null`` stops sending."""
        unknown = sorted(set(body) - {"push_url", "webhook_url"})
        if unknown:
            raise ControlError(400, f"unknown push fields: {', '.join(unknown)}")
        try:
            urls = {
                p: check_url(body[k] or "")
                for p, k in ((DOUDIAN, "push_url"), (OPEN, "webhook_url"))
                if k in body
            }
        except (TypeError, ValueError) as exc:
            raise ControlError(400, str(exc)) from exc
        with self._cond:
            self.urls.update(urls)
        return self.state()


def _acknowledges(delivery: Delivery, reply: bytes) -> bool:
    """Doudian: ``{"code": 0, ...}``; a verification: the challenge echoed; other webhooks: any 200."""
    message = delivery.message
    if message.platform == OPEN and message.challenge is None:
        return True
    try:
        answer = json.loads(reply)
    except ValueError:
        return False
    if not isinstance(answer, dict):
        return False
    if message.platform == DOUDIAN:
        return answer.get("code") == 0
    return str(answer.get("challenge")) == str(message.challenge)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST without any proxy (``http.client`` reads no proxy settings), so loopback stays loopback."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
