"""The sandbox's Douyin account data: live rooms, videos, daily series and fans, behind a user token.

Called with plain HTTP from the protocol facts alone (``open_testkit``), independent of the client.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_douyin.sandbox import SandboxServer
from airflow_provider_douyin.sandbox.config import SandboxConfig
from airflow_provider_douyin.sandbox.live_sessions import C_BIZ_SELF, sessions_between
from tests.sandbox.open_testkit import OpenCaller

SHANGHAI = timezone(timedelta(hours=8))
OPEN_ID = "_000sandbox0001"
SEED = 11
# 21:10 Shanghai: the evening room (19:00-19:30 to 23:00-23:30) is on air.
NOW = datetime(2026, 11, 20, 21, 10, tzinfo=SHANGHAI).timestamp()
ROOM_METRICS = {
    "base": {"live_start_ts", "live_end_ts", "live_duration_td", "live_follow_ucnt_td"},
    "audience": {
        "live_watch_cnt_td",
        "live_watch_ucnt_td",
        "live_watch_duration_td",
        "live_fans_watch_ucnt_td",
        "live_fans_watch_duration_td",
        "per_minute_watch_ucnt_td_max",
    },
    "interactive": {"live_comment_cnt_td", "live_comment_ucnt_td", "live_like_cnt_td", "live_share_cnt_td"},
}


@pytest.fixture
def server() -> Any:
    with SandboxServer(SandboxConfig.from_kwargs(orders=20, seed=SEED, now=NOW, life_orders=20)) as sandbox:
        yield sandbox


def user_caller(server: SandboxServer, scope: str = "user_info,data.external.item") -> OpenCaller:
    caller = OpenCaller(server)
    code = server.issue_open_auth_code(scope=scope)
    reply = caller.post("/oauth/access_token/", {
        "client_key": server.client_key, "client_secret": server.client_secret, "code": code,
        "grant_type": "authorization_code",
    }, form=True)  # fmt: skip
    assert reply["data"]["open_id"] == OPEN_ID
    caller.token = reply["data"]["access_token"]
    return caller


def room_reply(caller: OpenCaller, path: str, **params: Any) -> dict[str, Any]:
    envelope = caller.get(path, {"open_id": OPEN_ID, **params})
    assert set(envelope) == {"err_no", "err_msg", "log_id", "data"} and envelope["log_id"], envelope
    return envelope


def test_room_ids_are_the_shops_own_sessions_and_figures_become_final(server: SandboxServer) -> None:
    caller = user_caller(server)
    start = int(NOW) - 3 * 86400
    envelope = room_reply(caller, "/room/data/room_id/get/", start_time=start, end_time=int(NOW))
    own = [s for s in sessions_between(SEED, 1, start, int(NOW)) if s.c_biz == C_BIZ_SELF]
    assert envelope["err_no"] == 0 and envelope["data"]["room_ids"] == [str(s.room_id) for s in own]
    assert len(own) == 3  # three evenings, tonight's on air
    tonight = envelope["data"]["room_ids"][-1]
    replies = {}
    for family, names in ROOM_METRICS.items():
        data = room_reply(caller, f"/room/data/{family}/get/", room_id=tonight, live_id=1)["data"]
        assert {s["name"] for s in data["stats"]} == names
        assert {s["timeslot"] for s in data["stats"]} == {"2026-11-20"}
        assert {(s["name"], s["time_slot"], s["is_ready"]) for s in data["data_ready_status"]} == {
            (name, "2026-11-20", False) for name in names
        }
        replies[family] = {s["name"]: s["value"] for s in data["stats"]}
    assert 0 < replies["audience"]["live_watch_ucnt_td"] <= replies["audience"]["live_watch_cnt_td"]

    server.set_clock(now=datetime(2026, 11, 21, 1, 45, tzinfo=SHANGHAI).timestamp())
    data = room_reply(caller, "/room/data/audience/get/", room_id=tonight, live_id=1)["data"]
    assert all(s["is_ready"] for s in data["data_ready_status"])
    final = {s["name"]: s["value"] for s in data["stats"]}
    assert final["live_watch_ucnt_td"] > replies["audience"]["live_watch_ucnt_td"]
    truth = {r["room_id"]: r for r in server.open_truth("live_room_stats", open_id=OPEN_ID)}
    assert (
        truth[tonight]["is_final"] is True
        and truth[tonight]["live_watch_ucnt_td"] == final["live_watch_ucnt_td"]
    )


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/room/data/base/get/", {"room_id": "7400000000000000001", "live_id": 1}, 2100005),
        ("/room/data/room_id/get/", {"start_time": 10, "end_time": 5}, 2100005),
        ("/data/external/user/fans/", {"date_type": 8}, 2100005),
        ("/api/douyin/v1/video/video_list/", {"cursor": 0, "count": 21}, 2100005),
    ],
)
def test_bad_parameters_are_refused_with_2100005(
    server: SandboxServer, path: str, params: dict[str, Any], code: int
) -> None:
    caller = user_caller(server)
    envelope = caller.get(path, {"open_id": OPEN_ID, **params})
    found = envelope.get("err_no", envelope.get("data", {}).get("error_code"))
    assert found == code, envelope


def test_only_the_authorized_users_token_and_scope_are_accepted(server: SandboxServer) -> None:
    app = OpenCaller(server)
    app.login()  # a client token is not a user's authorization
    envelope = app.get("/room/data/room_id/get/", {"open_id": OPEN_ID, "start_time": 0, "end_time": 10})
    assert envelope["err_no"] in (2190002, 28001003) and envelope["log_id"]
    user = user_caller(server, scope="user_info")
    other = user.get("/api/douyin/v1/user/fans_data/", {"open_id": "_000sandbox0002"})
    assert other["data"]["error_code"] == 2100005  # another account's data
    video = user.get("/api/douyin/v1/video/video_list/", {"open_id": OPEN_ID, "cursor": 0, "count": 1})
    item_id = video["data"]["list"][0]["item_id"]
    refused = user.get("/data/external/item/play/", {"open_id": OPEN_ID, "item_id": item_id, "date_type": 7})
    assert (refused["data"]["error_code"], refused["extra"]["error_code"]) == (28001012, 28001012)


def test_videos_page_by_cursor_and_only_recent_videos_have_daily_data(server: SandboxServer) -> None:
    caller = user_caller(server)
    videos, cursor = [], 0
    for _ in range(20):
        data = caller.data(
            "/api/douyin/v1/video/video_list/", {"open_id": OPEN_ID, "cursor": cursor, "count": 7}
        )
        videos += data["list"]
        if not data["has_more"]:
            break
        cursor = data["cursor"]
    truth = server.open_truth("videos", open_id=OPEN_ID)
    assert [v["item_id"] for v in videos] == [t["item_id"] for t in truth] and len(videos) == 40
    assert any("+" in v["item_id"] and "/" in v["item_id"] for v in videos)  # must be URL-encoded
    now = server.clock()
    old = [v for v in videos if v["create_time"] < now - 30 * 86400]
    recent = [v for v in videos if now - 25 * 86400 < v["create_time"] < now - 2 * 86400]
    assert old and recent
    for video, expect_rows in ((old[0], False), (recent[0], True)):
        params = {"open_id": OPEN_ID, "item_id": video["item_id"], "date_type": 30}
        rows = caller.data("/data/external/item/like/", params)["result_list"]
        assert bool(rows) is expect_rows
    daily = {(r["item_id"], r["date"]): r["like"] for r in server.open_truth("video_daily", open_id=OPEN_ID)}
    assert {(recent[0]["item_id"], r["date"]): r["like"] for r in rows}.items() <= daily.items()
