"""The live-room report and the example DAG ``douyin_live_daily`` that writes it.

The sales side (``douyin_live_rooms``) is built from the shop's sku orders by the orders landing.
The report test writes its rows itself, with the room ids the sandbox shop broadcast, so the join,
its conversion figures and its NULLs are checked on every dialect with known figures; the DAG test
reads the rows the landing derived.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_douyin.hooks.open_platform import client_token_variable_key
from airflow_provider_douyin.hooks.token_store import token_variable_key
from airflow_provider_douyin.landing.live_room_report import REPORT_COLUMNS, live_room_report_sql
from airflow_provider_douyin.landing.live_rooms import LIVE_ROOMS_TABLE
from airflow_provider_douyin.sandbox import SANDBOX_CLIENT_KEY
from tests.airflow.example_dag_runs import DAGS_FOLDER, delete_watermarks, parse_example_dags, register
from tests.airflow.test_creator_streams import (
    OPEN_ID,
    SQL_CONN,
    authorize,
    creator_sandbox,
    evening_start,
    sync,
)
from tests.airflow.test_life_streams import token_stores, variables  # noqa: F401  (fixtures)

LIVE_ROOMS_DDL = (
    "CREATE TABLE douyin_live_rooms (shop_id BIGINT, room_id BIGINT, author_id BIGINT, "
    "author_name VARCHAR(255), "
    "first_pay_time BIGINT, last_pay_time BIGINT, gmv BIGINT, orders BIGINT, sku_orders BIGINT, "
    "items BIGINT, "
    "buyers BIGINT, refund_amount BIGINT, alliance_gmv BIGINT, alliance_sku_orders BIGINT)"
)
SALES_COLUMNS = tuple(column.name for column in LIVE_ROOMS_TABLE.columns)
"""The columns of ``douyin_live_rooms`` in the order ``sales_rows`` writes them."""
ALLIANCE_ROOM = 7_499_999_999_999_999_999
"""A 达人's room: it sold the shop's goods, but its viewer figures belong to another account."""


def sales_rows(room_ids: list[int]) -> list[tuple]:
    """Sales of the first two of the account's rooms and of one 达人 room; the rest sold nothing."""
    rows = [
        (1000001, room_ids[0], 60000000001, "官方直播间", 1_000, 2_000, 123_456, 7, 9, 11, 5, 0, 0, 0),
        (1000001, room_ids[1], 60000000001, "官方直播间", 3_000, 4_000, 50_000, 2, 2, 2, 2, 1_000, 0, 0),
        (1000001, ALLIANCE_ROOM, 90000000001, "阿杰好物", 5_000, 6_000, 80_000, 4, 4, 5, 4, 0, 80_000, 4),
    ]
    return rows


def write_sales(hook: Any, rows: list[tuple]) -> None:
    hook.run(LIVE_ROOMS_DDL)
    hook.insert_rows("douyin_live_rooms", rows)


def report(hook: Any) -> dict[int, dict[str, Any]]:
    rows = hook.get_records(f"SELECT {', '.join(REPORT_COLUMNS)} FROM douyin_live_room_report")
    by_room = {int(row[1]): dict(zip(REPORT_COLUMNS, row, strict=True)) for row in rows}
    assert len(by_room) == len(rows), "a room appears twice"
    return by_room


def check_report(
    got: dict[int, dict[str, Any]], stats: dict[int, tuple[int, int]], sales: list[tuple]
) -> None:
    """Every sold room and every broadcast room once; conversion from the landed watch users."""
    assert set(got) == set(stats) | {row[1] for row in sales}
    for shop_id, room_id, _, _, _, _, gmv, _, _, _, buyers, *_ in sales:
        row = got[room_id]
        assert (int(row["shop_id"]), int(row["gmv"]), int(row["buyers"])) == (shop_id, gmv, buyers)
        if room_id not in stats:
            assert (
                row["watch_users"] is None
                and row["buyer_conversion"] is None
                and row["viewers_final"] is None
            )
            assert row["gmv_per_watch_user"] is None
            continue
        watch_users, final = stats[room_id]
        assert (int(row["watch_users"]), int(row["viewers_final"])) == (watch_users, final)
        assert float(row["buyer_conversion"]) == pytest.approx(buyers / watch_users)
        assert float(row["gmv_per_watch_user"]) == pytest.approx(gmv / watch_users)
    for room_id in set(stats) - {row[1] for row in sales}:
        row = got[room_id]
        assert row["shop_id"] is None and int(row["gmv"]) == 0 and float(row["buyer_conversion"]) == 0.0


def landed_stats(hook: Any) -> dict[int, tuple[int, int]]:
    rows = hook.get_records("SELECT room_id, live_watch_ucnt_td, is_final FROM douyin_live_room_stats")
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


@pytest.mark.parametrize("db", ["sqlite", "postgres", "mysql"])
def test_the_report_puts_sales_beside_viewers_and_a_rerun_changes_nothing(
    db: str, request: pytest.FixtureRequest, douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch,
    variables: Any, token_stores: dict,  # noqa: F811
) -> None:  # fmt: skip
    hook = request.getfixturevalue(f"{db}_hook")
    server = creator_sandbox(douyin_sandbox_factory, monkeypatch)
    sync(server, "live_room_stats", SQL_CONN[db])
    stats = landed_stats(hook)
    rooms = sorted(stats, key=lambda room: -stats[room][0])
    sales = sales_rows(rooms)
    write_sales(hook, sales)
    for _ in range(2):  # idempotent: the second build leaves the same rows
        hook.run(live_room_report_sql(), autocommit=False)
        check_report(report(hook), stats, sales)
    assert 0 in {final for _, final in stats.values()}, "the on-air room must show viewers_final 0"


