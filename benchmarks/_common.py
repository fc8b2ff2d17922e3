"""Helpers shared by ``throughput.py`` and ``memory.py``, so both drive the provider the same way.

Airflow is imported lazily: ``prepare_airflow`` must set ``AIRFLOW_HOME`` before the first import.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SHOP_ID = 1000001
SQLITE_CONN_ID = "bench_sqlite"
HISTORY_SLACK_S = 3600
"""The sandbox spreads orders over ``days`` days before its start; read a little more to be sure."""


def prepare_airflow(workdir: Path) -> None:
    """A throwaway AIRFLOW_HOME so a benchmark never reads or writes the user's Airflow setup."""
    home = workdir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def quiet_provider_logs(verbose: bool = False) -> None:
    """One log line per request would bury the figures; warnings (throttle retries) stay visible."""
    if not verbose:
        logging.getLogger("airflow_provider_douyin.client.flow").setLevel(logging.WARNING)


def sqlite_hook(db_path: Path) -> Any:
    """The hook a task would get: ``BaseHook.get_hook`` on an ``AIRFLOW_CONN_*`` JSON connection."""
    os.environ[f"AIRFLOW_CONN_{SQLITE_CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "sqlite", "host": str(db_path.resolve())}
    )
    from airflow.sdk import BaseHook

    return BaseHook.get_hook(SQLITE_CONN_ID)


def make_client(url: str, qps: float) -> Any:
    """A sandbox client whose token is fetched now, so the timed part holds only data requests."""
    from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore
    from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET

    client = DoudianShopClient(
        app_key=SANDBOX_APP_KEY,
        app_secret=SANDBOX_APP_SECRET,
        base_url=url,
        shop_id=str(SHOP_ID),
        qps=qps,
        token_store=InMemoryTokenStore(),
    )
    client.tokens.access_token()
    return client


def import_sync_modules() -> None:
    """Import everything a sync runs, so an RSS taken afterwards includes the code, not just data."""
    for module in ("landing.sinks", "landing.sql", "streams.catalog", "streams.reader", "streams.sync"):
        importlib.import_module(f"airflow_provider_douyin.{module}")


def full_window(days: int) -> Any:
    """Every order of a sandbox generated over ``days`` days that ended just now."""
    from airflow_provider_douyin.streams.windows import Window

    now = int(time.time())
    return Window(now - days * 86400 - HISTORY_SLACK_S, now + 1)


def sync_orders(call: Any, hook: Any, window: Any, *, max_workers: int) -> Any:
    """``run_sync`` of the ``orders`` stream into SQLite (both of its tables), as a transfer task runs it:
    through ``DouyinToSqlOperator``'s sink (forked landing, order and items in one transaction)."""
    from airflow_provider_douyin.landing.sinks import open_sql_sink
    from airflow_provider_douyin.streams.catalog import get_stream
    from airflow_provider_douyin.streams.sync import run_sync

    stream = get_stream("orders")
    with open_sql_sink(hook, [b.table for b in stream.tables], table_prefix="douyin_") as sink:
        return run_sync(call, stream, window, sink, max_workers=max_workers)


def landed_ids(db_path: Path, table: str = "douyin_orders", key: str = "order_id") -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute(f"SELECT {key} FROM {table}")]


@contextmanager
def sandbox_process(orders: int, seed: int, days: int, *options: str) -> Iterator[str]:
    """A sandbox in its own process (no faults unless ``options`` such as ``--qps-limit 20`` name
    them), so its memory and CPU, and the moments it stamps on arrivals, are not the sync's."""
    command = [sys.executable, "-m", "airflow_provider_douyin.sandbox", "serve", "--port", "0"]
    command += ["--orders", str(orders), "--seed", str(seed), "--days", str(days), *options]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        if not first.startswith("douyin-sandbox listening on "):
            raise RuntimeError(f"sandbox did not start (exit {proc.poll()}): {first!r}")
        yield first.rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class SandboxControl:
    """The HTTP control API of a sandbox in another process (what ``SandboxServer`` offers in-process)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str, **query: str) -> Any:
        import requests

        reply = requests.get(f"{self.url}/sandbox/{path}", params=query, timeout=60)
        reply.raise_for_status()
        return reply

    def stats(self) -> dict[str, Any]:
        return self._get("stats").json()

    def reset_stats(self) -> None:
        import requests

        requests.post(f"{self.url}/sandbox/reset_stats", timeout=60).raise_for_status()

    def truth(self, table: str, shop_id: int) -> list[dict[str, Any]]:
        lines = self._get(f"truth/{table}", shop_id=str(shop_id)).text.splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def print_block(script: str, figures: list[tuple[str, str] | str]) -> None:
    """The short, copy-pasteable summary every benchmark ends with: exact command, then figures.

    ``(name, value)`` pairs are aligned; plain strings (table rows) are printed as they are.
    """
    width = max((len(f[0]) for f in figures if isinstance(f, tuple)), default=0)
    command = shlex.join([".venv/bin/python", f"benchmarks/{script}", *sys.argv[1:]])
    print("\n```")
    print(f"$ cd {Path(__file__).resolve().parents[1]} && {command}")
    for figure in figures:
        print(f"{figure[0]:<{width}}  {figure[1]}" if isinstance(figure, tuple) else figure)
    print("```", flush=True)
