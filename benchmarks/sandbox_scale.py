"""Scale check of the Doudian sandbox: start a big shop, page order.searchList, report figures.

Usage::

    .venv/bin/python benchmarks/sandbox_scale.py --orders 1000000 --pages 300

The server runs as a separate ``python -m airflow_provider_douyin.sandbox serve`` process so
its peak RSS (VmHWM from /proc) is measured alone. Pages are 100 orders at random
offsets inside one-day update_time windows and a 30-day create_time window (deep pages
up to the 50,000 cap), signed with the sandbox's own signer; then one bulk mutation is timed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_IDS
from airflow_provider_douyin.sandbox.signing import canonical_json, sign


def _call(session: requests.Session, url: str, method: str, params: dict, token: str = "") -> dict:
    body = canonical_json(params)
    ts = str(int(time.time()))
    query = {
        "app_key": SANDBOX_APP_KEY,
        "method": method,
        "timestamp": ts,
        "v": "2",
        "access_token": token,
        "sign_method": "hmac-sha256",
        "sign": sign(SANDBOX_APP_SECRET, SANDBOX_APP_KEY, method, body, ts, "hmac-sha256"),
    }
    response = session.post(f"{url}/{method.replace('.', '/')}", params=query, data=body.encode(), timeout=60)
    envelope = response.json()
    if envelope["code"] != 10000:
        raise RuntimeError(
            f"{method} failed: {envelope['code']} {envelope['sub_code']} {envelope['sub_msg']}"
        )
    return envelope["data"]


def _rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "airflow_provider_douyin.sandbox",
        "serve",
        "--port",
        "0",
        "--orders",
        str(args.orders),
        "--seed",
        str(args.seed),
    ]
    print("command:", " ".join(command), flush=True)
    began = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        startup = time.time() - began
        if not first.startswith("douyin-sandbox listening on "):
            raise RuntimeError(f"unexpected first line: {first!r}")
        url = first.rsplit(" ", 1)[1]
        session = requests.Session()
        token = _call(
            session,
            url,
            "token.create",
            {"code": "", "grant_type": "authorization_self", "shop_id": str(SANDBOX_SHOP_IDS[0])},
        )["access_token"]
        now = int(time.time())
        rng = random.Random(args.seed)
        latencies: list[float] = []
        total_seen = 0
        windows = [
            {
                "update_time_start": now - (day + 1) * 86400,
                "update_time_end": now - day * 86400,
                "order_by": "update_time",
                "order_asc": True,
            }
            for day in range(29)
        ] + [{"create_time_start": now - 30 * 86400, "create_time_end": now}]
        totals = [
            _call(session, url, "order.searchList", {**w, "page": 0, "size": 100}, token)["total"]
            for w in windows
        ]
        for n in range(args.pages):
            w = n % len(windows)
            last_page = max(0, min((totals[w] - 1) // 100, 500))
            params = {**windows[w], "size": 100, "page": rng.randrange(0, last_page + 1)}
            t0 = time.perf_counter()
            data = _call(session, url, "order.searchList", params, token)
            latencies.append((time.perf_counter() - t0) * 1000)
            total_seen += len(data["shop_order_list"])
        t0 = time.perf_counter()
        session.post(f"{url}/sandbox/mutate", json={"new_orders": 1000, "updates": 1000}, timeout=120)
        mutate_s = time.perf_counter() - t0
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(f"orders: {args.orders:,}  startup (generation + bind): {startup:.1f} s")
        peak, current = _rss_mb(proc.pid, "VmHWM"), _rss_mb(proc.pid, "VmRSS")
        print(f"peak RSS (VmHWM): {peak:.0f} MB  current RSS: {current:.0f} MB")
        print(f"order.searchList pages: {len(latencies)} x size 100 ({total_seen:,} orders returned)")
        print(f"page latency p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {latencies[-1]:.1f} ms")
        print(f"mutate 1000 new orders + 1000 updates: {mutate_s * 1000:.0f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
