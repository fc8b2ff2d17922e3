"""Malformed replies of the account-data APIs end in a typed error naming the method and log_id.

Each case serves well-formed replies except one fault, through the real reader and the streams'
pagers; a healthy account must read cleanly first, so each failure is the fault's alone.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from airflow_provider_douyin.client.errors import (
    DouyinAuthError,
    DouyinRequestError,
    DouyinResponseShapeError,
)
from airflow_provider_douyin.client.open_platform import OpenPlatformProtocol
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.open_data import (
    FAN_DISTRIBUTIONS,
    ROOM_METRICS,
    USER_FIELDS,
    shanghai_date,
)
from airflow_provider_douyin.streams.reader import StreamReader
from airflow_provider_douyin.streams.windows import Window

NOW = int(time.time())
DAY = 86400
WINDOW = Window(NOW - 3 * DAY, NOW)
ROOMS = ("7400000000000000001", "7400000000000000002")
VIDEO = {
    "item_id": "@9Vw+a/b==",
    "title": "t",
    "create_time": NOW - 5 * DAY,
    "statistics": {"play_count": "9"},
}
DATES = [shanghai_date(NOW - k * DAY) for k in (3, 2, 1)]


def room_reply(family: str, room_id: str) -> dict[str, Any]:
    start = WINDOW.start + 3600 * (1 + ROOMS.index(room_id))
    values = {"live_start_ts": start, "live_end_ts": start + 3600, "live_duration_td": 3600}
    stats = [
        {"name": n, "timeslot": DATES[0], "value": values.get(n, 100 - k), "value_float": 1.0, "live_id": 1}
        for k, n in enumerate(ROOM_METRICS[family])
    ]
    status = [{"name": n, "time_slot": DATES[0], "is_ready": True} for n in ROOM_METRICS[family]]
    return {"stats": stats, "data_ready_status": status}


def healthy(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if method == "/room/data/room_id/get/":
        return {"room_ids": list(ROOMS) if params["start_time"] == WINDOW.start else []}
    if method.startswith("/room/data/"):
        return room_reply(method.split("/")[3], params["room_id"])
    if method == "/api/douyin/v1/video/video_list/":
        return {"cursor": 1, "has_more": False, "list": [VIDEO]}
    if method.startswith("/data/external/item/"):
        metric = method.split("/")[4]
        return {"result_list": [{"date": d, metric: "3"} for d in DATES]}
    if method.startswith("/data/external/user/"):
        fields = USER_FIELDS[method.split("/")[4]]
        return {"result_list": [{"date": d, **dict.fromkeys(fields, 5)} for d in DATES]}
    if method == "/api/douyin/v1/user/fans_data/":
        distributions = {
            name: [{"item": "1", "value": 6}, {"item": "2", "value": "4"}] for name in FAN_DISTRIBUTIONS
        }
        return {"fans_data": {"all_fans_num": 10, **distributions}}
    raise AssertionError(method)


class Account:
    """Serves ``healthy`` replies, except that ``fault`` may rewrite one method's ``data``."""

    def __init__(self, method: str = "", fault: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.method, self.fault, self.calls = method, fault, 0

    def __call__(self, method: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        self.calls += 1
        data = copy.deepcopy(healthy(method, params or {}))
        if method == self.method and self.fault is not None:
            self.fault(data)
        return ApiResponse(method=method, data=data, log_id=f"LOG{self.calls}", code=0, http_status=200)


def read(stream: str, account: Account) -> dict[str, list[dict[str, Any]]]:
    spec = get_stream(stream)
    rows: dict[str, list[dict[str, Any]]] = {}
    for batch in StreamReader(account, spec, max_workers=2).read(WINDOW if spec.window else None):
        for table, batch_rows in batch.items():
            rows.setdefault(table, []).extend(batch_rows)
    return rows


def test_healthy_replies_pivot_into_one_row_per_room_video_day_and_snapshot() -> None:
    rooms = read("live_room_stats", Account())["live_room_stats"]
    assert sorted(r["room_id"] for r in rooms) == [int(r) for r in ROOMS]
    assert all(
        r["is_final"] == 1 and r["not_ready_metrics"] == "" and r["live_watch_cnt_td"] == 100 for r in rooms
    )
    daily = read("video_daily", Account())["video_daily"]
    assert [(r["date"], r["like"], r["play"]) for r in daily] == [(d, 3, 3) for d in DATES]
    days = read("account_daily", Account())["account_daily"]
    assert [(r["date"], r["total_fans"], r["profile_uv"]) for r in days] == [(d, 5, 5) for d in DATES]
    (fans,) = read("fans_profile", Account())["fans_profile"]
    assert (fans["date"], fans["all_fans_num"]) == (shanghai_date(time.time()), 10)


def _drop_metric(data: dict[str, Any]) -> None:
    data["stats"] = [s for s in data["stats"] if s["name"] != "live_watch_ucnt_td"]


def _more_users_than_views(data: dict[str, Any]) -> None:
    for stat in data["stats"]:
        if stat["name"] == "live_watch_ucnt_td":
            stat["value"] = 10**6


def _ready_as_text(data: dict[str, Any]) -> None:
    data["data_ready_status"][0]["is_ready"] = "true"


def _first(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def fault(data: dict[str, Any]) -> None:
        data["result_list"][0][key] = value

    return fault


CASES = [
    ("live_room_stats", "/room/data/room_id/get/", lambda d: d.pop("room_ids"), "data.room_ids is missing"),
    ("live_room_stats", "/room/data/room_id/get/", lambda d: d["room_ids"].append("abc"), "not a numeric id"),
    (
        "live_room_stats",
        "/room/data/room_id/get/",
        lambda d: d["room_ids"].extend(d["room_ids"][:1]),
        "same room twice",
    ),
    ("live_room_stats", "/room/data/audience/get/", _drop_metric, "lacks metric(s) live_watch_ucnt_td"),
    ("live_room_stats", "/room/data/audience/get/", _more_users_than_views, "live_watch_ucnt_td exceeds"),
    ("live_room_stats", "/room/data/base/get/", _ready_as_text, "is_ready is str, not a boolean"),
    ("live_room_stats", "/room/data/base/get/", lambda d: d.pop("data_ready_status"), "data_ready_status is"),
    ("video_daily", "/data/external/item/play/", lambda d: d["result_list"].pop(), "the series disagree"),
    (
        "video_daily",
        "/data/external/item/like/",
        lambda d: d["result_list"].clear(),
        "no daily data for a video",
    ),
    ("video_daily", "/data/external/item/share/", _first("share", -1), "is negative, not a count"),
    ("account_daily", "/data/external/user/fans/", _first("date", "2026/01/01"), "not yyyy-MM-dd"),
    (
        "account_daily",
        "/data/external/user/profile/",
        _first("profile_uv", None),
        "missing or null, not a count",
    ),
    ("fans_profile", "/api/douyin/v1/user/fans_data/", lambda d: d.pop("fans_data"), "fans_data is missing"),
    (
        "fans_profile",
        "/api/douyin/v1/user/fans_data/",
        lambda d: d["fans_data"].pop("age_distributions"),
        "data.fans_data.age_distributions is missing",
    ),
    (
        "fans_profile",
        "/api/douyin/v1/user/fans_data/",
        lambda d: d["fans_data"]["device_distributions"][0].update(value=11),
        "device_distributions value exceeds all_fans_num",
    ),
]


@pytest.mark.parametrize(("stream", "method", "fault", "message"), CASES, ids=[c[3] for c in CASES])
def test_a_malformed_reply_is_a_typed_error_naming_method_and_log_id(
    stream: str, method: str, fault: Callable[[dict[str, Any]], None], message: str
) -> None:
    account = Account(method, fault)
    with pytest.raises(DouyinResponseShapeError) as caught:
        read(stream, account)
    assert message in str(caught.value)
    assert caught.value.method == method and caught.value.log_id.startswith("LOG")


@pytest.mark.parametrize(
    ("payload", "error", "code"),
    [
        (
            {"err_no": 2100005, "err_msg": "room_id不存在", "log_id": "L-1", "data": {}},
            DouyinRequestError,
            2100005,
        ),
        (
            {"err_no": "28001008", "err_msg": "access_token过期", "log_id": "L-1", "data": {}},
            DouyinAuthError,
            28001008,
        ),
    ],
)
def test_a_non_zero_err_no_names_its_code_and_log_id(payload: dict, error: type, code: int) -> None:
    protocol = OpenPlatformProtocol(client_key="aw1", client_secret="s" * 32)
    with pytest.raises(error) as caught:
        protocol.parse("/room/data/base/get/", 200, payload)
    assert (caught.value.code, caught.value.log_id) == (code, "L-1")
    assert not isinstance(caught.value, DouyinResponseShapeError)


def test_the_30_days_of_per_video_data_count_from_the_platforms_clock_not_this_machines() -> None:
    """A platform whose clock (``extra.now``) is 3.5 days behind this machine's, beyond the margin:
    a video it published today has no whole day yet (an empty series is no error), one it published
    29 days ago still has data (it is read), and the fans snapshot is of the platform's today."""
    platform_now = NOW - 84 * 3600
    published = {"@today": platform_now - 600, "@29days": platform_now - 29 * DAY}
    days = [shanghai_date(platform_now - k * DAY) for k in (2, 1)]

    def call(method: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        params = params or {}
        if method == "/api/douyin/v1/video/video_list/":
            videos = [{**VIDEO, "item_id": item, "create_time": at} for item, at in published.items()]
            data: dict[str, Any] = {"cursor": 1, "has_more": False, "list": videos}
        elif method.startswith("/data/external/item/"):
            series = [] if params["item_id"] == "@today" else days
            data = {"result_list": [{"date": d, method.split("/")[4]: "3"} for d in series]}
        else:
            data = healthy(method, params)
        return ApiResponse(method=method, data=data, log_id="LOG", server_time=platform_now)

    daily = read("video_daily", call)["video_daily"]
    assert [(r["item_id"], r["date"]) for r in daily] == [("@29days", d) for d in days]
    (fans,) = read("fans_profile", call)["fans_profile"]
    assert fans["date"] == shanghai_date(platform_now) != shanghai_date(time.time())


@pytest.mark.parametrize("now", [1_764_800_000_123, "1764800000123"])
def test_the_platforms_clock_is_read_from_extra_now(now: Any) -> None:
    protocol = OpenPlatformProtocol(client_key="aw1", client_secret="s" * 32)
    payload = {"data": {"error_code": 0, "list": []}, "extra": {"error_code": 0, "logid": "L", "now": now}}
    assert protocol.parse("/api/douyin/v1/video/video_list/", 200, payload).server_time == 1_764_800_000.123
    del payload["extra"]["now"]
    assert protocol.parse("/api/douyin/v1/video/video_list/", 200, payload).server_time is None
