"""A task log of the hourly orders DAG says what the sync did, not one line per request.

Per-request flow lines belong at DEBUG; the secret masker's "Skipping masking" warnings and
the RFC3986 connection-scheme warning tell the user nothing they can act on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

NOISE = {
    "per-request INFO flow line": re.compile(r"\[info\s*\].*method=order\.searchList"),
    "secret masker warning": re.compile(r"Skipping masking"),
    "connection scheme warning": re.compile(r"RFC3986"),
}


@pytest.fixture
def orders_task_log(tmp_path: Path, douyin_sandbox_factory) -> str:
    """The output of `airflow dags test douyin_orders_hourly` with no logical date, at INFO."""
    # Over 100 orders an hour: the run reads more than its first page, so per-request lines would show.
    sandbox = douyin_sandbox_factory(orders=3000, days=1, seed=11)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT": json.dumps(
                {
                    "conn_type": "douyin_shop",
                    "host": sandbox.url,
                    "login": SANDBOX_APP_KEY,
                    "password": SANDBOX_APP_SECRET,
                    # The extras exactly as the README shows them.
                    "extra": {"shop_id": "1000001", "sign_method": "hmac-sha256", "qps": 10},
                }
            ),
            "AIRFLOW_CONN_DOUYIN_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
            ),
            "DOUYIN_SAFETY_LAG_S": "0",
        }
    )

    def airflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=240
        )

    migrate = airflow("db", "migrate")
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    run = airflow("dags", "test", "douyin_orders_hourly")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    requests_served = sandbox.stats()["requests_by_method"].get("order.searchList", 0)
    assert requests_served >= 2, "the sync made too few requests to show per-request noise"
    return output


def test_orders_task_log_has_no_per_request_or_warning_noise(orders_task_log: str):
    assert "Stream orders: reading" in orders_task_log  # the task did log, at INFO
    found = {
        what: [line for line in orders_task_log.splitlines() if pattern.search(line)][:3]
        for what, pattern in NOISE.items()
    }
    assert not any(found.values()), json.dumps(found, ensure_ascii=False, indent=1)
