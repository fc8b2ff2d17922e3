"""The sandbox core: gateway protocol checks (path, signature, timestamp, token), fault decisions
and the control API.

Two clocks: data handlers get ``now`` from the business clock (``Engine.clock``, movable,
see ``clock.py``); the timestamp-skew check, the QPS window and tokens use the wall clock
(``time.time`` unless a test injects its own, to live through token lifetimes of days).

It is transport-free: the HTTP layer hands it a parsed request and performs what it
returns (a reply, a delay, an HTTP 502 or a connection reset), so every behaviour can be
reasoned about without sockets.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from .clock import BusinessClock
from .config import FaultConfig, SandboxConfig
from .constants import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, shop_ids
from .endpoints import DATA_METHODS, TOKEN_METHODS, ShopRequest, TokenRequest
from .errors import ApiError
from .fault_injection import FaultInjector
from .push_delivery import DOUDIAN, PushDelivery
from .push_messages import aftersale_messages, order_messages, product_message
from .reply import ControlError, Reply, check_truth_table, lookup, stream_locked
from .shop_data import Shop
from .shop_records import TRUTH_TABLES, sku_dict, truth
from .signing import SIGN_METHODS, parse_timestamp, verify
from .tokens import TokenStore

MAX_SKEW = 600
_PATH_RE = re.compile(r"^/([A-Za-z][A-Za-z0-9_]*)/([A-Za-z][A-Za-z0-9_]*)$")


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if not content_type.lower().startswith("application/x-www-form-urlencoded"):
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


class Engine:
    """Shops, tokens, faults and statistics of one sandbox server."""

    def __init__(
        self,
        config: SandboxConfig,
        wall_clock: Callable[[], float] = time.time,
        push: PushDelivery | None = None,
    ) -> None:
        """``push`` receives the messages every change of a shop's records causes."""
        self.config = config
        self.wall_clock = wall_clock
        """Epoch seconds for the 600 s timestamp check, the QPS window and token and auth-code lifetimes."""
        self.faults: FaultConfig = config.faults
        began = time.time()
        self.business_clock = BusinessClock(config.now)
        self.started_at = int(self.clock())
        self.apps = {SANDBOX_APP_KEY: SANDBOX_APP_SECRET, **config.extra_apps}
        self.shops = [
            Shop(
                config.seed,
                no + 1,
                sid,
                config.orders,
                config.days,
                config.products_per_shop,
                self.started_at,
            )
            for no, sid in enumerate(shop_ids(config.shops))
        ]
        self.shop_by_id = {s.shop_id: s for s in self.shops}
        self.push = push
        if push is not None:
            for shop in self.shops:
                shop.orders.listener = partial(self._push, shop, order_messages)
                shop.after_sales.listener = partial(self._push, shop, aftersale_messages)
        self.tokens = TokenStore(config.seed, self.faults, wall_clock)
        self.data_lock = threading.RLock()
        self.injector = FaultInjector(self.faults, config.seed * 7919 + 1)
        self._mutate_rng = random.Random(config.seed * 104729 + 3)
        self._stats_lock = threading.Lock()
        self._log_seq = 0
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.generation_seconds = time.time() - began

    def clock(self) -> float:
        """Business time: what data handlers, mutations and the truth see as now."""
        return self.business_clock.now()

    # ----------------------------------------------------------------- helpers
    def _push(self, shop: Shop, build: Callable[..., list[tuple[str, dict[str, Any]]]], idx: int, before: Any,
              after: Any) -> None:  # fmt: skip
        """A table listener: queue the messages of one new record version (called under the data lock)."""
        if self.push is not None and self.push.wants(DOUDIAN):
            self.push.doudian(shop.shop_id, build(shop, idx, before, after))

    def _log_id(self) -> str:
        with self._stats_lock:
            self._log_seq += 1
            seq = self._log_seq
        return f"{time.strftime('%Y%m%d%H%M%S')}0101{seq:010d}{random.getrandbits(24):06X}"

    def _envelope(self, data: Any, error: ApiError | None, no_old: bool, log_id: str) -> bytes:
        body: dict[str, Any] = {
            "code": 10000 if error is None else error.code,
            "msg": "success" if error is None else error.msg,
            "sub_code": "" if error is None else error.sub_code,
            "sub_msg": "" if error is None else error.sub_msg,
            "log_id": log_id,
            "data": data if error is None else {},
        }
        if not no_old:
            body["err_no"] = 0 if error is None else error.code
            body["message"] = "success" if error is None else error.sub_msg
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    # ----------------------------------------------------------------- gateway
    def gateway(self, http_method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Handle one gateway request (any path outside ``/sandbox/``)."""
        path, _, query_text = raw_path.partition("?")
        path = re.sub("/+", "/", path)
        query = {k: v[0] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
        method = query.get("method", "")
        with self._stats_lock:
            self.requests[method or path] += 1
        instead, delay = self.injector.transport()
        if instead is not None:
            return instead
        log_id = self._log_id()
        no_old = headers.get("x-open-no-old-err-code", "") == "1"
        data: Any = None
        error: ApiError | None = None
        try:
            data = self._process(http_method, path, query, headers, body)
        except ApiError as exc:
            error = exc
        with self._stats_lock:
            self.responses["10000" if error is None else f"{error.code} {error.sub_code}"] += 1
        return Reply(body=self._envelope(data, error, no_old, log_id), headers={"x-tt-logid": log_id},
                     delay_s=delay)  # fmt: skip

    def _process(self, http_method: str, path: str, query: dict[str, str], headers: dict[str, str],
                 body: bytes) -> Any:  # fmt: skip
        form = _form(headers.get("content-type", ""), body) if http_method == "POST" else {}

        def common(name: str) -> str:
            return query[name] if name in query else form.get(name, "")

        match = _PATH_RE.match(path)
        if match is None:
            raise ApiError(70000, "isp.api-service-off", "接口不存在或已下线")
        path_method = f"{match.group(1)}.{match.group(2)}"
        method = common("method")
        if not method:
            raise ApiError(40001, "isv.parameter-missing", "缺少method参数")
        if method != path_method:
            raise ApiError(40003, "isv.parameter-invalid", "method与请求路径不一致")
        app_key = common("app_key")
        if not app_key:
            raise ApiError(40001, "isv.app-id-missing", "缺少app_key")
        secret = self.apps.get(app_key)
        if not (len(app_key) == 19 and app_key.isdigit()) or secret is None:
            raise ApiError(40003, "isv.app-id-invalid", "app_key不合法，应为19位数字且已创建")
        version = common("v")
        sign_method = common("sign_method") or "md5"
        if version and version != "2":
            raise ApiError(40003, "isv.parameter-invalid", "v只支持2")
        if sign_method not in SIGN_METHODS:
            raise ApiError(40003, "isv.parameter-invalid", "sign_method只支持md5或hmac-sha256")
        given_sign = common("sign")
        if not given_sign:
            raise ApiError(40001, "isv.signature-missing", "缺少签名")
        timestamp = common("timestamp")
        if not timestamp:
            raise ApiError(40001, "isv.parameter-missing", "缺少timestamp")
        try:
            sent_at = parse_timestamp(timestamp)
        except ValueError as exc:
            raise ApiError(40003, "isv.timestamp-format-error", "时间戳格式错误") from exc
        if "param_json" in query:
            raw = query["param_json"]
        elif "param_json" in form:
            raw = form["param_json"]
        elif form:
            raw = "{}"
        else:
            raw = body.decode("utf-8", "replace") if body.strip() else "{}"
        if not verify(secret, app_key, method, raw, timestamp, given_sign, sign_method):
            raise ApiError(40003, "isv.signature-invalid", "签名校验失败")
        wall = self.wall_clock()
        if abs(wall - sent_at) > MAX_SKEW:
            raise ApiError(40003, "isv.timestamp-invalid", "时间戳不合法，与服务器时间相差超过10分钟")
        if self.injector.over_qps(app_key, wall) or self.injector.fires(
            "throttle", self.faults.throttle_rate
        ):
            raise ApiError(60000, "isv.traffic-limited", "请求太频繁，请稍后重试")
        if self.injector.fires("busy", self.faults.busy_rate):
            raise ApiError(20000, "isp.service-error", "系统繁忙，请稍后重试")
        try:
            params = json.loads(raw)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise ApiError(40003, "isv.parameter-format-invalid", "业务参数json解析失败")
        if method in TOKEN_METHODS:
            return TOKEN_METHODS[method](
                TokenRequest(self.tokens, self.shop_by_id, app_key, wall, self.wall_clock), params
            )
        handler = DATA_METHODS.get(method)
        if handler is None:
            raise ApiError(70000, "isp.api-service-off", "接口不存在或已下线")
        grant = self.tokens.check_access(app_key, common("access_token"), wall)
        shop = self.shop_by_id[grant.shop_id]
        others = [other for other in self.shops if other is not shop]
        with self.data_lock:
            return handler(ShopRequest(shop, self.clock(), self.faults, self.injector.drift, others), params)

    # ----------------------------------------------------------------- control API
    def control(self, http_method: str, path: str, query: dict[str, str], body: Any) -> Any:
        """Dispatch ``/sandbox/...``; returns a JSON-able value or an iterator of records."""
        route = path.rstrip("/")
        if http_method == "GET" and route == "/sandbox/info":
            return self.info()
        if http_method == "GET" and route == "/sandbox/stats":
            return self.stats()
        if http_method == "GET" and route == "/sandbox/clock":
            return self.business_clock.state()
        if http_method == "GET" and route.startswith("/sandbox/truth/"):
            return self._truth(route.rsplit("/", 1)[1], query.get("shop_id"))
        if http_method != "POST":
            raise ControlError(404, f"no control endpoint {http_method} {path}")
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object")
        if route == "/sandbox/faults":
            try:
                self.faults.update(body)
            except (TypeError, ValueError) as exc:
                raise ControlError(400, str(exc)) from exc
            return self.faults.as_dict()
        if route == "/sandbox/clock":
            return self._move_clock(body)
        if route == "/sandbox/mutate":
            return self._mutate(
                int(body.get("new_orders", 0)),
                int(body.get("updates", 0)),
                body.get("shop_id"),
                paid=bool(body.get("paid", False)),
                room_refunds=int(body.get("room_refunds", 0)),
            )
        if route == "/sandbox/auth_code":
            return {"code": self.tokens.issue_code(self._shop(body.get("shop_id")).shop_id)}
        if route == "/sandbox/stock":
            return self._set_stock(body.get("sku_id"), body.get("stock_num"), bool(body.get("touch_product")))
        if route == "/sandbox/reset_stats":
            self.injector.reset()
            with self._stats_lock:
                for counter in (self.requests, self.responses):
                    counter.clear()
                for key in self.tokens.refresh_cases:
                    self.tokens.refresh_cases[key] = 0
            return self.stats()
        raise ControlError(404, f"no control endpoint POST {path}")

    def _shop(self, shop_id: Any) -> Shop:
        return lookup(self.shop_by_id, shop_id, "shop_id")

    def info(self) -> dict[str, Any]:
        with self.data_lock:
            shops = [
                {"shop_id": s.shop_id, "shop_name": s.shop_name, "orders": len(s.orders),
                 "after_sales": len(s.after_sales), "products": len(s.products), "skus": len(s.skus)}
                for s in self.shops
            ]  # fmt: skip
        return {
            "app_key": SANDBOX_APP_KEY,
            "app_secret": SANDBOX_APP_SECRET,
            "extra_app_keys": sorted(self.config.extra_apps),
            "shop_ids": [s.shop_id for s in self.shops],
            "shops": shops,
            "seed": self.config.seed,
            "days": self.config.days,
            "started_at": self.started_at,
            "clock": self.business_clock.state(),
            "generation_seconds": round(self.generation_seconds, 3),
            "faults": self.faults.as_dict(),
            "push": None if self.push is None else self.push.state(),
        }

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            return {
                "requests_total": sum(self.requests.values()),
                "requests_by_method": dict(self.requests),
                "responses_by_code": dict(self.responses),
                "faults_injected": self.injector.injected(),
                "refreshes": dict(self.tokens.refresh_cases),
            }

    def _move_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"advance_s": N}`` or ``{"now": epoch}``; under the data lock, so no handler sees it move."""
        unknown = sorted(set(body) - {"now", "advance_s"})
        if unknown:
            raise ControlError(400, f"unknown clock fields: {', '.join(unknown)}")
        try:
            with self.data_lock:
                self.business_clock.set(now=body.get("now"), advance_s=body.get("advance_s"))
        except (TypeError, ValueError) as exc:
            raise ControlError(400, str(exc)) from exc
        return self.business_clock.state()

    def _mutate(
        self, new_orders: int, updates: int, shop_id: Any, *, paid: bool = False, room_refunds: int = 0
    ) -> dict[str, Any]:
        """Create ``new_orders`` orders (``paid``: paid at once), advance ``updates`` orders and refund
        ``room_refunds`` paid live-room orders per shop, all stamped now."""
        targets = self.shops if shop_id is None else [self._shop(shop_id)]
        result = []
        with self.data_lock:
            now = int(self.clock())
            lag = self.faults.visibility_lag_s
            for shop in targets:
                created = [
                    str(shop.order_id(shop.add_order(now, lag, paid=paid))) for _ in range(max(new_orders, 0))
                ]
                advanced = 0
                for _ in range(max(updates, 0) * 50):
                    if advanced >= updates:
                        break
                    idx = self._mutate_rng.randrange(len(shop.orders))
                    advanced += shop.advance(idx, now, lag, self._mutate_rng)
                refunded = shop.refund_room_orders(room_refunds, now, lag, self._mutate_rng)
                result.append({
                    "shop_id": shop.shop_id, "created": created, "updated": advanced,
                    "refunded": [str(shop.order_id(idx)) for idx in refunded],
                })  # fmt: skip
        return {"shops": result, "time": now}

    def _set_stock(self, sku_id: Any, stock_num: Any, touch_product: bool = False) -> dict[str, Any]:
        """Set a SKU's stock. Like an inventory sync this leaves its product's ``update_time``
        alone; ``touch_product`` models a seller editing the stock on the product page instead."""
        try:
            sku_key, stock = int(sku_id), int(stock_num)
        except (TypeError, ValueError) as exc:
            raise ControlError(400, "sku_id and stock_num must be integers") from exc
        if stock < 0:
            raise ControlError(400, "stock_num must be >= 0")
        with self.data_lock:
            for shop in self.shops:
                if sku_key in shop.sku_by_id:
                    sku = shop.skus[shop.sku_by_id[sku_key]]
                    sku.stock_num = stock
                    if touch_product:
                        product = shop.products[sku.product_index]
                        product.update_time = int(self.clock())
                        if self.push is not None and self.push.wants(DOUDIAN):
                            self.push.doudian(shop.shop_id, [product_message(shop, product)])
                    return sku_dict(shop, sku)
        raise ControlError(404, f"unknown sku_id {sku_id!r}")

    def _truth(self, table: str, shop_id: str | None) -> Iterator[dict[str, Any]]:
        check_truth_table(table, TRUTH_TABLES)
        targets = self.shops if not shop_id else [self._shop(shop_id)]
        sources = (truth(shop, table, self.clock(), self.faults.settle_ready_delay_s) for shop in targets)
        return stream_locked(sources, self.data_lock)
