"""Peak RSS of an ``orders`` sync of 1,000,000 orders against 10,000: flat memory keeps the ratio near 1.

Run::

    cd /work/main && .venv/bin/python benchmarks/memory.py [--sizes 10000,1000000]

For each size the sandbox runs as its own process (no latency, no QPS limit), and the sync
runs in another fresh process (``--child``) so that neither the sandbox's data set nor an
earlier size's allocations count in the figure. The child imports everything, builds the
SQLite hook and client, records its RSS (the baseline), syncs the full window into a new
SQLite file, and reports ``ru_maxrss`` (its peak) with rows landed and seconds, and the peak of the
landing process it forks (``RUSAGE_CHILDREN``; pages shared with the reader count in both).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    full_window,
    import_sync_modules,
    landed_ids,
    make_client,
    prepare_airflow,
    print_block,
    quiet_provider_logs,
    sandbox_process,
    sqlite_hook,
    sync_orders,
)

RESULT_PREFIX = "MEMORY-RESULT "
CHILD_QPS = 1000
CHILD_WORKERS = 4


def rss_kib(field: str = "VmRSS") -> int:
    """Current (``VmRSS``) or peak (``VmHWM``) resident set of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(url: str, days: int) -> None:
    """One sync in a fresh interpreter; prints one JSON line the parent parses."""
    with tempfile.TemporaryDirectory(prefix="douyin-memory-") as tmp:
        prepare_airflow(Path(tmp))
        quiet_provider_logs()
        db_path = Path(tmp) / "bench.db"
        hook = sqlite_hook(db_path)
        import_sync_modules()
        with make_client(url, CHILD_QPS) as client:
            window = full_window(days)
            baseline = rss_kib()
            started = time.monotonic()
            result = sync_orders(client.request, hook, window, max_workers=CHILD_WORKERS)
            seconds = time.monotonic() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            report = {
                "baseline_kib": baseline,
                "peak_kib": peak,
                "landing_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                "end_kib": rss_kib(),
                "seconds": seconds,
                "orders": len(landed_ids(db_path)),
                "order_items": result.rows.get("order_items", 0),
                "requests": result.requests,
            }
    print(RESULT_PREFIX + json.dumps(report), flush=True)


def measure(size: int, seed: int, days: int, timeout: float) -> dict[str, Any]:
    """Start a sandbox of ``size`` orders, run one child sync against it, return the child's report."""
    began = time.monotonic()
    with sandbox_process(size, seed, days) as url:
        startup = time.monotonic() - began
        print(f"  sandbox up in {startup:.1f} s at {url}; syncing in a fresh process ...", flush=True)
        command = [sys.executable, __file__, "--child", "--url", url, "--days", str(days)]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError(f"child printed no result:\n{done.stdout[-2000:]}")
    return {"size": size, "startup": startup, **json.loads(lines[-1][len(RESULT_PREFIX) :])}


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated order counts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=30, help="days the orders are spread over")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed per child sync")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.url, args.days)
        return 0

    sizes = sorted(int(s) for s in args.sizes.split(","))
    runs = []
    for size in sizes:
        print(f"N={size}: starting sandbox process ...", flush=True)
        runs.append(measure(size, args.seed, args.days, args.timeout))
        last = runs[-1]
        print(f"  {last['orders']} orders in {last['seconds']:.1f} s, peak {mib(last['peak_kib'])} MiB")

    header = (
        "N",
        "orders",
        "items",
        "sync s",
        "orders/s",
        "base MiB",
        "peak MiB",
        "peak-base",
        "end MiB",
        "landing peak MiB",
    )
    table = [
        (
            f"{r['size']:,}",
            f"{r['orders']:,}",
            f"{r['order_items']:,}",
            f"{r['seconds']:.1f}",
            f"{r['orders'] / r['seconds']:.0f}",
            mib(r["baseline_kib"]),
            mib(r["peak_kib"]),
            mib(r["peak_kib"] - r["baseline_kib"]),
            mib(r["end_kib"]),
            mib(r["landing_peak_kib"]),
        )
        for r in runs
    ]
    widths = [max(len(row[i]) for row in (header, *table)) for i in range(len(header))]
    small, large = runs[0], runs[-1]
    growth = [max(r["peak_kib"] - r["baseline_kib"], 1) for r in (small, large)]
    figures = [
        *("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in (header, *table)),
        (
            f"peak RSS ratio {large['size']:,} / {small['size']:,}",
            f"{large['peak_kib'] / small['peak_kib']:.2f}",
        ),
        (f"peak-baseline ratio {large['size']:,} / {small['size']:,}", f"{growth[1] / growth[0]:.2f}"),
        (
            f"landing peak ratio {large['size']:,} / {small['size']:,}",
            f"{large['landing_peak_kib'] / small['landing_peak_kib']:.2f}",
        ),
        ("complete", "yes" if all(r["orders"] == r["size"] for r in runs) else "NO: orders landed != N"),
        ("settings", f"client qps {CHILD_QPS}, max_workers {CHILD_WORKERS}, sandbox without faults"),
    ]
    print_block("memory.py", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
