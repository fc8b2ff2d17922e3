"""The Open Platform side of the sandbox: request handling, faults, statistics, control API.

Transport-free like the Doudian engine: the HTTP layer hands over a parsed request and
performs the returned ``Reply``. The clock is injected (``clock()`` returns epoch seconds),
so the platform follows whatever clock the server runs on.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from ..config import SandboxConfig
from ..fault_injection import FaultInjector
from ..hashing import mix
from ..push_delivery import OPEN, PushDelivery
from ..reply import ControlError, Reply, check_truth_table, lookup, stream_locked
from .constants import ROOT_ACCOUNT_ID, SANDBOX_CLIENT_KEY, SANDBOX_CLIENT_SECRET, account_ids
from .creator import CREATOR_TRUTH_TABLES, Creator, creator_number
from .creator_queries import CREATOR_QUERIES
from .envelope import (
    NOT_AUTHORISED,
    PARAM_INVALID,
    Alternating,
    OpenError,
    err_no_body,
    goodlife_body,
    new_log_id,
    oauth_body,
)
from .merchant import Merchant
from .oauth import TokenRules
from .queries import QUERIES
from .records import TRUTH_TABLES, truth
from .webhooks import Webhook, certificate_webhook, order_webhooks

API_OFFLINE = 2119010
SCOPE_NOT_AUTHORISED = 28001012
LIFE_ACCOUNT_HEADER = "rpc-transit-life-account"
REQUEST_LOG_SIZE = 500


def _params(http_method: str, query_text: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """Query parameters, overlaid by a JSON or form body; every value as a string."""
    params = {k: v[0] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    if http_method != "POST" or not body.strip():
        return params
    content_type = headers.get("content-type", "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
        return params
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise OpenError(PARAM_INVALID, "请求体不是合法的JSON") from exc
    if not isinstance(payload, dict):
        raise OpenError(PARAM_INVALID, "请求体必须是JSON对象")
    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()})
    return params


class OpenPlatform:
    """Merchants, tokens, faults and statistics of the Open Platform side of one server.

    ``faults`` is the server's ``FaultConfig`` object itself, so ``POST /sandbox/faults``
    changes both platforms at once.
    """

    def __init__(
        self,
        config: SandboxConfig,
        clock: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
        push: PushDelivery | None = None,
    ) -> None:
        """``clock``: business time, which data, mutations, the truth and the envelope's ``now`` (the
        platform's clock, from which a client counts "the last 30 days") follow; ``wall_clock``: real
        time, which token lifetimes and the QPS window follow; ``push``
        receives the webhooks every change of a merchant's records causes."""
        self.config = config
        self.faults = config.faults
        self.clock = clock
        self.wall_clock = wall_clock
        began = time.perf_counter()
        self.started_at = int(clock())
        self.clients = {SANDBOX_CLIENT_KEY: SANDBOX_CLIENT_SECRET}
        self.merchants = [
            Merchant(
                config.seed,
                no + 1,
                account_id,
                config.life_orders,
                config.life_products_per_merchant,
                config.days,
                self.started_at,
            )
            for no, account_id in enumerate(account_ids(config.merchants))
        ]
        self.merchant_by_id = {m.account_id: m for m in self.merchants}
        self.push = push
        if push is not None:
            for m in self.merchants:
                m.orders.listener = partial(self._push, m, partial(order_webhooks, m))
                m.verifications.listener = partial(self._push, m, partial(self._appended, m, "verify"))
                m.refunds.listener = partial(self._push, m, partial(self._appended, m, "refund_success"))
        history_start = self.started_at - config.days * 86400
        self.creators = [
            Creator(config.seed, k, history_start, self.started_at)
            for k in range(1, max(config.shops, config.merchants) + 1)
        ]
        self.tokens = TokenRules(self.clients, self.faults)
        self.data_lock = threading.RLock()
        self.injector = FaultInjector(self.faults, mix(config.seed, 0x0FE7))
        self._mutate_rng = random.Random(mix(config.seed, 0x0FE8))
        self.throttled = Alternating(2119003, 28003018)
        self.busy = Alternating(2119002, 2100004)
        self._stats_lock = threading.Lock()
        self._log_seq = 0
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.life_account_headers: Counter[str] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.generation_seconds = time.perf_counter() - began

    # ----------------------------------------------------------------- helpers
    def _push(self, merchant: Merchant, build: Callable[[int, Any, Any], list[Webhook]], idx: int,
              before: Any, after: Any) -> None:  # fmt: skip
        """A table listener: queue the webhooks of one new record version (called under the data lock)."""
        if self.push is not None and self.push.wants(OPEN):
            self.push.webhooks(merchant.account_id, build(idx, before, after))

    @staticmethod
    def _appended(merchant: Merchant, action: str, _idx: int, before: Any, after: Any) -> list[Webhook]:
        """Verify records and refunds are append-only: a new row is a voucher verified or refunded."""
        return certificate_webhook(merchant, action, after, after.update) if before is None else []

    def _merchant(self, account_id: str) -> Merchant:
        if not account_id:
            raise OpenError(PARAM_INVALID, "account_id不能为空")
        merchant = self.merchant_by_id.get(int(account_id)) if account_id.isdigit() else None
        if merchant is None:
            raise OpenError(NOT_AUTHORISED)
        return merchant

    # ----------------------------------------------------------------- requests
    def handle(self, http_method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Handle one Open Platform request (``/oauth/…`` or ``/goodlife/…``)."""
        path, _, query_text = raw_path.partition("?")
        path = re.sub("/+", "/", path).rstrip("/") + "/"
        life_account = headers.get(LIFE_ACCOUNT_HEADER, "")
        with self._stats_lock:
            self.requests[path] += 1
            self._log_seq += 1
            seq = self._log_seq
            if life_account:
                self.life_account_headers[life_account] += 1
            self.request_log.append(
                {
                    "method": http_method,
                    "path": path,
                    "query": {}
                    if path.startswith("/oauth/")
                    else parse_qs(query_text, keep_blank_values=True),
                    "content_type": headers.get("content-type", ""),
                    "has_access_token": bool(headers.get("access-token")),
                    "life_account": life_account,
                }
            )
        instead, delay = self.injector.transport()
        if instead is not None:
            return instead
        log_id = new_log_id(seq)
        now, wall = self.clock(), self.wall_clock()
        render = oauth_body if path.startswith("/oauth/") else goodlife_body
        if path.startswith("/room/"):
            render = err_no_body
        data: dict[str, Any] | None = None
        error: OpenError | None = None
        try:
            data = self._process(http_method, path, query_text, headers, body, now, wall)
        except OpenError as exc:
            error = exc
        with self._stats_lock:
            self.responses[str(0 if error is None else error.code)] += 1
        body = render(data, error, log_id, now, self.faults.open_numbers_as_strings)
        return Reply(body=body, headers={"X-Tt-Logid": log_id}, delay_s=delay)

    def _process(
        self,
        http_method: str,
        path: str,
        query_text: str,
        headers: dict[str, str],
        body: bytes,
        now: float,
        wall: float,
    ) -> dict[str, Any]:
        oauth = {
            "/oauth/client_token/": self.tokens.fetch_client_token,
            "/oauth/access_token/": self.tokens.exchange_code,
            "/oauth/refresh_token/": self.tokens.refresh_access,
            "/oauth/renew_refresh_token/": self.tokens.renew_refresh,
            "/oauth/userinfo/": self.tokens.user_info,
        }.get(path)
        if oauth is not None:
            if http_method != "POST":
                raise OpenError(PARAM_INVALID, "请使用POST请求")
            if self.injector.fires("busy", self.faults.busy_rate):
                raise self.busy.error()
            return oauth(_params(http_method, query_text, headers, body), wall)
        if path in CREATOR_QUERIES:
            return self._creator_query(http_method, path, query_text, headers, now, wall)
        query = QUERIES.get(path)
        if query is None:
            raise OpenError(API_OFFLINE, "接口不存在或已下线")
        if http_method != "GET":
            raise OpenError(PARAM_INVALID, "请使用GET请求，参数放在query中")
        client = self.tokens.check_client_token(headers.get("access-token", ""), wall)
        if self.injector.over_qps(client.client_key, wall) or self.injector.fires(
            "throttle", self.faults.throttle_rate
        ):
            raise self.throttled.error()
        if self.injector.fires("busy", self.faults.busy_rate):
            raise self.busy.error()
        life_account = headers.get(LIFE_ACCOUNT_HEADER, "")
        if life_account and life_account != str(ROOT_ACCOUNT_ID):
            raise OpenError(PARAM_INVALID, "Rpc-Transit-Life-Account不是该商家的根账户")
        params = _params(http_method, query_text, headers, body)
        merchant = self._merchant(params.get("account_id", "").strip())
        with self.data_lock:
            return query(self, merchant, params, now)

    def _creator_query(
        self, http_method: str, path: str, query_text: str, headers: dict[str, str], now: float, wall: float
    ) -> dict[str, Any]:
        """A user-token API: the token's user must be the ``open_id`` asked about."""
        handler, scope = CREATOR_QUERIES[path]
        if http_method != "GET":
            raise OpenError(PARAM_INVALID, "请使用GET请求，参数放在query中")
        grant = self.tokens.check_user_token(headers.get("access-token", ""), wall)
        if self.injector.fires("throttle", self.faults.throttle_rate):
            raise self.throttled.error()
        if self.injector.fires("busy", self.faults.busy_rate):
            raise self.busy.error()
        params = _params(http_method, query_text, headers, b"")
        open_id = params.get("open_id", "").strip()
        if not open_id:
            raise OpenError(PARAM_INVALID, "open_id不能为空")
        if open_id != grant.open_id:
            raise OpenError(PARAM_INVALID, "open_id与access_token不匹配")
        if scope and scope not in grant.scope.split(","):
            raise OpenError(SCOPE_NOT_AUTHORISED, f"用户未授权该应用{scope}权限")
        number = creator_number(open_id, len(self.creators))
        if number is None:
            raise OpenError(PARAM_INVALID, "open_id无效")
        return handler(self.creators[number - 1], params, now)

    # ----------------------------------------------------------------- control API
    def control(self, http_method: str, path: str, query: dict[str, str], body: Any) -> Any:
        """Dispatch ``/sandbox/open/...``; returns a JSON-able value or an iterator of records."""
        route = path.rstrip("/").removeprefix("/sandbox/open")
        if http_method == "GET" and route == "/info":
            return self.info()
        if http_method == "GET" and route == "/stats":
            return self.stats()
        if http_method == "GET" and route == "/requests":
            with self._stats_lock:
                return list(self.request_log)
        if http_method == "GET" and route.startswith("/truth/"):
            table = route.rsplit("/", 1)[1]
            if table in CREATOR_TRUTH_TABLES:
                return self._creator_truth(table, query.get("open_id"))
            return self._truth(route.rsplit("/", 1)[1], query.get("account_id"))
        if http_method != "POST":
            raise ControlError(404, f"no control endpoint {http_method} {path}")
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object")
        if route == "/auth_code":
            merchant = self._control_merchant(body.get("account_id") or self.merchants[0].account_id)
            open_id = str(body.get("open_id") or f"_000sandbox{merchant.merchant_no:04d}")
            code = self.tokens.issue_code(
                merchant.account_id, open_id, str(body.get("scope") or ""), self.wall_clock()
            )
            return {"code": code, "open_id": open_id, "account_id": str(merchant.account_id)}
        if route == "/mutate":
            try:
                counts = {k: int(body.get(k, 0)) for k in ("new_orders", "updates", "product_updates")}
            except (TypeError, ValueError) as exc:
                raise ControlError(400, "new_orders, updates and product_updates must be integers") from exc
            return self._mutate(**counts, account_id=body.get("account_id"))
        if route == "/reset_stats":
            self.injector.reset()
            with self._stats_lock:
                for counter in (self.requests, self.responses, self.life_account_headers):
                    counter.clear()
                self.request_log.clear()
            self.tokens.reset_stats()
            return self.stats()
        raise ControlError(404, f"no control endpoint POST {path}")

    def _control_merchant(self, account_id: Any) -> Merchant:
        return lookup(self.merchant_by_id, account_id, "account_id")

    def info(self) -> dict[str, Any]:
        with self.data_lock:
            merchants = [
                {
                    "account_id": str(m.account_id),
                    "poi_ids": [m.poi_id(i) for i in range(m.poi_count)],
                    "orders": len(m.orders),
                    "products": len(m.p_create),
                    "verify_records": len(m.verifications),
                    "refunds": len(m.refunds),
                }
                for m in self.merchants
            ]
        return {
            "client_key": SANDBOX_CLIENT_KEY,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "root_account_id": str(ROOT_ACCOUNT_ID),
            "account_ids": [str(m.account_id) for m in self.merchants],
            "merchants": merchants,
            "started_at": self.started_at,
            "generation_seconds": round(self.generation_seconds, 3),
        }

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            counters = {
                "requests_total": sum(self.requests.values()),
                "requests_by_path": dict(self.requests),
                "responses_by_code": dict(self.responses),
                "faults_injected": self.injector.injected(),
                "life_account_headers": dict(self.life_account_headers),
            }
        return {**counters, **self.tokens.stats()}

    def _mutate(self, new_orders: int, updates: int, product_updates: int, account_id: Any) -> dict[str, Any]:
        """Create orders, advance orders one step (pay, cancel, verify or refund a voucher) and
        change deals, per merchant, stamped now."""
        targets = self.merchants if account_id is None else [self._control_merchant(account_id)]
        result = []
        with self.data_lock:
            now = int(self.clock())
            lag = self.faults.visibility_lag_s
            rng = self._mutate_rng
            for merchant in targets:
                created = [
                    merchant.order_id(merchant.add_order(now, lag, rng)) for _ in range(max(new_orders, 0))
                ]
                advanced = 0
                for _ in range(max(updates, 0) * 50):
                    if advanced >= updates:
                        break
                    advanced += merchant.advance(rng.randrange(len(merchant.orders)), now, lag, rng)
                for _ in range(max(product_updates, 0)):
                    merchant.update_product(rng.randrange(len(merchant.p_create)), now, rng)
                result.append(
                    {
                        "account_id": str(merchant.account_id),
                        "created": created,
                        "updated": advanced,
                        "products_updated": max(product_updates, 0),
                    }
                )
        return {"merchants": result, "time": now}

    def _creator_truth(self, table: str, open_id: str | None) -> Iterator[dict[str, Any]]:
        targets = self.creators
        if open_id:
            number = creator_number(open_id, len(self.creators))
            if number is None:
                raise ControlError(404, f"no sandbox Douyin account with open_id {open_id!r}")
            targets = [self.creators[number - 1]]
        now = self.clock()
        return stream_locked((c.truth(table, now) for c in targets), self.data_lock)

    def _truth(self, table: str, account_id: str | None) -> Iterator[dict[str, Any]]:
        check_truth_table(table, TRUTH_TABLES)
        targets = self.merchants if not account_id else [self._control_merchant(account_id)]
        return stream_locked((truth(merchant, table) for merchant in targets), self.data_lock)
