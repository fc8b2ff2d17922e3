"""Orders/s of a provider sync as a fraction of the API's rate ceiling, next to a naive page loop.

Run::

    cd /work/main && .venv/bin/python benchmarks/throughput.py [--orders 20000 --qps 20 --latency-ms 150]

Both runs talk to one sandbox, in its own process, with WAN-like latency and the gateway's per-app
QPS limit, through one client (same signing, retries and rate limiter), over the same window. The
ceiling is ``qps × 100`` orders/s (100 = the largest page), so the figures are ratios that
hold on a noisy machine: how close the provider gets to the limit, and how far a plain
sequential ``page += 1`` loop stays from it (it waits one round trip per page, and cannot
page past 50,000 records at all).
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import (
    SHOP_ID,
    SandboxControl,
    full_window,
    landed_ids,
    make_client,
    prepare_airflow,
    print_block,
    quiet_provider_logs,
    sandbox_process,
    sqlite_hook,
    sync_orders,
)

PAGE_SIZE = 100
DEEP_PAGING_CAP = "20013"
"""sub_code suffix of ``order.searchList`` when page × size passes 50,000."""


def naive_loop(client: Any, window: Any, max_pages: int) -> dict[str, Any]:
    """What a first integration usually does: one window, offset pages, one request at a time."""
    from airflow_provider_douyin.client import DouyinError

    ids: list[str] = []
    total = 0
    page = 0
    stop = "short page"
    started = time.monotonic()
    while True:
        if max_pages and page >= max_pages:
            stop = f"--naive-pages {max_pages} reached"
            break
        params = {
            "update_time_start": window.start,
            "update_time_end": window.end,
            "order_by": "update_time",
            "order_asc": True,
            "page": page,
            "size": PAGE_SIZE,
        }
        try:
            data = client.call("order.searchList", params)
        except DouyinError as exc:
            if str(exc.sub_code).endswith(DEEP_PAGING_CAP):
                stop = f"API refused page {page} (page x size > 50,000: {exc.sub_code})"
                break
            raise
        total = int(data.get("total") or 0)
        records = data.get("shop_order_list") or []
        ids.extend(str(r["order_id"]) for r in records)
        if len(records) < PAGE_SIZE:
            break
        page += 1
    return {"ids": ids, "total": total, "seconds": time.monotonic() - started, "stop": stop}


def children_cpu() -> float:
    """CPU seconds of this process's reaped children: the sync's landing process once it ends (the
    sandbox is reaped only at exit)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def quiet_second(server: Any) -> None:
    """Let the sandbox's sliding one-second QPS window empty, then zero its counters."""
    time.sleep(1.1)
    server.reset_stats()


def search_stats(server: Any) -> tuple[int, int]:
    """``order.searchList`` requests the gateway saw, and its 60000 (throttled) answers."""
    stats = server.stats()
    throttled = sum(n for code, n in stats["responses_by_code"].items() if str(code).startswith("60000"))
    return stats["requests_by_method"].get("order.searchList", 0), throttled


