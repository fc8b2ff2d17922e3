"""A Douyin account's own data lands exactly: live-room viewer figures, videos, daily series, fans.

Each stream runs through ``DouyinToSqlOperator`` with a ``douyin_open`` connection holding a user's
authorization, as a DAG task would, into real databases. The sandbox's business clock starts during
the account's evening broadcast, so the first run sees that room's figures not ready; the clock then
moves past the point they become final and the next run must land the final figures.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from airflow_provider_douyin.client.errors import DouyinConfigError, DouyinRequestError
from airflow_provider_douyin.operators.transfer import DouyinToSqlOperator
from tests.airflow.test_life_streams import token_stores, variables  # noqa: F401  (fixtures)

CONN_ID = "douyin_open_creator"
SQL_CONN = {"sqlite": "douyin_test_sqlite", "postgres": "douyin_test_postgres", "mysql": "douyin_test_mysql"}
SHANGHAI = timezone(timedelta(hours=8))
OPEN_ID = "_000sandbox0001"
ROOM_METRICS = (
    "live_start_ts",
    "live_end_ts",
    "live_duration_td",
    "live_follow_ucnt_td",
    "live_watch_cnt_td",
    "live_watch_ucnt_td",
    "live_watch_duration_td",
    "live_fans_watch_ucnt_td",
    "live_fans_watch_duration_td",
    "per_minute_watch_ucnt_td_max",
    "live_comment_cnt_td",
    "live_comment_ucnt_td",
    "live_like_cnt_td",
    "live_share_cnt_td",
)
# What each landed table must equal: its key and its value columns.
CHECKED = {
    "live_room_stats": (("room_id",), (*ROOM_METRICS, "is_final")),
    "videos": (
        ("item_id",),
        ("title", "create_time", "play_count", "digg_count", "comment_count", "share_count"),
    ),
    "video_daily": (("item_id", "date"), ("like", "comment", "play", "share")),
    "account_daily": (
        ("date",),
        (
            "new_issue",
            "new_play",
            "total_issue",
            "new_fans",
            "total_fans",
            "new_like",
            "new_comment",
            "new_share",
            "profile_uv",
        ),
    ),  # fmt: skip
    "fans_profile": ((), ("all_fans_num", "gender_distributions", "age_distributions", "flow_contributions")),
}
WINDOWED = ("live_room_stats",)


def evening_start() -> float:
    """20:45 Asia/Shanghai on a day whose next 01:45 has passed: the account's evening room is on air
    (it starts 19:00-19:30) and its figures, which move on the hour, stay put for a quarter hour."""
    now = datetime.now(SHANGHAI)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1 if now.hour >= 3 else 2)
    return (day + timedelta(hours=20, minutes=45)).timestamp()


def authorize(server: Any, scope: str = "user_info,data.external.item") -> str:
    """What `douyin-oauth exchange` does: redeem a code for the user's tokens; returns the refresh token."""
    code = server.issue_open_auth_code(scope=scope)
    reply = requests.post(
        server.url + "/oauth/access_token/",
        data={"client_key": server.client_key, "client_secret": server.client_secret, "code": code,
              "grant_type": "authorization_code"},
        timeout=10,
    ).json()  # fmt: skip
    assert reply["data"]["open_id"] == OPEN_ID, reply
    return reply["data"]["refresh_token"]


