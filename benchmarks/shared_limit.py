"""Three processes syncing one app_key against a gateway limit of N QPS, with and without a shared limiter.

Run::

    cd /work/main && .venv/bin/python benchmarks/shared_limit.py [--qps 20 --processes 3 --requests 150]

One in-process sandbox enforces ``qps_limit=N`` (its sliding one-second window per app) with WAN-like
latency. Each run starts ``--processes`` separate Python processes; each builds its own client of
the same app_key at ``qps=N`` (what every worker of a deployment has in its connection) and sends
``--requests`` ``product.listV2`` calls from ``--threads`` threads. The processes start together.

* **shared**: the connection names ``rate_limit_url`` (Redis), so all processes draw on one budget.
* **per process**: no ``rate_limit_url``; each process paces on its own, so together they offer
  ``processes × N`` and the gateway throttles them.

Figures per run: successful requests per second over all processes (first start to last end) as a
fraction of N, and the gateway's 60000 answers as a share of every request it received. The app key
is a fresh one per run, so a schedule left in Redis by anything else never counts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

SHOP_ID = 1000001


def child(args: argparse.Namespace) -> int:
    """One worker process: wait for "go" on stdin, send its requests, print what it saw as JSON.

    Its retries are not logged: the per-process run is throttled hundreds of times by design, and
    the gateway's count of them is in the figures; a line each would bury those."""
    logging.getLogger("airflow_provider_douyin.client.retry").setLevel(logging.ERROR)
    from airflow_provider_douyin.client import DoudianShopClient, DouyinError, InMemoryTokenStore, TokenPair

    with DoudianShopClient(
        app_key=args.app_key,
        app_secret=args.app_secret,
        base_url=args.url,
        shop_id=str(SHOP_ID),
        qps=args.qps,
        rate_limit_url=args.rate_limit_url or None,
        token_store=InMemoryTokenStore(TokenPair.from_json(args.token)),
    ) as client:
        counts = {"ok": 0, "failed": 0}
        lock = threading.Lock()
        left = iter(range(args.requests))

        def work() -> None:
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                try:
                    client.call("product.listV2", {"page": 1, "size": 1})
                    outcome = "ok"
                except DouyinError:
                    outcome = "failed"
                with lock:
                    counts[outcome] += 1

        print("ready", flush=True)
        sys.stdin.readline()
        started = time.time()
        threads = [threading.Thread(target=work) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps({**counts, "started": started, "ended": time.time()}), flush=True)
    return 0


def run(
    server: Any, token: str, app: tuple[str, str], *, shared: bool, args: argparse.Namespace
) -> dict[str, Any]:
    """Start the processes together, wait for them, and read the gateway's counts."""
    command = [sys.executable, __file__, "--child", "--url", server.url, "--token", token]
    command += ["--app-key", app[0], "--app-secret", app[1], "--qps", str(args.qps)]
    command += ["--requests", str(args.requests), "--threads", str(args.threads)]
    if shared:
        command += ["--rate-limit-url", args.redis_url]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
    }
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(args.processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a worker process did not start (exit {proc.wait()})")
        time.sleep(1.1)  # the gateway's sliding second forgets the token checks
        server.reset_stats()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stats = server.stats()
    wire = sum(stats["requests_by_method"].values())
    throttled = sum(n for code, n in stats["responses_by_code"].items() if str(code).startswith("60000"))
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    ok = sum(r["ok"] for r in results)
    return {
        "ok": ok,
        "failed": sum(r["failed"] for r in results),
        "seconds": seconds,
        "rate": ok / seconds,
        "ratio": ok / seconds / args.qps,
        "wire": wire,
        "throttled": throttled,
        "throttled_share": throttled / max(wire, 1),
    }


def describe(result: dict[str, Any]) -> str:
    return (
        f"{result['ok']} ok, {result['failed']} failed in {result['seconds']:.1f} s "
        f"= {result['rate']:.1f} req/s = {result['ratio']:.2f} x N; {result['throttled']} of "
        f"{result['wire']} on the wire throttled ({result['throttled_share']:.1%})"
    )


ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qps", type=int, default=20, help="the gateway's limit N, and every client's qps")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--requests", type=int, default=150, help="requests per process")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true", help="also print both runs' figures as one JSON line")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--url", "--token", "--app-key", "--app-secret", "--rate-limit-url"):
        parser.add_argument(name, default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import print_block, quiet_provider_logs

    from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore
    from airflow_provider_douyin.sandbox import SandboxConfig, SandboxServer

    quiet_provider_logs()
    figures: list[tuple[str, str] | str] = [
        ("gateway", f"qps_limit N = {args.qps} per app (sliding second), latency {args.latency_ms} ms"),
        ("load", f"{args.processes} processes x {args.requests} requests, {args.threads} threads each"),
    ]
    results = {}
    for shared in (True, False):
        # A fresh app per run: nothing another run (or program) left in Redis or the gateway counts.
        app = (str(10**18 + uuid.uuid4().int % (9 * 10**18)), uuid.uuid4().hex)
        config = SandboxConfig.from_kwargs(
            orders=50, latency_ms=args.latency_ms, qps_limit=args.qps, extra_apps={app[0]: app[1]}
        )
        with SandboxServer(config) as server:
            store = InMemoryTokenStore()
            with DoudianShopClient(
                app_key=app[0],
                app_secret=app[1],
                base_url=server.url,
                shop_id=str(SHOP_ID),
                token_store=store,
            ) as client:
                client.tokens.access_token()
            token = store.load()
            assert token is not None
            result = run(server, token.to_json(), app, shared=shared, args=args)
        name = "shared" if shared else "per process"
        results[name.replace(" ", "_")] = result
        figures.append((name, describe(result)))
    shared_ok = results["shared"]["ratio"] >= 0.85 and results["shared"]["throttled_share"] <= 0.01
    figures.append(
        (
            "verdict",
            f"shared >= 0.85 x N and <= 1% throttled: {'yes' if shared_ok else 'NO'}; "
            f"per process throttled: {'yes' if results['per_process']['throttled'] else 'no'}",
        )
    )
    print_block("shared_limit.py", figures)
    if args.json:
        print(json.dumps(results))
    return 0 if shared_ok and results["per_process"]["throttled"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
