"""The one-command demo: the example DAGs against the sandbox, landing into SQLite.

Starts ``douyin-sandbox`` in-process, prepares an Airflow home under ``.demo/`` with the
shop, 抖音来客 (Open Platform) and warehouse connections, runs every example DAG with
``airflow dags test`` and prints what landed next to the sandbox's ground truth.

Every run prints the same tables, whenever it runs (but for the live-room report's room ids
and audiences, which the platform derives from the dates the rooms went on air): the sandbox's
business clock is pinned to 12:00 Asia/Shanghai two days before today (``shop_clock``), so the
shop, its published
bills and its fund flows are the same shop shifted by whole days, and the DAGs read windows
relative to that clock. Each run also starts from an empty warehouse and metadata DB, so
nothing an earlier run stored (rows, watermarks, tokens of another sandbox) is left over.

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
import unicodedata
from datetime import date, datetime, timedelta, timezone
from datetime import time as time_of_day
from pathlib import Path

from airflow_provider_douyin.sandbox import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_CLIENT_KEY,
    SANDBOX_CLIENT_SECRET,
    SandboxConfig,
    SandboxServer,
    account_ids,
)
from airflow_provider_douyin.streams.windows import SHANGHAI

ROOT = Path(__file__).resolve().parents[1]
SHOP_ID = 1000001
OPEN_ID = "_000sandbox0001"
"""The sandbox's first Douyin user: shop 1's own broadcasting account, whose rooms its orders name."""
OPEN_CONN_ID = "douyin_open_default"
USER_SCOPES = "user_info,data.external.item"
CREATOR_TABLES = ("live_room_stats", "videos", "video_daily", "account_daily", "fans_profile")
TABLES = ("orders", "order_items", "products", "skus", "after_sales", "settlements", "account_flows")
LIFE_TABLES = ("life_orders", "life_certificates", "life_products", "life_verify_records", "life_refunds")
LIFE_KEYS = {
    "life_orders": lambda r: r["order_id"],
    "life_certificates": lambda r: r["order_item_id"],
    "life_products": lambda r: r["product"]["product_id"],
    "life_verify_records": lambda r: r["verify_id"],
    "life_refunds": lambda r: r["after_sale_id"],
}
PRIMARY_KEYS = {
    "orders": lambda r: r["order_id"],
    "order_items": None,  # counted from the orders' sku_order_list
    "products": lambda r: r["product_id"],
    "skus": lambda r: r["id"],
    "after_sales": lambda r: r["aftersale_info"]["aftersale_id"],
    "settlements": lambda r: (r["request_no"], r["order_id"]),
    "account_flows": lambda r: r["account_trade_no"],
}


def shop_clock(wall: datetime) -> datetime:
    """Where the demo pins the sandbox's business clock: 12:00 Asia/Shanghai two days before ``wall``.

    * Always noon: a shop generated at the same time of day is the same shop shifted by whole
      days, so counts, statuses and amounts print the same on any day.
    * Noon lies between the 01:00-06:00 settlement postings and the 15:00 bill publication,
      so the minutes the demo takes (the clock ticks on) post no fund flow and publish no bill.
    * Two days back keeps it before the horizon the DAGs compute from the wall clock (day D is
      final at D+1 15:00, so at any hour of any day everything up to yesterday 00:00 is final):
      the sandbox alone decides what is published, and it decides the same way every run.
    """
    day = wall.astimezone(SHANGHAI).date() - timedelta(days=2)
    return datetime.combine(day, time_of_day(12), SHANGHAI)


def sandbox_config(orders: int, days: int, seed: int, clock: datetime) -> SandboxConfig:
    return SandboxConfig(orders=orders, days=days, seed=seed, now=clock.timestamp(), life_orders=orders // 5)


def example_runs(clock: datetime, days: int) -> list[tuple[str, dict[str, str]]]:
    """Each example DAG with the ``--conf`` it runs with: the shop's whole history up to its clock."""
    window = {"window_start": (clock - timedelta(days=days + 1)).isoformat(), "window_end": clock.isoformat()}
    latest_bill = (clock.date() - timedelta(days=2)).isoformat()  # at noon, yesterday's is not out yet
    return [
        ("douyin_token_maintenance", {}),
        ("douyin_orders_hourly", window),
        ("douyin_life_hourly", window),
        ("douyin_products_daily", window),
        ("douyin_settlements_daily", {**window, "settlement_date": latest_bill}),
        ("douyin_live_daily", window),
    ]


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
            "AIRFLOW_CONN_DOUYIN_OPEN_DEFAULT": json.dumps(
                {
                    "conn_type": "douyin_open",
                    "host": sandbox_url,
                    "login": SANDBOX_CLIENT_KEY,
                    "password": SANDBOX_CLIENT_SECRET,
                    # The merchant account for the 抖音来客 streams; the shop's own broadcasting
                    # Douyin account (the user who authorises below) for rooms, videos and fans.
                    "extra": {"account_id": str(account_ids(1)[0]), "open_id": OPEN_ID, "qps": 50},
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


def authorize_user(env: dict[str, str], server: SandboxServer) -> bool:
    """The one-time user authorization, as a user does it: the sandbox plays the account holder
    approving the consent page, and ``douyin-oauth exchange`` stores the user's tokens."""
    code = server.issue_open_auth_code(scope=USER_SCOPES)
    cli = ["-m", "airflow_provider_douyin.oauth_cli", "exchange", "--conn-id", OPEN_CONN_ID, code]
    proc = subprocess.run([sys.executable, *cli], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)
    return proc.returncode == 0


def run_example_dags(
    env: dict[str, str], runs: list[tuple[str, dict[str, str]]], *, logs: Path
) -> list[tuple[str, bool, float]]:
    """Run each example DAG; keep each run's full output in ``logs`` for inspection (and secret scans)."""
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
    """Rows per table in the sandbox's ground truth (settlements as published on its clock)."""
    counts: dict[str, int] = {}
    orders = server.truth("orders", shop_id=SHOP_ID)
    counts["orders"] = len({o["order_id"] for o in orders})
    counts["order_items"] = len({i["order_id"] for o in orders for i in o["sku_order_list"]})
    for table, key in PRIMARY_KEYS.items():
        if key is not None and table != "orders":
            rows = server.truth(table, shop_id=SHOP_ID)
            counts[table] = len({key(r) for r in rows})
    for table, key in LIFE_KEYS.items():
        counts[table] = len({key(r) for r in server.open_truth(table)})
    for table in CREATOR_TABLES:
        counts[table] = len(server.open_truth(table, open_id=OPEN_ID))
    return counts


def report(warehouse: Path, expected: dict[str, int], clock: datetime) -> tuple[str, bool]:
    """The tables the demo prints, and whether every table equals the truth.

    Days are counted back from the shop's clock ("day -1" is the day before it), so the text
    is the same on whichever day the demo runs.
    """
    lines = [f"Rows landed in {warehouse.name}", f"  {'table':<27}{'landed':>10}{'sandbox':>10}"]
    exact = True
    with sqlite3.connect(warehouse) as db:
        for table in (*TABLES, *LIFE_TABLES, *CREATOR_TABLES):
            landed = db.execute(f"SELECT COUNT(*) FROM douyin_{table}").fetchone()[0]
            exact &= landed == expected[table]
            mark = "" if landed == expected[table] else "   <-- MISMATCH"
            lines.append(f"  douyin_{table:<20}{landed:>10}{expected[table]:>10}{mark}")
        lines += ["", "Orders by status"]
        for status, desc, n in db.execute(
            "SELECT order_status, order_status_desc, COUNT(*) FROM douyin_orders"
            " GROUP BY 1, 2 ORDER BY 3 DESC, 1"
        ):
            lines.append(f"  {status:>4} {desc:<10}{n:>8}")
        lines += ["", "GMV by day (paid orders, yuan, Asia/Shanghai), the shop's last 7 days"]
        for day, orders, gmv in db.execute(
            """SELECT date(pay_time, 'unixepoch', '+8 hours') AS day, COUNT(*), SUM(pay_amount) / 100.0
               FROM douyin_orders WHERE pay_time > 0 GROUP BY day ORDER BY day DESC LIMIT 7"""
        ):
            back = (date.fromisoformat(day) - clock.date()).days
            lines.append(f"  day {back:>3}{orders:>8} orders{gmv:>14,.2f}")
        lines += ["", "Live rooms, top 5 by GMV: sales beside viewers (douyin_live_room_report)"]
        header = ("room_id", "author", "GMV yuan", "buyers", "viewers", "conversion")
        lines.append("  {:<21}{:<28}{:>12}{:>8}{:>9}{:>12}".format(*header))
        for room, author, gmv, buyers, viewers, conversion in db.execute(
            """SELECT room_id, author_name, gmv / 100.0, buyers, watch_users, buyer_conversion
               FROM douyin_live_room_report ORDER BY gmv DESC, room_id LIMIT 5"""
        ):
            rate = "-" if conversion is None else f"{conversion:.1%}"
            viewers = "-" if viewers is None else viewers
            lines.append(
                f"  {room:<21}{pad(author or '-', 28)}{gmv:>12,.2f}{buyers:>8}{viewers:>9}{rate:>12}"
            )
    return "\n".join(lines), exact


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (a Chinese character takes two)."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - shown, 1)


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
    clock = shop_clock(datetime.now(timezone.utc))
    with SandboxServer(sandbox_config(args.orders, args.days, args.seed, clock)) as server:
        print(
            f"douyin-sandbox on {server.url}: {args.orders} orders over {args.days} days (seed {args.seed}), "
            f"its clock pinned at {clock.isoformat()} (day 0)"
        )
        env = airflow_env(home, server.url, warehouse)
        migrate = airflow(env, "db", "migrate")
        if migrate.returncode != 0:
            print(migrate.stdout, migrate.stderr)
            return 1
        for pool, slots in (("douyin_api", 4), ("douyin_open_api", 4), ("douyin_token", 1)):
            airflow(env, "pools", "set", pool, str(slots), "Douyin demo")
        if not authorize_user(env, server):
            return 1
        print("Running the example DAGs with `airflow dags test`:")
        results = run_example_dags(env, example_runs(clock, args.days), logs=logs)
        tables, exact = report(warehouse, truth_counts(server), clock)
        print(f"\n{tables}")
    ok = all(ok for _, ok, _ in results) and exact
    print("\nDemo", "succeeded: every table equals the sandbox's ground truth." if ok else "FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
