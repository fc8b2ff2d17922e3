"""HTTP transport of the sandbox and the ``SandboxServer`` library entry point.

Built on the stdlib ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, daemon threads) because
the faults need socket-level control: a reset is a close with ``SO_LINGER`` 0, so the
client sees ECONNRESET, and a slow response is a sleep before anything is written.

Control API (unsigned JSON, never subject to faults):

* ``GET  /sandbox/info`` — app_key/app_secret, shop ids, record counts, current faults, push URLs.
* ``GET  /sandbox/stats`` — requests by method, responses by code, faults injected, refreshes.
* ``POST /sandbox/reset_stats`` — zero the counters.
* ``GET  /sandbox/clock`` / ``POST /sandbox/clock`` — the business clock; move it forward with
  ``{"advance_s": n}`` or ``{"now": epoch}``.
* ``POST /sandbox/faults`` — partial update of ``FaultConfig`` fields; returns all of them.
* ``POST /sandbox/mutate`` — ``{"new_orders": n, "updates": m, "shop_id": optional}``; also
  ``"paid": true`` (the new orders are paid at once) and ``"room_refunds": k`` (k paid live-room
  orders are refunded now; unshipped single-item ones are cancelled).
* ``POST /sandbox/auth_code`` — ``{"shop_id": id}`` -> ``{"code": ...}`` for ``authorization_code``.
* ``POST /sandbox/stock`` — ``{"sku_id": id, "stock_num": n}`` -> the sku.list element.
* ``GET  /sandbox/truth/{table}?shop_id=`` — NDJSON, latest version of every record of
  ``orders``, ``products``, ``skus``, ``after_sales``, ``settlements`` or ``account_flows``.
* ``GET  /sandbox/push`` / ``POST /sandbox/push`` — the receiver URLs ``{"push_url", "webhook_url"}``
  and how many messages are pending; ``POST /sandbox/push/verify`` ``{"platform": "doudian"|"open"}``
  sends the URL check; ``GET /sandbox/pushes?platform=&since=`` lists every delivery
  (``push_delivery``).

The Douyin Open Platform side (``open_platform``) answers ``/oauth/…`` and ``/goodlife/…``,
and has its own control API under ``/sandbox/open/…``.
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from .config import SandboxConfig
from .constants import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from .engine import Engine
from .fault_injection import mark_arrival
from .open_platform import SANDBOX_CLIENT_KEY, SANDBOX_CLIENT_SECRET, is_open_path
from .open_platform.platform import OpenPlatform
from .push_delivery import PushDelivery
from .reply import ControlError, Reply

_SO_TIMESTAMPNS = 35
"""Linux's ``SO_TIMESTAMPNS`` (also its ``SCM_TIMESTAMPNS``), which the socket module does not name."""
_KERNEL_STAMPS = sys.platform == "linux" and platform.machine() in {"x86_64", "aarch64"}
"""Where the constant and a 64-bit ``timespec`` are known to hold; elsewhere arrivals are stamped when
their first line is read."""
_STAMP_SPACE = socket.CMSG_SPACE(16)
"""Room for the one ``timespec`` control message a read carries."""


