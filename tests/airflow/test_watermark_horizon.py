"""Settlements are read up to their publication horizon, and only that part is recorded done."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_douyin.operators.transfer import DouyinToSqlOperator
from airflow_provider_douyin.streams.catalog import T_PLUS_1_AT_15
from airflow_provider_douyin.streams.windows import Window, publication_horizon
from airflow_provider_douyin.transfers.watermarks import load_state
from tests.airflow.conftest import SHOP_ID
from tests.airflow.test_watermark_store import FakeVariables


def test_an_explicit_window_past_the_horizon_is_recorded_done_only_up_to_it(
    shop, in_memory_tokens, sqlite_hook, monkeypatch
):
    variables = FakeVariables()
    monkeypatch.setattr("airflow_provider_douyin.transfers.watermarks.Variable", variables)
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(days=20), now + timedelta(days=1)
    operator = DouyinToSqlOperator(
        task_id="settlements",
        stream="settlements",
        sql_conn_id="douyin_test_sqlite",
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        lookback=0,
    )
    before = publication_horizon(T_PLUS_1_AT_15, datetime.now(timezone.utc))
    payload = operator.execute(context={})  # no logical date, no data interval: explicit bounds only
    after = publication_horizon(T_PLUS_1_AT_15, datetime.now(timezone.utc))

    # (The horizon moves at 15:00 Shanghai; a run straddling it may have seen either.)
    horizon = next(h for h in (before, after) if payload["window_end"] == h.isoformat())
    (state,) = (load_state(v) for v in variables.values.values())
    assert state.done == (Window.from_datetimes(start, horizon),)
    assert payload["watermark"] == horizon.isoformat()

    truth = {
        (r["request_no"], r["order_id"])
        for r in shop.truth("settlements", shop_id=SHOP_ID)
        if r["settle_time"] >= start.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
    }
    landed = set(sqlite_hook.get_records("SELECT request_no, order_id FROM douyin_settlements"))
    assert landed == truth and truth
