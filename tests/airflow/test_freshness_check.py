"""The freshness alert fails, naming the stream or connection, when data or an authorization ages out."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_douyin.client.open_tokens import UserTokenChain
from airflow_provider_douyin.client.tokens import TokenPair
from airflow_provider_douyin.hooks.token_store import token_variable_key
from airflow_provider_douyin.operators.freshness import DouyinFreshnessCheckOperator
from airflow_provider_douyin.streams.windows import Window
from airflow_provider_douyin.transfers.watermarks import VariableWatermark
from tests.airflow.test_watermark_store import FakeVariables

TARGET = "douyin_warehouse.douyin_"
DAY = 86400


@pytest.fixture
def variables(monkeypatch) -> FakeVariables:
    """Both the transfers' watermark store and the check read these Variables."""
    fake = FakeVariables()
    monkeypatch.setattr("airflow_provider_douyin.transfers.watermarks.Variable", fake)
    monkeypatch.setattr("airflow_provider_douyin.operators.freshness.Variable", fake)
    return fake


def landed(conn_id: str, stream: str, hours_ago: float) -> datetime:
    """Record a landed day ending ``hours_ago``, as a transfer does; return the watermark."""
    end = int(time.time() - hours_ago * 3600)
    VariableWatermark(conn_id, stream, TARGET).record(Window(end - DAY, end))
    return datetime.fromtimestamp(end, timezone.utc)


def check(**kwargs) -> DouyinFreshnessCheckOperator:
    kwargs.setdefault("streams", {"douyin_shop_default": ["orders", "settlements"]})
    return DouyinFreshnessCheckOperator(task_id="check_freshness", target=TARGET, **kwargs)


def shop_pair(refresh_days_left: float) -> str:
    now = time.time()
    return TokenPair(
        access_token="act." + "a" * 40,
        refresh_token="rft." + "b" * 40,
        access_expires_at=now + DAY,
        refresh_expires_at=now + refresh_days_left * DAY,
        obtained_at=now - 6 * DAY,
        shop_id="1000001",
    ).to_json()


def test_fresh_streams_pass_and_report_their_watermarks(variables):
    orders = landed("douyin_shop_default", "orders", hours_ago=1)
    settlements = landed("douyin_shop_default", "settlements", hours_ago=30)

    report = check(max_age_per_stream={"settlements": timedelta(hours=52)}).execute(context={})

    assert [(s["stream"], s["watermark"]) for s in report["streams"]] == [
        ("orders", orders.isoformat()),
        ("settlements", settlements.isoformat()),
    ]


def test_a_stale_stream_fails_naming_the_stream_and_connection(variables):
    landed("douyin_shop_default", "orders", hours_ago=1)
    stale = landed("douyin_shop_default", "settlements", hours_ago=30)

    with pytest.raises(AirflowFailException) as failure:
        check(max_age=timedelta(hours=6)).execute(context={})

    message = str(failure.value)
    # 30 hours, and the second or two the test took
    assert re.search(
        r"stream 'settlements' of connection 'douyin_shop_default' is 1 day, 6:00:0\d behind", message
    )
    assert stale.isoformat() in message and "6:00:00 allowed" in message
    assert "'orders'" not in message


def test_a_stream_landed_into_another_target_is_not_this_targets_freshness(variables):
    end = int(time.time() - 3600)
    VariableWatermark("douyin_shop_default", "orders", "other_db.douyin_").record(Window(end - DAY, end))

    report = check(streams={"douyin_shop_default": ["orders"]}).execute(context={})

    assert report["streams"] == [{"conn_id": "douyin_shop_default", "stream": "orders", "watermark": None}]


def test_a_refresh_chain_with_too_few_days_left_fails_naming_the_connection(variables):
    variables.set(token_variable_key("douyin_shop_default"), shop_pair(refresh_days_left=2))
    variables.set(token_variable_key("douyin_shop_other"), shop_pair(refresh_days_left=10))

    with pytest.raises(
        AirflowFailException, match=r"refresh chain of connection 'douyin_shop_default' ends at .*"
    ):
        check(
            streams={}, token_conn_ids=["douyin_shop_default", "douyin_shop_other"], min_chain_days=3
        ).execute(context={})
    report = check(streams={}, token_conn_ids=["douyin_shop_other"], min_chain_days=3).execute(context={})
    assert 9.9 < report["connections"][0]["chain_days_left"] <= 10


def test_an_open_platform_chain_counts_its_renewals_left(variables):
    now = time.time()
    chain = UserTokenChain(
        access_token="act." + "c" * 40,
        refresh_token="rft." + "d" * 40,
        access_expires_at=now + DAY,
        refresh_expires_at=now + 2 * DAY,  # the refresh token itself ends in 2 days...
        obtained_at=now - DAY,
        refresh_obtained_at=now - 28 * DAY,  # ...and each of the 2 renewals left adds 30 days
        renewals=3,
    )
    variables.set(token_variable_key("douyin_open_default"), chain.to_json())

    report = check(streams={}, token_conn_ids=["douyin_open_default"], min_chain_days=30).execute(context={})

    assert report["connections"][0]["chain_days_left"] == pytest.approx(62, abs=0.01)


def test_streams_and_connections_with_nothing_stored_yet_do_not_fail(variables):
    report = check(token_conn_ids=["douyin_shop_default"]).execute(context={})
    assert [s["watermark"] for s in report["streams"]] == [None, None]
    assert report["connections"] == [{"conn_id": "douyin_shop_default", "chain_ends_at": None}]