def creator_sandbox(factory: Any, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Any:
    server = factory(orders=20, life_orders=20, now=evening_start())
    connection = {
        "conn_type": "douyin_open",
        "host": server.url,
        "login": server.client_key,
        "password": server.client_secret,
        "extra": {"open_id": OPEN_ID, "refresh_token": authorize(server), "qps": 200, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    return server


def sync(server: Any, stream: str, sql_conn_id: str) -> dict[str, Any]:
    """One run; the room window is the sandbox's whole history (31 days), read in day-sized requests."""
    windowed = {}
    if stream in WINDOWED:
        end = datetime.fromtimestamp(server.clock() + 1, timezone.utc)
        windowed = {"window_start": (end - timedelta(days=31)).isoformat(), "window_end": end.isoformat()}
    operator = DouyinToSqlOperator(
        task_id=f"sync_{stream}", stream=stream, douyin_conn_id=CONN_ID, sql_conn_id=sql_conn_id,
        safety_lag=0, lookback=0, **windowed,
    )  # fmt: skip
    return operator.execute(context={})


def canonical(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value[:1] in "[{":
        return canonical(json.loads(value))
    return str(value)


def landed(hook: Any, table: str) -> dict[tuple, tuple]:
    key, values = CHECKED[table]
    q = "`{}`" if "mysql" in type(hook).__name__.lower() else '"{}"'
    columns = ", ".join(q.format(c) for c in (*key, *values))
    return {
        tuple(canonical(v) for v in row[: len(key)]): tuple(canonical(v) for v in row[len(key) :])
        for row in hook.get_records(f"SELECT {columns} FROM douyin_{table}")
    }


def truth(server: Any, table: str) -> dict[tuple, tuple]:
    key, values = CHECKED[table]
    rows = server.open_truth(table, open_id=OPEN_ID)
    return {tuple(canonical(r[k]) for k in key): tuple(canonical(r[v]) for v in values) for r in rows}


def assert_exact(server: Any, hook: Any, table: str) -> dict[tuple, tuple]:
    expected, got = truth(server, table), landed(hook, table)
    assert expected, f"the sandbox has no {table}: the test would prove nothing"
    assert got == expected, (table, sorted(set(expected.items()) ^ set(got.items()))[:4])
    return got


@pytest.mark.parametrize("db", ["sqlite", "postgres", "mysql"])
def test_creator_streams_land_the_truth_and_not_ready_rooms_become_final(
    db: str, request: pytest.FixtureRequest, douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch,
    variables: Any, token_stores: dict,  # noqa: F811
) -> None:  # fmt: skip
    hook = request.getfixturevalue(f"{db}_hook")
    server = creator_sandbox(douyin_sandbox_factory, monkeypatch)
    for stream in CHECKED:
        payload = sync(server, stream, SQL_CONN[db])
        assert payload["rows"][stream] > 0, payload
        if stream != "fans_profile":
            assert_exact(server, hook, stream)

    first = landed(hook, "live_room_stats")
    on_air = [key for key, values in first.items() if values[-1] == "0"]
    assert len(on_air) == 1, "the evening room must be on air and not final at the first run"
    assert len(first) >= 9 and all(values[-1] == "1" for key, values in first.items() if key not in on_air)
    pending = hook.get_first(
        f"SELECT not_ready_metrics FROM douyin_live_room_stats WHERE room_id = {on_air[0][0]}"
    )
    assert "live_watch_ucnt_td" in pending[0].split(",")

    # The fan profile is one row per day (the platform's Shanghai date, from its clock: a day behind this
    # machine's here), equal to the account's profile.
    (expected_fans,) = truth(server, "fans_profile").values()
    assert landed(hook, "fans_profile") == {(): expected_fans}
    platform_day = datetime.fromtimestamp(server.clock(), SHANGHAI).strftime("%Y-%m-%d")
    assert hook.get_first("SELECT date FROM douyin_fans_profile")[0] == platform_day

    server.set_clock(advance_s=5 * 3600)  # 01:45: two hours after the room ended at 23:30 at the latest
    sync(server, "live_room_stats", SQL_CONN[db])
    second = assert_exact(server, hook, "live_room_stats")
    assert second[on_air[0]][-1] == "1"
    watch_uv = ROOM_METRICS.index("live_watch_ucnt_td")
    assert int(second[on_air[0]][watch_uv]) > int(first[on_air[0]][watch_uv]), "final figures grew"
    assert {k: v for k, v in second.items() if k not in on_air} == {
        k: v for k, v in first.items() if k not in on_air
    }


def test_item_data_without_its_scope_names_the_scope_and_the_log_id(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: Any, token_stores: dict,  # noqa: F811
    sqlite_hook: Any,
) -> None:  # fmt: skip
    server = creator_sandbox(douyin_sandbox_factory, monkeypatch)
    connection = json.loads(os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"])
    connection["extra"]["refresh_token"] = authorize(server, scope="user_info")
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    token_stores.clear()
    with pytest.raises(DouyinRequestError) as caught:
        sync(server, "video_daily", SQL_CONN["sqlite"])
    assert caught.value.code == 28001012 and caught.value.log_id
    assert "data.external.item" in str(caught.value)


def test_a_creator_stream_without_open_id_says_which_extra_to_set(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: Any, token_stores: dict,  # noqa: F811
    sqlite_hook: Any,
) -> None:  # fmt: skip
    server = creator_sandbox(douyin_sandbox_factory, monkeypatch, open_id="")
    with pytest.raises(DouyinConfigError, match="needs extra 'open_id'"):
        sync(server, "videos", SQL_CONN["sqlite"])
    assert set(server.open_stats()["requests_by_path"]) == {"/oauth/access_token/"}  # the test's own


def test_every_fault_at_once_still_lands_the_truth(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: Any, token_stores: dict,  # noqa: F811
    sqlite_hook: Any,
) -> None:  # fmt: skip
    server = creator_sandbox(douyin_sandbox_factory, monkeypatch)
    server.set_faults(latency_ms=2, throttle_rate=0.05, busy_rate=0.05, http502_rate=0.03, reset_rate=0.02)
    for stream in CHECKED:
        sync(server, stream, SQL_CONN["sqlite"])
    faults = server.open_stats()["faults_injected"]
    assert sum(faults.values()) >= 5 and len(faults) >= 3, faults
    for stream in CHECKED:
        if stream != "fans_profile":
            assert_exact(server, sqlite_hook, stream)