class _StampedReader(socket.SocketIO):
    """Reads a connection keeping the kernel's receive time of the latest bytes read (``arrived``, on
    the monotonic clock): a handler thread that waits for the CPU reads a request late, and a
    gateway's rate limit counts it from when it arrived."""

    arrived: float | None = None

    def buffered(self, size: int) -> io.BufferedReader:
        return io.BufferedReader(self, size if size > 0 else io.DEFAULT_BUFFER_SIZE)

    def readinto(self, buffer: Any) -> int | None:
        """``SocketIO.readinto`` through ``recvmsg_into``, which also hands over the receive time."""
        self._checkClosed()
        self._checkReadable()
        if self._timeout_occurred:
            raise OSError("cannot read from timed out object")
        try:
            count, ancillary, _flags, _addr = self._sock.recvmsg_into([buffer], _STAMP_SPACE)
        except TimeoutError:
            self._timeout_occurred = True
            raise
        except BlockingIOError:
            return None
        self.arrived = None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                self.arrived = time.monotonic() - max(0.0, time.time() - (seconds + nanoseconds / 1e9))
        return count


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Tengine"
    sys_version = ""
    timeout = 60
    disable_nagle_algorithm = True
    """Headers and body leave in two writes; with Nagle on, the body waits ~40 ms for a delayed ACK."""
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry access tokens, which the sandbox never logs."""

    def setup(self) -> None:
        super().setup()
        if _KERNEL_STAMPS:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self.rfile.close()  # nothing read yet; its reference on the socket is released
                self.rfile = _StampedReader(self.connection, "rb").buffered(self.rbufsize)

    def parse_request(self) -> bool:
        # The QPS window counts the request from when its bytes reached this machine, as a gateway's
        # edge does, or else from now (its first line was just read).
        raw = getattr(self.rfile, "raw", None)
        mark_arrival(getattr(raw, "arrived", None))
        return super().parse_request()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        engine, open_platform = self.server.engine, self.server.open_platform
        if self.path.startswith("/sandbox/"):
            control = open_platform.control if self.path.startswith("/sandbox/open/") else engine.control
            if self.path.startswith("/sandbox/push"):
                control = self.server.push.control
            self._write(_control_reply(control, self.command, self.path, body))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        serve = open_platform.handle if is_open_path(self.path) else engine.gateway
        reply = serve(self.command, self.path, headers, body)
        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        if reply.action == "reset":
            self._reset()
        else:
            self._write(reply)

    def _reset(self) -> None:
        """Abort the connection with an RST instead of a response."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.connection.close()

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if isinstance(reply.body, bytes):
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.body:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], engine: Engine, open_platform: OpenPlatform,
                 push: PushDelivery) -> None:  # fmt: skip
        self.engine = engine
        self.open_platform = open_platform
        self.push = push
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal under fault injection; stay quiet."""


def _json(value: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(value, ensure_ascii=False).encode())


def _ndjson(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    batch: list[str] = []
    for row in rows:
        batch.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        if len(batch) == 500:
            yield ("\n".join(batch) + "\n").encode()
            batch = []
    if batch:
        yield ("\n".join(batch) + "\n").encode()


def _control_reply(control: Callable[[str, str, dict[str, str], Any], Any], method: str, raw_path: str,
                   body: bytes) -> Reply:  # fmt: skip
    path, _, query_text = raw_path.partition("?")
    query = {k: v[0] for k, v in parse_qs(query_text).items()}
    try:
        payload = json.loads(body) if body.strip() else {}
        result = control(method, path, query, payload)
    except ValueError as exc:
        return _json({"error": f"invalid JSON body: {exc}"}, 400)
    except ControlError as exc:
        return _json({"error": str(exc)}, exc.status)
    if isinstance(result, Iterator):
        return Reply(body=_ndjson(result), content_type="application/x-ndjson; charset=utf-8")
    return _json(result)


class SandboxServer:
    """A running sandbox on loopback. Use as a context manager or call ``start``/``stop``.

    The Python conveniences call the same control dispatcher as the HTTP control API.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``wall_clock`` drives token lifetimes and the timestamp check; a test that signs with its own
        clock passes the same one here to live through days of token life in no time."""
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandbox only listens on loopback")
        self.config = config or SandboxConfig()
        self._host, self._port = host, port
        self._wall_clock = wall_clock
        self.engine: Engine | None = None
        self.open_platform: OpenPlatform | None = None
        self.push: PushDelivery | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    app_key = SANDBOX_APP_KEY
    app_secret = SANDBOX_APP_SECRET
    client_key = SANDBOX_CLIENT_KEY
    client_secret = SANDBOX_CLIENT_SECRET

    def start(self) -> SandboxServer:
        """Generate the data set, bind the port and serve in a daemon thread."""
        if self._httpd is None:
            push = PushDelivery(
                self.config, (self.app_key, self.app_secret), (self.client_key, self.client_secret)
            )
            engine = self.engine = Engine(self.config, wall_clock=self._wall_clock, push=push)
            push.clock = engine.clock
            # Its data follows the business clock; tokens, like the shop's, live on the wall clock the
            # client stores expiries by.
            self.open_platform = OpenPlatform(
                self.config, clock=engine.clock, wall_clock=engine.wall_clock, push=push
            )
            self._httpd = _HTTPServer((self._host, self._port), engine, self.open_platform, push)
            self.push = push
            push.start()
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="douyin-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.push is not None:
            self.push.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("sandbox server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def shop_ids(self) -> list[int]:
        return [s.shop_id for s in self._engine().shops]

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("sandbox server is not running")
        return self.engine

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None,
                 query: dict[str, str] | None = None) -> Any:  # fmt: skip
        return self._engine().control(method, path, query or {}, body if body is not None else {})

    def info(self) -> dict[str, Any]:
        return self._control("GET", "/sandbox/info")

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Partially update the runtime faults (same as ``POST /sandbox/faults``)."""
        return self._control("POST", "/sandbox/faults", changes)

    def mutate(self, new_orders: int = 0, updates: int = 0, shop_id: int | None = None, *,
               paid: bool = False, room_refunds: int = 0) -> dict[str, Any]:  # fmt: skip
        """Create, advance and refund orders now; ``shop_id=None`` applies to every shop."""
        return self._control("POST", "/sandbox/mutate",
                             {"new_orders": new_orders, "updates": updates, "shop_id": shop_id,
                              "paid": paid, "room_refunds": room_refunds})  # fmt: skip

    def truth(self, table: str, shop_id: int | None = None) -> list[dict[str, Any]]:
        """Latest version of every record of ``table`` (what a perfect sync would hold)."""
        query = {"shop_id": str(shop_id)} if shop_id is not None else {}
        return list(self._control("GET", f"/sandbox/truth/{table}", query=query))

    def issue_auth_code(self, shop_id: int) -> str:
        return self._control("POST", "/sandbox/auth_code", {"shop_id": shop_id})["code"]

    def set_stock(self, sku_id: int, stock_num: int, touch_product: bool = False) -> dict[str, Any]:
        """``touch_product=True`` also marks the SKU's product updated now (a product-page edit)."""
        body = {"sku_id": sku_id, "stock_num": stock_num, "touch_product": touch_product}
        return self._control("POST", "/sandbox/stock", body)

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/sandbox/stats")

    def clock(self) -> float:
        """The business clock's now, epoch seconds (``GET /sandbox/clock``)."""
        return self._control("GET", "/sandbox/clock")["now"]

    def set_clock(self, *, now: float | None = None, advance_s: float | None = None) -> float:
        """Move the business clock forward to ``now`` or by ``advance_s`` (``POST /sandbox/clock``)."""
        body = {"now": now} if now is not None else {"advance_s": advance_s}
        return self._control("POST", "/sandbox/clock", body)["now"]

    def reset_stats(self) -> dict[str, Any]:
        return self._control("POST", "/sandbox/reset_stats")

    # ----------------------------------------------------------------- push messages and webhooks
    def _push(self) -> PushDelivery:
        if self.push is None:
            raise RuntimeError("sandbox server is not running")
        return self.push

    def set_push(self, **urls: str | None) -> dict[str, Any]:
        """Set ``push_url`` (Doudian) and/or ``webhook_url`` (Open Platform); ``""`` stops sending."""
        return self._push().set_urls(urls)

    def push_state(self) -> dict[str, Any]:
        """The URLs, messages pending and deliveries by state (``GET /sandbox/push``)."""
        return self._push().state()

    def send_push_verification(self, platform: str) -> dict[str, Any]:
        """Queue Doudian's ``tag "0"`` message (``"doudian"``) or the ``verify_webhook`` challenge
        (``"open"``); returns its listing."""
        return self._push().verify(platform).listing()

    def pushes(self, platform: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Every delivery after ``since`` (``GET /sandbox/pushes``), oldest first."""
        return self._push().listing(platform, since)

    def wait_for_pushes(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until nothing is queued or in flight (retries included), then list every delivery."""
        if not self._push().wait_idle(timeout):
            raise TimeoutError(f"push deliveries still pending after {timeout} s")
        return self.pushes()

    # ----------------------------------------------------------------- Open Platform side
    @property
    def account_ids(self) -> list[str]:
        """抖音来客 merchant account ids (strings: they are int64 above 2^53)."""
        return [str(m.account_id) for m in self._open().merchants]

    def _open(self) -> OpenPlatform:
        if self.open_platform is None:
            raise RuntimeError("sandbox server is not running")
        return self.open_platform

    def _open_control(self, method: str, path: str, body: dict[str, Any] | None = None,
                      query: dict[str, str] | None = None) -> Any:  # fmt: skip
        payload = body if body is not None else {}
        return self._open().control(method, "/sandbox/open" + path, query or {}, payload)

    def open_info(self) -> dict[str, Any]:
        return self._open_control("GET", "/info")

    def open_stats(self) -> dict[str, Any]:
        """Requests, codes, faults, client_token fetches per client_key and user-token calls."""
        return self._open_control("GET", "/stats")

    def open_mutate(self, new_orders: int = 0, updates: int = 0, product_updates: int = 0,
                    account_id: int | str | None = None) -> dict[str, Any]:  # fmt: skip
        """Create and advance goodlife orders and change deals now; ``None`` = every merchant."""
        counts = {"new_orders": new_orders, "updates": updates, "product_updates": product_updates}
        return self._open_control("POST", "/mutate", {**counts, "account_id": account_id})

    def open_truth(self, table: str, account_id: int | str | None = None,
                   open_id: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """Latest version of every record of a ``life_*`` table (by merchant ``account_id``) or of a
        Douyin account's table (``live_room_stats``, ``videos``, ... by ``open_id``)."""
        query = {"account_id": str(account_id)} if account_id is not None else {}
        if open_id is not None:
            query["open_id"] = open_id
        return list(self._open_control("GET", f"/truth/{table}", query=query))

    def issue_open_auth_code(self, account_id: int | str | None = None, open_id: str | None = None,
                             scope: str | None = None) -> str:  # fmt: skip
        """An ``authorization_code`` for ``/oauth/access_token/``, as the authorise page would give.

        The default user of merchant ``k`` (open_id ``_000sandbox000k``) is also shop ``k``'s own
        broadcasting Douyin account, whose live rooms, videos and fans the data APIs serve."""
        body = {"account_id": account_id, "open_id": open_id, "scope": scope}
        return self._open_control("POST", "/auth_code", body)["code"]
