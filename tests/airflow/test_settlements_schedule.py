"""The settlements DAG run as the scheduler runs it, day after day, against T+1 publication.

The sandbox's business clock plays the calendar: it starts eight days back, the shop keeps
trading as it moves, and Doudian's rule holds on it (day D's bill appears at D+1 15:00
Asia/Shanghai). Each run of ``dags/douyin_settlements_daily.py`` executes the DAG's own
tasks with their real templates (``dag.test``) for exactly one data interval that the DAG's
timetable yields, started once the sandbox clock has passed that day's publication, with a
failed-then-cleared run, a run out of order and a rerun among them. The wall clock stays
days ahead of the sandbox, so the client's own publication horizon never trims a window:
only the schedule decides what is read.

The same harness also runs the design this DAG replaced (a ``[D 16:00, D+1 16:00)`` window
by settle time with no lookback, run at D+1 16:00) into a second warehouse, and that one
must lose rows: the test would catch the schedule bug coming back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_douyin.sandbox import SandboxServer
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection
from tests.airflow.example_dag_runs import DAGS_FOLDER, delete_watermarks, parse_example_dags, register

pytestmark = pytest.mark.timeout(300)

DAG_ID = "douyin_settlements_daily"
DAG_FILE = f"{DAG_ID}.py"
SHANGHAI = timezone(timedelta(hours=8))
STEP = timedelta(hours=2)


def shanghai(moment: datetime) -> str:
    """The string times Doudian's finance APIs use."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def settlements_dag(monkeypatch, airflow_db, fresh_token_variable) -> Iterator[Any]:
    """The example DAG, registered in the metadata DB, with no watermarks before or after."""
    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    bag = parse_example_dags(DAG_FILE)
    register(bag)
    dag = bag.get_dag(DAG_ID)
    delete_watermarks([dag])
    yield dag
    delete_watermarks([dag])


