"""A tiny Doudian gateway for malformed-reply tests: honest answers, then one fault rewrites them.

It answers ``token.create``, ``order.searchList``, ``product.listV2``, ``sku.list`` and
``order.getSettleBillDetailV3`` with the protocol's envelopes over a real HTTP socket, so the
client's transport, JSON parsing and envelope rules run unchanged. A :class:`Fault` picks the
requests it rewrites and counts every one it served, so a test can prove its fault happened.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from airflow_provider_douyin.streams.windows import format_time, parse_time

Envelope = dict[str, Any]
Params = dict[str, Any]


@dataclass
class Fault:
    """Rewrite the envelope of ``method``'s requests that ``when(n, params)`` picks (n counts from 0).

    ``change`` edits the envelope in place, or returns raw bytes to send instead of JSON.
    """

    method: str
    change: Callable[[Envelope, Params], bytes | None]
    when: Callable[[int, Params], bool] = lambda n, params: True
    seen: int = 0
    served: int = 0


def order(i: int, update_time: int) -> dict[str, Any]:
    order_id = str(6_920_000_000_000_000_000 + i)
    return {
        "order_id": order_id,
        "shop_id": 1001,
        "order_status": 2,
        "create_time": update_time - 1000 - i,
        "update_time": update_time,
        "buyer_words": "请尽快发货",
        "post_addr": {"province": {"id": "31", "name": "上海"}, "detail": "某路1号"},
        "sku_order_list": [
            {
                "order_id": str(6_930_000_000_000_000_000 + i),
                "parent_order_id": order_id,
                "product_id": 3_512_345_678_901_234_567 + i,
                "sku_id": 3_612_345_678_901_234_567 + i,
                "item_num": 1,
                "update_time": update_time,
            }
        ],
    }


def product(i: int) -> dict[str, Any]:
    return {"product_id": 3_712_345_678_901_234_567 + i, "name": f"商品{i}", "update_time": 1_700_000_000 + i}


def settlement(i: int, settle_time: int) -> dict[str, Any]:
    return {
        "request_no": f"R{i:05d}",
        "order_id": str(6_940_000_000_000_000_000 + i),
        "settle_time": format_time(settle_time, "shanghai_datetime"),
        "settle_amount": 100 + i,
    }


@dataclass
class FakeGateway:
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault | None = None
    requests: Counter = field(default_factory=Counter)

    def __enter__(self) -> FakeGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                method = parse_qs(urlparse(self.path).query)["method"][0]
                params = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                body = gateway.answer(method, params)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, method: str, params: Params) -> bytes:
        self.requests[method] += 1
        envelope: Envelope = {
            "code": 10000,
            "msg": "success",
            "sub_code": "",
            "sub_msg": "",
            "log_id": f"2026120200000{self.requests[method]:06d}",
            "data": copy.deepcopy(self.data(method, params)),  # faults edit it; the truth stays
        }
        fault = self.fault
        if fault is not None and fault.method == method:
            fault.seen += 1
            if fault.when(fault.seen - 1, params):
                fault.served += 1
                raw = fault.change(envelope, params)
                if raw is not None:
                    return raw
        return json.dumps(envelope).encode()

    def data(self, method: str, params: Params) -> Any:
        if method == "token.create":
            return {"access_token": "fake-access", "refresh_token": "fake-refresh", "expires_in": 86400}
        if method == "order.searchList":
            return self._search(params)
        if method == "product.listV2":
            offset = int(params.get("cursor_id") or 0)
            chunk = self.products[offset : offset + params["size"]]
            return {
                "data": chunk,
                "total": len(self.products),
                "cursor_id": str(offset + len(chunk)) if chunk else params.get("cursor_id", ""),
            }
        if method == "sku.list":
            pid = params["product_id"]
            return [{"id": pid + 1, "product_id": pid, "stock_num": 5}]
        if method == "order.getSettleBillDetailV3":
            return self._settlements(params)
        raise AssertionError(f"unexpected method {method}")

    def _search(self, params: Params) -> dict[str, Any]:
        low, high = params["update_time_start"], params["update_time_end"]
        c_low, c_high = params.get("create_time_start", 0), params.get("create_time_end", 2**40)
        selection = sorted(
            (o for o in self.orders if low <= o["update_time"] < high and c_low <= o["create_time"] < c_high),
            key=lambda o: (o["update_time"], o["order_id"]),
        )
        page, size = params["page"], params["size"]
        return {
            "page": page,
            "size": size,
            "total": len(selection),
            "shop_order_list": selection[page * size : (page + 1) * size],
        }

    def _settlements(self, params: Params) -> dict[str, Any]:
        low = parse_time(params["start_time"], "shanghai_datetime")
        high = parse_time(params["end_time"], "shanghai_datetime")
        rows = [
            r for r in self.settlements if low <= parse_time(r["settle_time"], "shanghai_datetime") < high
        ]
        offset, size = int(params.get("start_index") or 0), params["size"]
        is_end = offset + size >= len(rows)
        return {
            "code": "100000",
            "code_msg": "SUCCESS",
            "data": rows[offset : offset + size],
            "size": size,
            "next_start_index": str(offset + size),
            "next_start_time": params["start_time"],
            "is_end": int(is_end),
            "data_size": len(rows[offset : offset + size]),
        }
