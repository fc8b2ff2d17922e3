"""A 7-day hourly backfill (168 runs) on CeleryExecutor: two workers, one shared rate limit.

Run::

    cd /work/main && .venv/bin/python benchmarks/backfill.py [--days 7 --orders 20000 --qps 10]

Needs PostgreSQL (127.0.0.1:5432, a throwaway metadata and a throwaway warehouse database) and Redis
(127.0.0.1:6379, db 5: the Celery broker, on a queue of its own, and the shared rate limiter).

A real deployment: API server, scheduler, DAG processor and ``--workers`` ``airflow celery worker``
processes of ``--concurrency`` each (``tests/airflow/deployment.py``, what the Celery test starts).
One sandbox shop, in this process, enforces ``qps_limit=--qps`` per app with ``--latency-ms`` on every
reply; its history ends two hours before now at an hour boundary of the DAG's schedule. The
``douyin_shop_default`` connection names ``qps=--qps`` and a ``rate_limit_url``, so every task
process of every worker draws on one budget. ``airflow backfill create`` makes one run per hour of
the last ``--days`` days of that history (168 for 7 days); the clock runs from the backfill's creation
until its last run finished.

Figures: orders/s as a fraction of the rate ceiling (``qps × 100`` orders/s, 100 = largest page),
requests and throttles as the sandbox counted them, failed tasks and retries, which worker ran how
many tasks, exactness (landed orders against the sandbox's truth of the backfilled range: lost,
extra, rows landed twice), and two projections at 10 QPS from the measured costs (see ``project``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_douyin.client.ratelimit import START

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "douyin_orders_hourly"
SCHEDULE_MINUTE = 5
"""The DAG runs at minute 5 of every hour: its data intervals start and end there."""
LOOKBACK_S = 600
"""The DAG's lookback: each run also reads the 10 minutes before its interval."""
SLOTS_POOL = "douyin_api"
PAGE = 100
PROJECTION_QPS = 10


def history_end(now: float) -> int:
    """A boundary of the DAG's hourly intervals at least two hours before ``now``: the scheduled
    run that unpausing creates covers a later hour, outside the backfilled history."""
    boundary = (int(now) - SCHEDULE_MINUTE * 60) // 3600 * 3600 + SCHEDULE_MINUTE * 60
    return boundary - 2 * 3600


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def paged(deployment: Any, path: str, key: str) -> list[dict[str, Any]]:
    """Every item of a paginated REST list."""
    items: list[dict[str, Any]] = []
    while True:
        page = deployment.api("GET", f"{path}{'&' if '?' in path else '?'}limit=100&offset={len(items)}")
        items += page[key]
        if len(items) >= page["total_entries"] or not page[key]:
            return items


def run_backfill(deployment: Any, start: int, runs: int, args: argparse.Namespace) -> dict[str, Any]:
    """Create the backfill, wait until every run of it finished, return its runs and task instances."""
    deployment.wait_for(lambda: deployment.dag_parsed(DAG_ID), 300, f"{DAG_ID} to be parsed")
    deployment.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    started = time.time()
    deployment.airflow(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", iso(start),
        "--to-date", iso(start + (runs - 1) * 3600), "--max-active-runs", str(args.max_active_runs),
    )  # fmt: skip

    def finished() -> list[dict[str, Any]] | None:
        backfill = [
            r for r in paged(deployment, f"/dags/{DAG_ID}/dagRuns", "dag_runs") if r["run_type"] == "backfill"
        ]
        done = len(backfill) == runs and all(r["state"] in ("success", "failed") for r in backfill)
        return backfill if done else None

    backfill = deployment.wait_for(finished, args.timeout, "the backfill to finish")
    ended = max(datetime.fromisoformat(r["end_date"]).timestamp() for r in backfill)
    run_ids = {r["dag_run_id"] for r in backfill}
    tis = [
        ti
        for ti in paged(deployment, f"/dags/{DAG_ID}/dagRuns/~/taskInstances", "task_instances")
        if ti["dag_run_id"] in run_ids
    ]
    return {"runs": backfill, "tis": tis, "seconds": ended - started}


