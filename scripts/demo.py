"""The one-command demo: the example DAGs against the sandbox, landing into SQLite.

Starts ``douyin-sandbox`` in-process, prepares an Airflow home under ``.demo/`` with the
shop and warehouse connections, runs every example DAG with ``airflow dags test`` and
prints what landed next to the sandbox's ground truth. Safe to run again: each run starts
from an empty warehouse and metadata DB, because the sandbox generates its shop afresh
relative to the current time, so rows, watermarks and tokens an earlier run stored
describe a different shop.

    make demo            # or: .venv/bin/python scripts/demo.py --orders 20000
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow_provider_douyin.sandbox import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SandboxConfig,
    SandboxServer,
)
from airflow_provider_douyin.streams.catalog import T_PLUS_1_AT_15
from airflow_provider_douyin.streams.windows import format_time, publication_horizon

ROOT = Path(__file__).resolve().parents[1]
SHOP_ID = 1000001
TABLES = ("orders", "order_items", "products", "skus", "after_sales", "settlements", "account_flows")
PRIMARY_KEYS = {
    "orders": lambda r: r["order_id"],
    "order_items": None,  # counted from the orders' sku_order_list
    "products": lambda r: r["product_id"],
    "skus": lambda r: r["id"],
    "after_sales": lambda r: r["aftersale_info"]["aftersale_id"],
    "settlements": lambda r: (r["request_no"], r["order_id"]),
    "account_flows": lambda r: r["account_trade_no"],
}


def airflow_env(home: Path, sandbox_url: str, warehouse: Path) -> dict[str, str]:
    """Environment for `airflow` subprocesses: an isolated home and the two connections."""
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT": json.dumps(
                {
                    "conn_type": "douyin_shop",
                    "host": sandbox_url,
                    "login": SANDBOX_APP_KEY,
                    "password": SANDBOX_APP_SECRET,
                    "extra": {"shop_id": str(SHOP_ID), "qps": 50},
                }
            ),
            "AIRFLOW_CONN_DOUYIN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
            # The sandbox has no search visibility lag, so the sync may read right up to now.
            "DOUYIN_SAFETY_LAG_S": "0",
        }
    )
    return env


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)


def run_example_dags(env: dict[str, str], *, days: int, logs: Path) -> list[tuple[str, bool, float]]:
    """Run each example DAG; keep each run's full output in ``logs`` for inspection (and secret scans)."""
    now = datetime.now(timezone.utc)
    window = {"window_start": (now - timedelta(days=days + 1)).isoformat(), "window_end": now.isoformat()}
    bill_day = (now + timedelta(hours=8) - timedelta(days=3)).date().isoformat()
    runs = [
        ("douyin_token_maintenance", {}),
        ("douyin_orders_hourly", window),
        ("douyin_products_daily", window),
        ("douyin_settlements_daily", {**window, "settlement_date": bill_day}),
    ]
    results = []
    for dag_id, conf in runs:
        started = time.monotonic()
        proc = airflow(env, "dags", "test", dag_id, "--conf", json.dumps(conf))
        (logs / f"{dag_id}.log").write_text(proc.stdout + proc.stderr)
        ok = proc.returncode == 0  # `airflow dags test` exits with "DagRun failed" otherwise
        results.append((dag_id, ok, time.monotonic() - started))
        print(f"  {dag_id:<28} {'ok' if ok else 'FAILED'}  ({time.monotonic() - started:.0f}s)", flush=True)
        if not ok:
            print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
    return results


def truth_counts(server: SandboxServer) -> dict[str, int]:
    """The sandbox's rows the DAGs may read: fund flows only up to the T+1 publication horizon."""
    horizon = publication_horizon(T_PLUS_1_AT_15, datetime.now(timezone.utc))
    final_flows = format_time(int(horizon.timestamp()), "shanghai_datetime")
    counts: dict[str, int] = {}
    orders = server.truth("orders", shop_id=SHOP_ID)
    counts["orders"] = len({o["order_id"] for o in orders})
    counts["order_items"] = len({i["order_id"] for o in orders for i in o["sku_order_list"]})
    for table, key in PRIMARY_KEYS.items():
        if key is not None and table != "orders":
            rows = server.truth(table, shop_id=SHOP_ID)
            if table == "account_flows":
                rows = [r for r in rows if r["bill_time"] < final_flows]
            counts[table] = len({key(r) for r in rows})
    return counts


def report(warehouse: Path, expected: dict[str, int]) -> bool:
    db = sqlite3.connect(warehouse)
    print("\nRows landed in", warehouse)
    print(f"  {'table':<22}{'landed':>10}{'sandbox':>10}")
    exact = True
    for table in TABLES:
        landed = db.execute(f"SELECT COUNT(*) FROM douyin_{table}").fetchone()[0]
        exact &= landed == expected[table]
        mark = "" if landed == expected[table] else "   <-- MISMATCH"
        print(f"  douyin_{table:<15}{landed:>10}{expected[table]:>10}{mark}")
    print("\nOrders by status")
    for status, desc, n in db.execute(
        "SELECT order_status, order_status_desc, COUNT(*) FROM douyin_orders GROUP BY 1, 2 ORDER BY 3 DESC"
    ):
        print(f"  {status:>4} {desc:<10}{n:>8}")
    print("\nGMV by day (paid orders, yuan, Asia/Shanghai), last 7 days")
    for day, orders, gmv in db.execute(
        """SELECT date(pay_time, 'unixepoch', '+8 hours') AS day, COUNT(*), SUM(pay_amount) / 100.0
           FROM douyin_orders WHERE pay_time > 0 GROUP BY day ORDER BY day DESC LIMIT 7"""
    ):
        print(f"  {day}{orders:>8} orders{gmv:>14,.2f}")
    return exact


def reset(home: Path, warehouse: Path, logs: Path) -> None:
    """Drop what an earlier run left: its warehouse rows, and its runs, watermarks and tokens."""
    for stale in (warehouse, home / "airflow.db"):
        stale.unlink(missing_ok=True)
    for folder in (home, logs):
        folder.mkdir(parents=True, exist_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / ".demo", help="Airflow home, logs and the SQLite file"
    )
    args = parser.parse_args()

    demo = args.workdir.resolve()
    home, warehouse, logs = demo / "airflow", demo / "douyin.db", demo / "logs"
    reset(home, warehouse, logs)
    with SandboxServer(SandboxConfig(orders=args.orders, days=args.days, seed=args.seed)) as server:
        print(
            f"douyin-sandbox on {server.url}: {args.orders} orders over {args.days} days (seed {args.seed})"
        )
        env = airflow_env(home, server.url, warehouse)
        migrate = airflow(env, "db", "migrate")
        if migrate.returncode != 0:
            print(migrate.stdout, migrate.stderr)
            return 1
        for pool, slots in (("douyin_api", 4), ("douyin_token", 1)):
            airflow(env, "pools", "set", pool, str(slots), "Douyin demo")
        print("Running the example DAGs with `airflow dags test`:")
        results = run_example_dags(env, days=args.days, logs=logs)
        exact = report(warehouse, truth_counts(server))
    ok = all(ok for _, ok, _ in results) and exact
    print("\nDemo", "succeeded: every table equals the sandbox's ground truth." if ok else "FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
