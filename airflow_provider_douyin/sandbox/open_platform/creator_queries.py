"""Handlers of the user-token APIs: live-room data and the data-open service.

Each receives the account named by ``open_id`` (already matched against the user token) and the
query parameters as strings, and returns the ``data`` member of the reply or raises ``OpenError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .creator import (
    DATE_TYPES,
    ITEM_METRICS,
    ROOM_METRICS,
    USER_METRICS,
    VIDEO_LIST_MAX_COUNT,
    Creator,
    date_of,
)
from .envelope import PARAM_INVALID, OpenError

ITEM_SCOPE = "data.external.item"
"""The documented scope of the per-item (video) data APIs."""


def _int(params: dict[str, str], name: str, *, default: int | None = None) -> int:
    value = params.get(name, "").strip()
    if value == "" and default is not None:
        return default
    if not value.lstrip("-").isdigit():
        raise OpenError(PARAM_INVALID, f"{name}不能为空且必须为整数")
    return int(value)


def _date_type(params: dict[str, str]) -> int:
    date_type = _int(params, "date_type")
    if date_type not in DATE_TYPES:
        raise OpenError(PARAM_INVALID, "date_type取值为7、15或30")
    return date_type


def room_ids(creator: Creator, params: dict[str, str], now: float) -> dict[str, Any]:
    start, end = _int(params, "start_time"), _int(params, "end_time")
    if end <= start:
        raise OpenError(PARAM_INVALID, "end_time必须大于start_time")
    return {"room_ids": [str(s.room_id) for s in creator.rooms(start, end, now)]}


def room_metrics(family: str) -> Callable[[Creator, dict[str, str], float], dict[str, Any]]:
    def handler(creator: Creator, params: dict[str, str], now: float) -> dict[str, Any]:
        room_id = _int(params, "room_id")
        if params.get("live_id", "1").strip() != "1":
            raise OpenError(PARAM_INVALID, "live_id无效")
        session = creator.room(room_id, now)
        if session is None:
            raise OpenError(PARAM_INVALID, "room_id不存在或不属于该用户")
        return creator.room_metrics(session, family, now)

    return handler


def video_list(creator: Creator, params: dict[str, str], now: float) -> dict[str, Any]:
    """Newest first; the cursor is the last video's create time in milliseconds."""
    count = _int(params, "count")
    if not 1 <= count <= VIDEO_LIST_MAX_COUNT:
        raise OpenError(PARAM_INVALID, f"count取值范围为1-{VIDEO_LIST_MAX_COUNT}")
    cursor = _int(params, "cursor", default=0)
    order = [i for i in creator.visible_videos(now) if not cursor or creator.videos[i] * 1000 < cursor]
    page = order[:count]
    next_cursor = creator.videos[page[-1]] * 1000 if page else cursor
    return {
        "cursor": next_cursor,
        "has_more": len(order) > count,
        "list": [creator.video(i, now) for i in page],
    }


def item_data(metric: str) -> Callable[[Creator, dict[str, str], float], dict[str, Any]]:
    def handler(creator: Creator, params: dict[str, str], now: float) -> dict[str, Any]:
        index = creator.video_index(params.get("item_id", ""))
        if index is None or creator.videos[index] > now:
            raise OpenError(PARAM_INVALID, "item_id无效")
        days = creator.item_days(index, now, _date_type(params))
        rows = [{"date": date_of(d), metric: creator.item_daily(index, d, metric)} for d in days]
        return {"result_list": rows}

    return handler


def user_data(series: str) -> Callable[[Creator, dict[str, str], float], dict[str, Any]]:
    def handler(creator: Creator, params: dict[str, str], now: float) -> dict[str, Any]:
        rows = []
        for day in creator.user_days(now, _date_type(params)):
            values = creator.user_daily(day)
            rows.append({"date": date_of(day), **{f: values[f] for f in USER_METRICS[series]}})
        return {"result_list": rows}

    return handler


def fans_data(creator: Creator, params: dict[str, str], now: float) -> dict[str, Any]:
    return {"fans_data": creator.fans_data(now)}


CreatorHandler = Callable[[Creator, dict[str, str], float], dict[str, Any]]
CREATOR_QUERIES: dict[str, tuple[CreatorHandler, str]] = {
    "/room/data/room_id/get/": (room_ids, ""),
    **{f"/room/data/{family}/get/": (room_metrics(family), "") for family in ROOM_METRICS},
    "/api/douyin/v1/video/video_list/": (video_list, ""),
    **{f"/data/external/item/{m}/": (item_data(m), ITEM_SCOPE) for m in ITEM_METRICS},
    **{f"/data/external/user/{s}/": (user_data(s), "") for s in USER_METRICS},
    "/api/douyin/v1/user/fans_data/": (fans_data, ""),
}
"""Path -> (handler, the scope the user must have granted, where one is documented)."""