def project(
    measured: dict[str, Any], *, orders: int, shops: int, days: int, slots: int, window_hours: int = 1
) -> dict[str, float]:
    """Hours for a ``days``-day backfill, in windows of ``window_hours``, of ``shops`` shops holding
    ``orders`` orders, at ``PROJECTION_QPS``: the slower of the API (requests ÷ the limiter's steady pace,
    ``START`` × QPS) and Airflow (task instances × measured slot-seconds per task ÷ ``slots``).

    Requests = a fixed cost per window (one shop, one stream, one window: the measured requests beyond one
    per 100 records, over the windows read) + one per 100 records. One task per shop, stream and window.
    """
    windows = days * 24 // window_hours * shops * 2
    requests = windows * measured["requests_per_window"] + orders * measured["requests_per_order"]
    api_hours = requests / (START * PROJECTION_QPS) / 3600
    airflow_hours = windows * measured["task_seconds"] / slots / 3600
    return {
        "requests": requests,
        "api_h": api_hours,
        "airflow_h": airflow_hours,
        "hours": max(api_hours, airflow_hours),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="days backfilled, one run per hour")
    parser.add_argument("--orders", type=int, default=20000, help="orders in the shop's history")
    parser.add_argument(
        "--qps", type=int, default=10, help="the sandbox's limit per app, and the connection's qps"
    )
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="task processes per worker")
    parser.add_argument("--max-active-runs", type=int, default=8)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait for the backfill")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()

    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from _common import print_block

    from airflow_provider_douyin.sandbox import SandboxConfig, SandboxServer
    from tests.airflow.deployment import (
        fresh_app,
        shop_env,
        start_deployment,
        throwaway_database,
        warehouse_rows,
    )

    runs, slots = args.days * 24, args.workers * args.concurrency
    end = history_end(time.time())
    start = end - runs * 3600
    app = fresh_app()
    config = SandboxConfig.from_kwargs(
        orders=args.orders, days=args.days, seed=7, now=end, qps_limit=args.qps,
        latency_ms=args.latency_ms, extra_apps=dict([app]),
    )  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="douyin-backfill-") as workdir,
        throwaway_database("h_bench_airflow") as metadata_db,
        throwaway_database("h_bench_warehouse") as warehouse_db,
        SandboxServer(config) as sandbox,
    ):
        env = shop_env(sandbox.url, sandbox.shop_ids, app, warehouse_db, qps=args.qps)
        with start_deployment(
            Path(workdir), metadata_db, executor="CeleryExecutor", env=env, pools={SLOTS_POOL: slots}
        ) as deployment:
            for i in range(args.workers):
                deployment.start_celery_worker(f"worker-{i + 1}", concurrency=args.concurrency)
                log = deployment.logs / f"worker-{i + 1}.out"
                deployment.wait_for(lambda log=log: " ready." in log.read_text(), 300, f"worker-{i + 1}")
            sandbox.reset_stats()
            result = run_backfill(deployment, start, runs, args)
        stats = sandbox.stats()
        landed = warehouse_rows(warehouse_db)
        truth = sandbox.truth("orders", shop_id=sandbox.shop_ids[0])
        after_sales = len(sandbox.truth("after_sales", shop_id=sandbox.shop_ids[0]))

    covered = [o for o in truth if start - LOOKBACK_S <= o["update_time"] < end]
    expected = {str(o["order_id"]): o["update_time"] for o in covered}
    got = landed["orders"].get(sandbox.shop_ids[0], {})
    lost = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    stale = [k for k in expected.keys() & got.keys() if expected[k] != got[k]]
    twice = landed["rows"]["orders"] - sum(len(v) for v in landed["orders"].values())

    tis = result["tis"]
    failed = [ti for ti in tis if ti["state"] != "success"]
    retried = [ti for ti in tis if ti["try_number"] != 1]
    by_worker: dict[str, int] = {}
    for ti in tis:
        by_worker[ti["hostname"]] = by_worker.get(ti["hostname"], 0) + 1
    task_seconds = sum(ti["duration"] or 0 for ti in tis) / max(len(tis), 1)
    requests = sum(n for m, n in stats["requests_by_method"].items() if m != "token.create")
    throttled = sum(n for code, n in stats["responses_by_code"].items() if code.startswith("60000"))
    auth = {c: n for c, n in stats["responses_by_code"].items() if not c.startswith(("10000", "60000"))}
    records = len(got) + after_sales
    windows = len(tis)
    seconds = result["seconds"]
    rate = len(got) / seconds
    measured = {
        # Requests beyond one per page of records, per window (probes, short last pages, empty windows).
        "requests_per_window": max(0.0, requests - records / PAGE) / windows,
        "requests_per_order": 1 / PAGE,
        # What a slot spends per task instance, queueing and process start included: the wall time
        # of the whole backfill times the slots, over the tasks.
        "task_seconds": seconds * slots / windows,
    }
    one_shop = project(measured, orders=1_000_000, shops=1, days=90, slots=slots)
    many_shops = project(measured, orders=100 * 10_000, shops=100, days=90, slots=slots)
    many_daily = project(measured, orders=100 * 10_000, shops=100, days=90, slots=slots, window_hours=24)
    ok = not failed and not retried and not lost and not extra and not stale and not twice and not auth
    ok = ok and len(result["runs"]) == runs and all(r["state"] == "success" for r in result["runs"])

    def projection(p: dict[str, float]) -> str:
        return (
            f"{p['hours']:.1f} h (API: {p['requests']:,.0f} requests = {p['api_h']:.1f} h; "
            f"Airflow: {p['airflow_h']:.1f} h on {slots} slots)"
        )

    figures: list[tuple[str, str] | str] = [
        ("deployment", f"CeleryExecutor, {args.workers} workers x concurrency {args.concurrency}, "
                       f"pool {SLOTS_POOL}={slots}, shared limiter (Redis)"),
        ("gateway", f"qps_limit {args.qps} per app, latency {args.latency_ms} ms"),
        ("backfill", f"{len(result['runs'])} hourly runs ({args.days} days), {len(tis)} task instances, "
                     f"{seconds:.0f} s"),
        ("orders", f"{len(got)} landed in {seconds:.0f} s = {rate:.2f} orders/s = "
                   f"{rate / (args.qps * PAGE):.1%} of the rate ceiling ({args.qps * PAGE} orders/s)"),
        ("requests", f"{requests} on the wire ({requests / windows:.2f} per task), "
                     f"{throttled} throttled (60000)"),
        ("tasks", f"{len(failed)} failed, {len(retried)} retried, mean duration {task_seconds:.1f} s; "
                  f"by worker: {json.dumps(by_worker, sort_keys=True)}"),
        ("auth failures", f"{sum(auth.values())} {auth if auth else ''}".rstrip()),
        ("exactness", f"truth in range {len(expected)}, landed {len(got)}: lost {len(lost)}, "
                      f"extra {len(extra)}, stale {len(stale)}, landed twice {twice}"),
        ("1M orders, 90 days", projection(one_shop)),
        ("100 shops x 10k, 90 d", projection(many_shops)),
        ("the same, daily windows", projection(many_daily)),
        ("verdict", f"exact, 0 failed tasks, 0 auth failures: {'yes' if ok else 'NO'}"),
    ]  # fmt: skip
    print_block("backfill.py", figures)
    if args.json:
        summary = {"seconds": seconds, "orders": len(got), "requests": requests, "throttled": throttled}
        summary |= {
            "by_worker": by_worker,
            "measured": measured,
            "one_shop": one_shop,
            "many_shops": many_shops,
        }
        print(json.dumps({**summary, "many_shops_daily": many_daily, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