class SliceRecorder:
    """Wraps ``call`` to time each slice of the reader (a slice is one ``update_time_end``)."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.slices: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])

    def __call__(self, method: str, params: Any) -> Any:
        data = self._call(method, params)
        if params.get("size") == 1:  # the planner's probe, not part of a slice
            return data
        records = len(data.data.get("shop_order_list") or []) if isinstance(data.data, dict) else 0
        with self._lock:
            entry = self.slices[params.get("update_time_end", 0)]
            entry[0] += 1
            entry[1] += records
            entry[2] = time.monotonic() - self.started
        return data

    def summary(self) -> str:
        sizes = [int(records) for _, records, _ in self.slices.values()]
        requests, records, done = max(self.slices.values(), key=lambda e: e[2])
        return (
            f"{len(sizes)} slices, {min(sizes)}..{max(sizes)} orders each; the last to finish read "
            f"{int(records)} orders in {int(requests)} sequential requests, done at {done:.1f} s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders in the sandbox shop")
    parser.add_argument("--days", type=int, default=30, help="days the orders are spread over")
    parser.add_argument("--qps", type=int, default=20, help="gateway limit and client pacing (req/s)")
    parser.add_argument("--latency-ms", type=int, default=150, help="added to every response")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run_sync max_workers (0: 8, or twice qps x latency when that is more, so the requests "
        "in flight can fill the rate)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--naive-pages", type=int, default=0, help="stop the naive loop after this many pages (0 = no limit)"
    )
    parser.add_argument("--verbose", action="store_true", help="keep the client's per-request log lines")
    args = parser.parse_args()
    workers = args.workers or max(8, math.ceil(2 * args.qps * args.latency_ms / 1000))

    with tempfile.TemporaryDirectory(prefix="douyin-throughput-") as tmp:
        prepare_airflow(Path(tmp))
        db_path = Path(tmp) / "bench.db"
        hook = sqlite_hook(db_path)
        quiet_provider_logs(args.verbose)
        print(f"starting sandbox: {args.orders} orders over {args.days} days ...", flush=True)
        options = ["--latency-ms", str(args.latency_ms), "--qps-limit", str(args.qps)]
        with (
            sandbox_process(args.orders, args.seed, args.days, *options) as url,
            make_client(url, args.qps) as client,
        ):
            server = SandboxControl(url)
            window = full_window(args.days)
            truth = {str(o["order_id"]) for o in server.truth("orders", shop_id=SHOP_ID)}

            quiet_second(server)
            print(f"provider: run_sync(orders, max_workers={workers}) ...", flush=True)
            recorder = SliceRecorder(client.request)
            cpu_started, landing_started = time.process_time(), children_cpu()
            result = sync_orders(recorder, hook, window, max_workers=workers)
            cpu = time.process_time() - cpu_started
            landing_cpu = children_cpu() - landing_started
            wire, throttled = search_stats(server)
            landed = landed_ids(db_path)

            quiet_second(server)
            print("naive: sequential page += 1 loop ...", flush=True)
            naive = naive_loop(client, window, args.naive_pages)
            naive_wire, naive_throttled = search_stats(server)

    ceiling = args.qps * PAGE_SIZE
    landed_set = set(landed)
    lost = len(truth - landed_set)
    extra = len(landed_set - truth)
    duplicated = result.rows["orders"] - len(landed_set)
    rate = len(landed) / result.seconds
    naive_ids = set(naive["ids"])
    naive_rate = len(naive["ids"]) / naive["seconds"]
    ideal_s = result.requests / args.qps

    figures = [
        (
            "ceiling",
            f"{ceiling} orders/s (qps {args.qps} x page {PAGE_SIZE}; latency {args.latency_ms} ms; "
            f"{workers} workers)",
        ),
        ("truth", f"{len(truth)} orders (seed {args.seed}, {args.days} days)"),
        (
            "provider",
            f"{len(landed)} orders in {result.seconds:.1f} s = {rate:.0f} orders/s "
            f"= {rate / ceiling:.0%} of ceiling",
        ),
        (
            "provider requests",
            f"{result.requests} by the reader = {100 * result.requests / max(len(landed), 1):.2f} "
            f"per 100 orders (ideal 1.00); {wire} on the wire, {throttled} throttled (60000) and retried",
        ),
        (
            "provider pacing",
            f"{wire / result.seconds:.1f} req/s on the wire of {args.qps} allowed; "
            f"the reader's {result.requests} requests at exactly {args.qps}/s would take {ideal_s:.1f} s",
        ),
        (
            "provider CPU",
            # At qps requests/s a page may cost at most 1/qps s of this process's CPU (all cores).
            f"{cpu:.1f} s = {1000 * cpu / max(wire, 1):.1f} ms per request (reading and checking); "
            f"{1000 / args.qps:.0f} ms per request is the most qps {args.qps} leaves",
        ),
        (
            "landing CPU",
            f"{landing_cpu:.1f} s = {1000 * landing_cpu / max(wire, 1):.1f} ms per request "
            "(the forked landing process: upserts into SQLite)",
        ),
        ("provider slices", recorder.summary()),
        ("provider exactness", f"lost/duplicated/extra = {lost}/{duplicated}/{extra}"),
        (
            "naive",
            f"{len(naive['ids'])} orders in {naive['seconds']:.1f} s = {naive_rate:.0f} orders/s "
            f"= {naive_rate / ceiling:.0%} of ceiling",
        ),
        (
            "naive requests",
            f"{naive_wire} on the wire, {naive_throttled} throttled; stopped: {naive['stop']}",
        ),
        (
            "naive coverage",
            f"read {len(naive_ids)} of {naive['total']} in the window; "
            f"{len(truth - naive_ids)} of truth not read",
        ),
        ("speedup", f"provider / naive = {rate / naive_rate:.1f}x"),
    ]
    print_block("throughput.py", figures)
    return 0 if lost == duplicated == extra == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