class Harness:
    """One sandbox shop trading on its business clock, and the DAG run against it."""

    def __init__(self, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        self.sandbox, self.monkeypatch, self.tmp = sandbox, monkeypatch, tmp

    def trade_until(self, moment: datetime) -> None:
        """Move the business clock to ``moment``, the shop creating and advancing orders on the way."""
        target = moment.timestamp()
        while (now := self.sandbox.clock()) < target - 1:  # the clock ticks on by itself too
            self.sandbox.mutate(new_orders=4, updates=30)
            self.sandbox.set_clock(now=min(target, now + STEP.total_seconds()))

    def run(self, interval: Any, warehouse: str, conf: dict[str, str] | None = None) -> str:
        """One DAG run for ``interval`` into ``warehouse``; returns the run's state.

        ``dag.test`` infers a run's data interval from its logical date the way a manual trigger
        does (the interval ending at that time), so the interval's end is passed and the run's
        interval is checked to be exactly the scheduled one.
        """
        path = self.tmp / f"{warehouse}.db"
        self.monkeypatch.setenv(
            "AIRFLOW_CONN_DOUYIN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)})
        )
        run = parse_example_dags(DAG_FILE).get_dag(DAG_ID).test(logical_date=interval.end, run_conf=conf)
        assert (run.data_interval_start, run.data_interval_end) == (interval.start, interval.end)
        return str(run.state)

    def landed(self, warehouse: str, table: str, key: str) -> list[tuple]:
        with sqlite3.connect(self.tmp / f"{warehouse}.db") as db:
            return db.execute(f"SELECT {key} FROM douyin_{table}").fetchall()


def scheduled_intervals(dag: Any, first_day: pendulum.DateTime, count: int) -> list[Any]:
    """Consecutive data intervals exactly as the DAG's timetable hands them to the scheduler."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=first_day, latest=None, catchup=True)
    intervals, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        intervals.append(info.data_interval)
        last = info.data_interval
    return intervals


def test_scheduled_runs_land_every_settled_day_exactly(
    settlements_dag, douyin_sandbox_factory, monkeypatch, tmp_path
):
    first_day = pendulum.now("Asia/Shanghai").start_of("day").subtract(days=7)
    days = scheduled_intervals(settlements_dag, first_day, 5)
    assert all(a.end == b.start for a, b in zip(days, days[1:], strict=False))  # the runs tile the calendar
    assert [d.end - d.start for d in days] == [timedelta(days=1)] * 5

    sandbox = douyin_sandbox_factory(orders=400, seed=11, now=first_day.subtract(hours=14).timestamp())
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(sandbox.url))
    harness = Harness(sandbox, monkeypatch, tmp_path)

    def publication(interval: Any) -> datetime:
        """The bill of the interval's (first) day: 15:00 the next day."""
        return interval.start.in_timezone("Asia/Shanghai").start_of("day") + timedelta(days=1, hours=15)

    def due(interval: Any) -> datetime:
        """A scheduled run exists from its interval's end; its sensor then sleeps until publication."""
        return max(interval.end, publication(interval)) + timedelta(minutes=5)

    def old_design(interval: Any) -> None:
        """At D+1 16:00, settle time over [D 16:00, D+1 16:00), no lookback: what this DAG replaced."""
        harness.trade_until(interval.start + timedelta(days=1, hours=16))
        window = {"window_start": (interval.start + timedelta(hours=16)).isoformat(),
                  "window_end": (interval.end + timedelta(hours=16)).isoformat()}  # fmt: skip
        assert harness.run(interval, "old_design", conf=window) == "success"

    started = time.monotonic()
    d1, d2, d3, d4, d5 = days
    harness.trade_until(due(d1))
    assert harness.run(d1, "warehouse") == "success"
    old_design(d1)

    # D2's run starts an hour before its bill is out and fails (its sensor's deadline, on the
    # wall clock, is long gone); cleared after publication, the same interval lands in full.
    harness.trade_until(publication(d2) - timedelta(hours=1))
    assert harness.run(d2, "warehouse") == "failed"
    assert all(r[0] < shanghai(d2.start) for r in harness.landed("warehouse", "settlements", "settle_time"))
    harness.trade_until(due(d2))
    assert harness.run(d2, "warehouse") == "success"
    old_design(d2)

    # D3's run is missed; D4 runs on time, then D3 runs late, out of order, like a backfill.
    harness.trade_until(due(d3))
    old_design(d3)
    harness.trade_until(due(d4))
    assert harness.run(d4, "warehouse") == "success"
    assert harness.run(d3, "warehouse") == "success"
    old_design(d4)

    harness.trade_until(due(d5))
    assert harness.run(d5, "warehouse") == "success"
    assert harness.run(d1, "warehouse") == "success"  # a rerun days later changes nothing
    elapsed = time.monotonic() - started

    lo, hi = shanghai(d1.start), shanghai(d5.end)
    published = sandbox.truth("settlements", shop_id=SHOP_ID)
    settled = settlement_keys(published, lo, hi)
    flows = [
        r["account_trade_no"]
        for r in sandbox.truth("account_flows", shop_id=SHOP_ID)
        if lo <= r["bill_time"] < hi
    ]
    landed = harness.landed("warehouse", "settlements", "request_no, order_id")
    lost, duplicated = len(set(settled) - set(landed)), len(landed) - len(set(landed))
    assert (lost, duplicated) == (0, 0) and sorted(landed) == sorted(settled)
    per_day = Counter(r["settle_time"][:10] for r in published if lo <= r["settle_time"] < hi)
    assert len(per_day) == 5, per_day  # every day had a bill to lose
    landed_flows = [r[0] for r in harness.landed("warehouse", "account_flows", "account_trade_no")]
    assert sorted(landed_flows) == sorted(flows), "fund flows lost or duplicated"

    # The old design's four windows cover [D1 16:00, D5 16:00) yet never read what settles in a
    # day's first 16 hours: at D+1 16:00 those rows are not published, and the next window starts later.
    covered = settlement_keys(
        published, shanghai(d1.start + timedelta(hours=16)), shanghai(d4.end + timedelta(hours=16))
    )
    old_lost = set(covered) - set(harness.landed("old_design", "settlements", "request_no, order_id"))
    assert len(old_lost) > 0, "the [D 16:00, D+1 16:00) design must lose rows in this harness"
    print(
        f"\n{len(settled)} settlements {dict(sorted(per_day.items()))} and {len(flows)} fund flows landed "
        f"exactly; the old design lost {len(old_lost)} of {len(covered)}; runs took {elapsed:.0f}s"
    )


def settlement_keys(rows: list[dict[str, Any]], lo: str, hi: str) -> list[tuple[str, str]]:
    """Primary keys of the published settlement rows with ``lo <= settle_time < hi``."""
    return [(r["request_no"], r["order_id"]) for r in rows if lo <= r["settle_time"] < hi]
