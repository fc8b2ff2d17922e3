"""A window killed mid-sync is read again: the watermark never passes a range that was not landed.

Every sync runs ``dag.test()`` of ``dag_files/douyin_watermark_dags.py`` in a subprocess (a real
task with real Variables in the migrated metadata DB) and lands into PostgreSQL; the test kills
it with SIGKILL, so nothing in the process gets to clean up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_douyin.streams.windows import Window
from airflow_provider_douyin.transfers.watermarks import load_state, watermark_key
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection
from tests.conftest import ROOT, SECRET_PATTERNS

TARGET = "douyin_test_postgres.douyin_"
WATERMARK_KEY = watermark_key(CONN_ID, "orders", TARGET)

RUNNER = """
import importlib.util, json, os, signal, sys
spec = json.loads(sys.argv[1])
if spec.get("kill_after_parents"):
    # SIGKILL when the Nth write of orders is done and the next statement (its items) begins. The
    # statements run in the landing child; the kill takes its whole process group.
    from airflow_provider_douyin.landing.sql import SqlLanding
    original, writes = SqlLanding._executemany, []
    def executemany(cur, sql, params):
        if len(writes) == spec["kill_after_parents"]:
            print("KILLING after parents", writes, "before", sql[:40], flush=True)
            os.killpg(0, signal.SIGKILL)  # the task's process and its landing child, like a lost worker
        original(cur, sql, params)
        if '"douyin_orders"' in sql:
            writes.append(len(params))
    SqlLanding._executemany = staticmethod(executemany)
module_spec = importlib.util.spec_from_file_location("douyin_watermark_dags", spec["dag_file"])
module = importlib.util.module_from_spec(module_spec)
module_spec.loader.exec_module(module)
for run in spec["runs"]:
    kwargs = {"run_conf": run["conf"]}
    if run.get("no_logical_date"):
        kwargs["logical_date"] = None
    dag_run = module.watermark_dag.test(**kwargs)
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    print("RUN", json.dumps(states), flush=True)
    if set(states.values()) != {"success"}:
        sys.exit(3)
"""


def start_runs(runs: list[dict[str, Any]], **options: Any) -> subprocess.Popen:
    spec = {
        "dag_file": str(ROOT / "tests/airflow/dag_files/douyin_watermark_dags.py"),
        "runs": runs,
        **options,
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(spec)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = proc.communicate(timeout=timeout)
    leaked = [p.pattern for p in SECRET_PATTERNS if p.search(output)]
    assert not leaked, f"a sync's output shows a secret: {leaked}"
    return proc.returncode, output


def window_conf(start: datetime, end: datetime) -> dict[str, Any]:
    return {"conf": {"window_start": start.isoformat(), "window_end": end.isoformat()}}


def landed_orders(hook: Any) -> dict[str, int]:
    try:
        return dict(hook.get_records("SELECT order_id, update_time FROM douyin_orders"))
    except Exception as exc:  # the first run has not created the table yet
        if "does not exist" in str(exc):
            return {}
        raise


def landed_items(hook: Any) -> dict[str, str]:
    return dict(hook.get_records("SELECT order_id, parent_order_id FROM douyin_order_items"))


def stored_watermark() -> Any:
    from airflow.models.variable import Variable as VariableModel  # the metadata DB itself, not a task

    return load_state(VariableModel.get(WATERMARK_KEY, default_var=None))


@pytest.fixture
def shop_for_kill(douyin_sandbox_factory, monkeypatch, fresh_token_variable, postgres_hook):
    """A sandbox of a few thousand orders, a fresh PostgreSQL schema and no stored watermark."""
    from airflow.models.variable import Variable as VariableModel

    server = douyin_sandbox_factory(orders=4000, seed=33, days=30)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(server.url))
    VariableModel.delete(WATERMARK_KEY)
    yield server
    VariableModel.delete(WATERMARK_KEY)


def test_killed_window_is_landed_by_the_watermark_run_after_a_later_window_succeeded(
    shop_for_kill, postgres_hook
):
    server = shop_for_kill
    truth = {o["order_id"]: o["update_time"] for o in server.truth("orders", shop_id=SHOP_ID)}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    w1 = (now - timedelta(days=32), now - timedelta(days=12))
    w2 = (now - timedelta(days=12), now - timedelta(days=3))
    in_w1 = {k for k, v in truth.items() if w1[0].timestamp() <= v < w1[1].timestamp()}
    assert len(in_w1) > 1000 and min(truth.values()) >= w1[0].timestamp()

    # W1, slowed down, is killed once some of its rows are committed.
    server.set_faults(latency_ms=250)
    proc = start_runs([window_conf(*w1)])
    deadline = time.monotonic() + 240
    while not landed_orders(postgres_hook) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    code, output = finish(proc)
    assert code == -signal.SIGKILL, output[-3000:]
    after_kill = landed_orders(postgres_hook)
    assert 0 < len(after_kill) < len(in_w1), "the kill did not land mid-window"
    server.set_faults(latency_ms=0)

    # W2 succeeds; the watermark must stay at W1's start, where the killed range begins.
    code, output = finish(start_runs([window_conf(*w2)]))
    assert code == 0, output[-5000:]
    state = stored_watermark()
    lookback = timedelta(minutes=10)
    assert state.watermark == Window.from_datetimes(w1[0] - lookback, w1[0]).start
    assert state.done == (Window.from_datetimes(w2[0] - lookback, w2[1]),)
    assert len(landed_orders(postgres_hook)) < len(truth)

    # A run without a logical date reads from the watermark to now: nothing is lost.
    code, output = finish(start_runs([{"conf": {}, "no_logical_date": True}]))
    assert code == 0, output[-5000:]
    assert landed_orders(postgres_hook) == truth
    items = {
        i["order_id"]: o["order_id"]
        for o in server.truth("orders", shop_id=SHOP_ID)
        for i in o["sku_order_list"]
    }
    assert landed_items(postgres_hook) == items
    state = stored_watermark()
    assert len(state.done) == 1 and state.watermark >= int(now.timestamp())
