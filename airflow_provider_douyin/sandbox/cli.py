"""``douyin-sandbox serve``: run the emulator until SIGINT/SIGTERM.

The first stdout line is ``douyin-sandbox listening on http://127.0.0.1:PORT`` so scripts
can start it with ``--port 0`` and read the URL.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from .clock import parse_instant
from .config import DEFAULT_PAGE_DRIFT, FaultConfig, SandboxConfig
from .constants import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, shop_ids
from .open_platform import SANDBOX_CLIENT_KEY, SANDBOX_CLIENT_SECRET, account_ids
from .server import SandboxServer

EPILOG = f"""\
credentials (Doudian's documented example app, so the published sign vectors verify):
  app_key    {SANDBOX_APP_KEY}
  app_secret {SANDBOX_APP_SECRET}
shop ids: {shop_ids(3)[0]}, {shop_ids(3)[1]}, {shop_ids(3)[2]}, ... (one per --shops)
get a token: token.create with {{"grant_type":"authorization_self","code":"","shop_id":"{shop_ids(1)[0]}"}}
control API (unsigned): GET /sandbox/info, GET /sandbox/stats, POST /sandbox/faults,
  POST /sandbox/mutate, POST /sandbox/auth_code, POST /sandbox/stock,
  GET /sandbox/truth/{{table}}?shop_id= (NDJSON: one JSON record per line), POST /sandbox/reset_stats,
  GET /sandbox/clock, POST /sandbox/clock {{"advance_s": N}} or {{"now": EPOCH}}
push messages: changes are POSTed, signed, to --push-url (Doudian) and --webhook-url (Open Platform);
  GET|POST /sandbox/push {{"push_url": URL, "webhook_url": URL}}, POST /sandbox/push/verify
  {{"platform": "doudian"|"open"}}, GET /sandbox/pushes?platform=&since= (every delivery)
business clock: orders, T+1 settlement publication (D+1 00:00 + --settle-ready-delay), fund flows,
  mutations and the truth follow it; it starts at --now (or wall time + --clock-offset) and only
  moves forward. The 600 s timestamp check, --qps-limit and token lifetimes use wall time.

Douyin Open Platform (/oauth/..., /goodlife/...):
  client_key    {SANDBOX_CLIENT_KEY}
  client_secret {SANDBOX_CLIENT_SECRET}
account ids (来客 merchants): {account_ids(2)[0]}, {account_ids(2)[1]}, ... (one per --merchants)
control API: GET /sandbox/open/info, GET /sandbox/open/stats, POST /sandbox/open/auth_code,
  POST /sandbox/open/mutate, GET /sandbox/open/truth/{{table}}?account_id=, GET /sandbox/open/requests,
  POST /sandbox/open/reset_stats
"""

# (flag, FaultConfig field, type, help)
FAULT_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("--latency-ms", "latency_ms", int, "added to every gateway response"),
    ("--qps-limit", "qps_limit", int, "requests per second per app before 60000; 0 = off"),
    ("--throttle-rate", "throttle_rate", float, "probability of a random 60000 isv.traffic-limited"),
    ("--busy-rate", "busy_rate", float, "probability of 20000 isp.service-error"),
    ("--http502-rate", "http502_rate", float, "probability of an HTTP 502 nginx page"),
    ("--reset-rate", "reset_rate", float, "probability of a TCP reset without a response"),
    ("--slow-rate", "slow_rate", float, "probability of delaying a response by --slow-ms"),
    ("--slow-ms", "slow_ms", int, "delay of a slow response"),
    ("--visibility-lag", "visibility_lag_s", float, "seconds before a change shows in search results"),
    ("--access-ttl", "access_ttl", float, "access token lifetime in seconds"),
    ("--refresh-ttl", "refresh_ttl", float, "refresh token lifetime in seconds"),
    ("--rotation-window", "rotation_window", float, "refresh rotates the pair this close to expiry"),
    ("--grace", "grace", float, "seconds the superseded pair keeps working after a rotation"),
    ("--refresh-hold-ms", "refresh_hold_ms", int, "how long a refresh holds its lock; a second meets 31012"),
    ("--settle-ready-delay", "settle_ready_delay_s", float, "settlement rows of day D appear at D+1 + this"),
    ("--client-token-ttl", "client_token_ttl", float, "Open Platform client_token lifetime in seconds"),
    ("--client-token-grace", "client_token_grace", float, "seconds the previous client_token lives on"),
    ("--open-access-ttl", "open_access_ttl", float, "Open Platform user access_token lifetime in seconds"),
    ("--open-refresh-ttl", "open_refresh_ttl", float, "Open Platform refresh_token lifetime in seconds"),
    ("--open-renewals", "open_renewals", int, "renew_refresh_token calls allowed before 10020"),
    ("--push-duplicate", "push_duplicate", float, "probability that a push or webhook arrives twice"),
    ("--push-reorder", "push_reorder", float, "probability that a message is held back behind the next"),
    ("--push-drop", "push_drop", float, "probability that a message is never sent"),
    ("--push-delay-ms", "push_delay_ms", int, "delay before the first attempt of every message"),
    ("--push-bad-sign", "push_bad_sign", float, "probability of a wrong signature on a message"),
    ("--push-max-attempts", "push_max_attempts", int, "attempts per unacknowledged message"),
    ("--push-retry-ms", "push_retry_ms", int, "wait before the first retry; doubles per retry"),
    ("--push-ack-timeout-ms", "push_ack_timeout_ms", int, "a later reply is no acknowledgement"),
    ("--push-reorder-hold-ms", "push_reorder_hold_ms", int, "longest wait of a held-back message"),
)

_UNITS = ((86400, "d"), (3600, "h"))


def default_text(name: str, value: float) -> str:
    """A default, shown once; whole days or hours of a duration in seconds are easier to check."""
    shown = f"{value:.0f}" if value == int(value) else f"{value:g}"
    if not name.endswith("_ms"):
        for seconds, unit in _UNITS:
            if value >= seconds and value % seconds == 0:
                return f"(default {shown} = {value // seconds:.0f} {unit})"
    return f"(default {shown})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="douyin-sandbox",
        description="Offline emulator of the Doudian (抖店) gateway and the Douyin Open Platform.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="generate a shop and serve it", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--orders", type=int, default=20000, help="orders per shop (default 20000)")
    serve.add_argument("--shops", type=int, default=1, help="number of shops (default 1)")
    serve.add_argument("--products", type=int, default=None, help="products per shop (default orders/40)")
    serve.add_argument("--seed", type=int, default=7, help="data seed (default 7)")
    serve.add_argument("--days", type=int, default=30, help="history length in days (default 30)")
    clock = serve.add_mutually_exclusive_group()
    clock.add_argument(
        "--now",
        type=parse_instant,
        default=None,
        metavar="WHEN",
        help="start the business clock at WHEN: epoch seconds or ISO 8601 with an offset, "
        "e.g. 2026-11-30T12:00:00+08:00; the history ends there (default: wall time)",
    )
    clock.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start the business clock this far from wall time, e.g. -86400 (default 0)",
    )
    serve.add_argument(
        "--page-drift",
        type=int,
        nargs="?",
        const=DEFAULT_PAGE_DRIFT,
        default=0,
        help=f"touch K records of the window before pages > 0 (flag alone: {DEFAULT_PAGE_DRIFT})",
    )
    serve.add_argument(
        "--push-url", default="", help="send Doudian push messages here (loopback http URL; default none)"
    )
    serve.add_argument(
        "--webhook-url", default="", help="send Open Platform webhooks here (loopback http URL; default none)"
    )
    serve.add_argument("--merchants", type=int, default=1, help="抖音来客 merchants (default 1)")
    serve.add_argument(
        "--life-orders", type=int, default=2000, help="goodlife orders per merchant (default 2000)"
    )
    serve.add_argument(
        "--life-products", type=int, default=None, help="deals per merchant (default life-orders/20)"
    )
    serve.add_argument(
        "--order-shuffle",
        action="store_true",
        help="the goodlife order query answers in a new order every time",
    )
    defaults = FaultConfig()
    for flag, name, kind, text in FAULT_FLAGS:
        serve.add_argument(flag, dest=name, type=kind, default=getattr(defaults, name),
                           help=f"{text} {default_text(name, getattr(defaults, name))}")  # fmt: skip
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    faults: dict[str, Any] = {name: getattr(args, name) for _, name, _, _ in FAULT_FLAGS}
    faults["page_drift"] = args.page_drift
    faults["order_shuffle"] = args.order_shuffle
    now = args.now
    if now is None and args.clock_offset:
        now = time.time() + args.clock_offset
    return SandboxConfig(
        orders=args.orders, shops=args.shops, seed=args.seed, days=args.days, products=args.products,
        merchants=args.merchants, life_orders=args.life_orders, life_products=args.life_products,
        faults=FaultConfig(**faults), now=now, push_url=args.push_url, webhook_url=args.webhook_url,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = SandboxServer(config_from_args(args), host=args.host, port=args.port).start()
    try:
        print(f"douyin-sandbox listening on {server.url}", flush=True)
        info = server.info()
        seconds = info["generation_seconds"]
        print(
            f"shops {info['shop_ids']} app_key {info['app_key']} generated in {seconds}s, "
            f"business clock {info['clock']['iso']}",
            flush=True,
        )
        open_info = server.open_info()
        print(f"merchants {open_info['account_ids']} client_key {open_info['client_key']}", flush=True)
        if info["push"]["push_url"] or info["push"]["webhook_url"]:
            push = info["push"]
            print(
                f"push messages to {push['push_url'] or '-'}, webhooks to {push['webhook_url'] or '-'}",
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
