"""`make demo` prints the same tables on every run, whenever it runs.

The demo pins the sandbox's business clock to ``shop_clock(wall)``. Its core (sandbox,
example-DAG runs with the demo's confs, truth and report) runs here twice in one work
directory for two wall times on different days, on either side of the 15:00 publication,
and the printed tables must be exact, and identical but for the live-room report, whose room ids
and audiences the platform derives from the dates the rooms went on air. The example DAGs run in-process with
``dag.test`` instead of ``airflow dags test`` subprocesses, which only saves start-up time:
the DAGs, their confs, the truth and the report are the demo's own.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_douyin.hooks.open_platform import client_token_variable_key
from airflow_provider_douyin.hooks.token_store import token_variable_key
from airflow_provider_douyin.sandbox import SANDBOX_CLIENT_KEY, SandboxServer
from airflow_provider_douyin.streams.catalog import T_PLUS_1_AT_15
from airflow_provider_douyin.streams.windows import SHANGHAI, publication_horizon
from tests.airflow.example_dag_runs import DAGS_FOLDER, delete_watermarks, parse_example_dags, register
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

ORDERS, DAYS, SEED = 1200, 30, 7
LIVE_HEADER = "Live rooms, top 5 by GMV"


def load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("douyin_demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()


@pytest.mark.parametrize("hours_back", range(0, 48, 5))
def test_the_pinned_clock_is_noon_before_the_horizon_the_dags_use(hours_back: int) -> None:
    wall = datetime.now(timezone.utc) - timedelta(hours=hours_back)
    clock = demo.shop_clock(wall)
    assert clock.astimezone(SHANGHAI).time().isoformat() == "12:00:00"
    assert timedelta(hours=36) < wall - clock <= timedelta(hours=60)
    # Everything the shop holds is final by the DAGs' own (wall-clock) publication rule.
    assert publication_horizon(T_PLUS_1_AT_15, wall) > clock + timedelta(hours=3)


@pytest.fixture
def demo_core(monkeypatch, airflow_db, fresh_token_variable, tmp_path):
    """Run the demo's core for a given wall time in one work directory; returns the printed tables."""
    from airflow.models.variable import Variable as VariableModel

    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    bag = parse_example_dags()
    register(bag)
    delete_watermarks(bag.dags.values())
    home, warehouse, logs = tmp_path / "airflow", tmp_path / "douyin.db", tmp_path / "logs"

    def run(wall: datetime) -> str:
        demo.reset(home, warehouse, logs)  # what the demo drops before each run
        VariableModel.delete(fresh_token_variable)  # the demo's fresh metadata DB has no token
        VariableModel.delete(client_token_variable_key(SANDBOX_CLIENT_KEY))
        VariableModel.delete(token_variable_key(demo.OPEN_CONN_ID))  # nor the user's authorization
        delete_watermarks(bag.dags.values())  # nor watermarks
        clock = demo.shop_clock(wall)
        with SandboxServer(demo.sandbox_config(ORDERS, DAYS, SEED, clock)) as server:
            env = demo.airflow_env(home, server.url, warehouse)
            for name in (
                "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT",
                "AIRFLOW_CONN_DOUYIN_OPEN_DEFAULT",
                "AIRFLOW_CONN_DOUYIN_WAREHOUSE",
            ):
                monkeypatch.setenv(name, env[name])
            # The demo's one-time user authorization (`douyin-oauth exchange`), stored in this
            # test's metadata DB: the live DAG reads the broadcasting account's rooms with it.
            assert demo.authorize_user(dict(os.environ), server)
            for dag_id, conf in demo.example_runs(clock, DAYS):
                dag_run = parse_example_dags().get_dag(dag_id).test(run_conf=conf)
                assert str(dag_run.state) == "success", dag_id
            tables, exact = demo.report(warehouse, demo.truth_counts(server), clock)
        assert exact, tables
        return tables

    yield run
    delete_watermarks(bag.dags.values())
    VariableModel.delete(token_variable_key(demo.OPEN_CONN_ID))


def test_a_rerun_on_another_day_and_hour_prints_the_same_tables(demo_core) -> None:
    now = datetime.now(SHANGHAI)
    # The other run: yesterday, on the other side of 15:00 (the publication hour) from now.
    other = (now - timedelta(days=1)).replace(hour=10 if now.hour >= 15 else 16, minute=30)
    assert demo.shop_clock(other) < demo.shop_clock(now)

    first = demo_core(now)
    again = demo_core(other)

    # The live-room report names rooms by id and shows their audience; the platform derives both from
    # the date a room went on air, so only that section follows the day the sandbox is pinned to.
    shop, live = first.split(LIVE_HEADER)
    assert shop == again.split(LIVE_HEADER)[0], f"{first}\n----\n{again}"
    assert "douyin_settlements" in first and "day  -1" in first
    assert "douyin_life_orders" in first and "douyin_live_room_stats" in first
    for tables in (first, again):
        rooms = tables.split(LIVE_HEADER)[1].strip().splitlines()[2:]  # after the title and header
        assert len(rooms) == 5, tables  # the top 5 rooms by GMV, own rooms with viewers and conversion
        assert any(room.split()[-2].isdigit() and room.endswith("%") for room in rooms), tables
    print(f"\n{first}")
