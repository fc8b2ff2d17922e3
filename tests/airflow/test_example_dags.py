"""The example DAGs, end to end with `airflow dags test` against the sandbox (the demo does exactly this)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, SECRET_PATTERNS

TABLES = (
    "orders",
    "order_items",
    "products",
    "skus",
    "after_sales",
    "settlements",
    "account_flows",
    "life_orders",
    "life_certificates",
    "life_products",
    "life_verify_records",
    "life_refunds",
    "live_room_stats",
    "videos",
    "video_daily",
    "account_daily",
    "fans_profile",
)


def test_every_example_dag_lands_exactly_the_sandbox_truth(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--orders", "1500", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    for dag_id in (
        "douyin_orders_hourly",
        "douyin_life_hourly",
        "douyin_products_daily",
        "douyin_settlements_daily",
        "douyin_live_daily",
    ):
        assert f"{dag_id}" in output and "FAILED" not in output
    # Table lines read "douyin_<table>  <landed>  <sandbox>": landed must equal the truth, non-zero.
    for table in TABLES:
        line = next(line for line in output.splitlines() if line.strip().startswith(f"douyin_{table} "))
        landed, truth = (int(v) for v in line.split()[1:3])
        assert landed == truth > 0, line

    # The live-room report: sales per room beside its viewers, own rooms with a conversion rate.
    live = output.split("Live rooms, top 5 by GMV")[1].split("\n\n")[0].strip().splitlines()[2:]
    assert len(live) == 5 and any(line.endswith("%") for line in live), live

    logs = list((tmp_path / "logs").glob("*.log"))
    assert len(logs) == 6
    for log_file in logs:
        text = log_file.read_text()
        assert "DagRun Finished" in text or "state=success" in text, log_file.name
        leaked = [p.pattern for p in SECRET_PATTERNS if p.search(text)]
        assert not leaked, f"{log_file.name} shows a secret: {leaked}"


def test_window_params_are_typed_documented_and_templates_name_no_data_interval(monkeypatch, airflow_db):
    """The trigger form shows each window field with its format; templates naming
    ``data_interval_start`` failed to render in runs without a logical date."""
    monkeypatch.syspath_prepend(str(ROOT / "dags"))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    for dag_id in (
        "douyin_orders_hourly",
        "douyin_life_hourly",
        "douyin_products_daily",
        "douyin_settlements_daily",
    ):
        params = bag.get_dag(dag_id).params
        for name in ("window_start", "window_end"):
            param = params.get_param(name)
            schema = param.schema
            assert schema["type"] == ["null", "string"] and schema["format"] == "date-time", (dag_id, schema)
            assert schema["title"] and "+08:00" in param.description, (dag_id, param.dump())
        land = next(t for t in bag.get_dag(dag_id).tasks if t.task_id.startswith("land_"))
        assert "data_interval" not in land.window_start + land.window_end, land.window_start