def test_douyin_live_daily_is_daily_in_shanghai_with_typed_window_params(airflow_db, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    dag = parse_example_dags("douyin_live_daily.py").get_dag("douyin_live_daily")
    import pendulum

    from tests.airflow.test_settlements_schedule import scheduled_intervals

    first_day = pendulum.now("Asia/Shanghai").start_of("day").subtract(days=7)
    intervals = scheduled_intervals(dag, first_day, 3)  # real, tiling, daily intervals ending 00:30 Shanghai
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:], strict=False))
    for interval in intervals:
        assert interval.end - interval.start == timedelta(days=1)
        assert interval.end.in_timezone("Asia/Shanghai").strftime("%H:%M") == "00:30"
    for name in ("window_start", "window_end"):
        assert dag.params.get_param(name).schema["format"] == "date-time"
    lands = {t.task_id: t for t in dag.tasks if t.task_id.startswith("land_")}
    account = {"land_videos", "land_video_daily", "land_account_daily", "land_fans_profile"}
    assert set(lands) == {"land_orders", "land_after_sales", "land_live_room_stats", *account}
    assert all(lands[task].douyin_conn_id == "douyin_open_default" for task in account)
    assert lands["land_live_room_stats"].douyin_conn_id == "douyin_open_default"
    assert lands["land_orders"].douyin_conn_id == "douyin_shop_default"
    assert lands["land_live_room_stats"].lookback == timedelta(days=1)
    for task in lands.values():
        assert (
            task.window_start == "{{ params.window_start }}" and task.window_end == "{{ params.window_end }}"
        )
    assert dag.get_task("live_room_report").upstream_task_ids == {
        "land_orders",
        "land_after_sales",
        "land_live_room_stats",
    }


def test_douyin_live_daily_lands_orders_and_rooms_and_writes_the_report(
    airflow_db: Path, douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.models.variable import Variable as VariableModel

    keys = (token_variable_key("douyin_open_default"), token_variable_key("douyin_shop_default"))
    keys += (client_token_variable_key(SANDBOX_CLIENT_KEY),)
    for key in keys:
        VariableModel.delete(key)
    server = douyin_sandbox_factory(orders=3000, life_orders=20, now=evening_start())
    warehouse = tmp_path / "douyin.db"
    connections = {
        "DOUYIN_SHOP_DEFAULT": {
            "conn_type": "douyin_shop", "host": server.url, "login": server.app_key,
            "password": server.app_secret, "extra": {"shop_id": "1000001", "qps": 200},
        },
        "DOUYIN_OPEN_DEFAULT": {
            "conn_type": "douyin_open", "host": server.url, "login": server.client_key,
            "password": server.client_secret,
            "extra": {"open_id": OPEN_ID, "refresh_token": authorize(server), "qps": 200},
        },
        "DOUYIN_WAREHOUSE": {"conn_type": "sqlite", "host": str(warehouse)},
    }  # fmt: skip
    for name, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
    monkeypatch.setenv("DOUYIN_SAFETY_LAG_S", "0")
    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    bag = parse_example_dags("douyin_live_daily.py")
    register(bag)
    dag = bag.get_dag("douyin_live_daily")
    delete_watermarks([dag])
    truth = server.open_truth("live_room_stats", open_id=OPEN_ID)
    room_ids = [int(row["room_id"]) for row in sorted(truth, key=lambda row: -row["live_start_ts"])]
    end = datetime.fromtimestamp(server.clock(), timezone.utc)
    conf = {"window_start": (end - timedelta(days=3)).isoformat(), "window_end": end.isoformat()}
    try:
        dag_run = dag.test(run_conf=conf)
        assert str(dag_run.state) == "success"
        with sqlite3.connect(warehouse) as db:
            orders = db.execute("SELECT COUNT(*) FROM douyin_orders").fetchone()[0]
            stats = {
                r[0]: (r[1], r[2])
                for r in db.execute(
                    "SELECT room_id, live_watch_ucnt_td, is_final FROM douyin_live_room_stats"
                )
            }
            # The sales per room as the orders and after-sales landing derived them.
            sales = db.execute(f"SELECT {', '.join(SALES_COLUMNS)} FROM douyin_live_rooms").fetchall()
            db.row_factory = sqlite3.Row
            got = {r["room_id"]: dict(r) for r in db.execute("SELECT * FROM douyin_live_room_report")}
        assert orders > 0
        with sqlite3.connect(warehouse) as db:
            for table in ("videos", "video_daily", "account_daily", "fans_profile"):
                landed = db.execute(f"SELECT COUNT(*) FROM douyin_{table}").fetchone()[0]
                assert landed == len(server.open_truth(table, open_id=OPEN_ID)) > 0, table
        assert len(stats) in (3, 4) and set(stats) <= set(room_ids)  # rooms that started in the 3 days
        assert {room_ids[0], room_ids[1]} <= set(stats)
        sold = {row[1] for row in sales}
        assert sold & set(stats) and sold - set(stats), "want own rooms beside viewers, and a 达人's room"
        check_report(got, stats, sales)
    finally:
        delete_watermarks([dag])
        for key in keys:
            VariableModel.delete(key)
