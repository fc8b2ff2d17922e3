"""A Douyin account's own data: live-room figures, videos, daily account data and fan profile.

Sandbox Douyin account ``k`` (open_id ``_000sandbox{k:04d}``, the user the auth-code control
endpoint authorises by default for merchant ``k``) is shop ``k``'s own broadcasting account: its
live rooms are the shop's self-run sessions (``c_biz`` 8) of ``live_sessions``, so the room ids
here are the ones the shop's sku orders carry. Everything is derived from ``mix(seed, k, ...)``
and the business clock; nothing is stored.

Readiness: a room's figures are final ``ROOM_READY_AFTER`` after the room ends. Before that every
count is the final value scaled by the whole hours the room has run (they only grow, once an hour)
and each metric's ``is_ready`` is false. Video and account daily data cover whole days before
today (Asia/Shanghai); only videos created within the last 30 days answer per-item data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..constants import DAY, SHANGHAI, day_start
from ..hashing import mix
from ..live_sessions import C_BIZ_SELF, LiveSession, sessions_between, sessions_on_day

ROOM_READY_AFTER = 2 * 3600
VIDEOS = 40
VIDEO_SPAN_DAYS = 60
"""Videos are spread over the last 60 days, so about half are too old for per-item data."""
ITEM_DATA_DAYS = 30
DATE_TYPES = (7, 15, 30)
VIDEO_LIST_MAX_COUNT = 20
OPEN_ID = re.compile(r"_000sandbox(\d{4})")

ROOM_METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "base": (
        ("live_start_ts", "开播时间"),
        ("live_end_ts", "下播时间"),
        ("live_duration_td", "直播时长"),
        ("live_follow_ucnt_td", "新增关注人数"),
    ),
    "audience": (
        ("live_watch_cnt_td", "观看次数"),
        ("live_watch_ucnt_td", "观看人数"),
        ("live_watch_duration_td", "观看总时长"),
        ("live_fans_watch_ucnt_td", "粉丝观看人数"),
        ("live_fans_watch_duration_td", "粉丝观看总时长"),
        ("per_minute_watch_ucnt_td_max", "最高在线人数"),
    ),
    "interactive": (
        ("live_comment_cnt_td", "评论次数"),
        ("live_comment_ucnt_td", "评论人数"),
        ("live_like_cnt_td", "点赞次数"),
        ("live_share_cnt_td", "分享次数"),
    ),
}
ITEM_METRICS = ("like", "comment", "play", "share")
USER_METRICS: dict[str, tuple[str, ...]] = {
    "item": ("new_issue", "new_play", "total_issue"),
    "fans": ("new_fans", "total_fans"),
    "like": ("new_like",),
    "comment": ("new_comment",),
    "share": ("new_share",),
    "profile": ("profile_uv",),
}
FAN_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "gender_distributions": ("1", "2"),
    "age_distributions": ("1-23", "24-30", "31-40", "41-50", "50-"),
    "geographical_distributions": ("北京", "上海", "广东", "浙江", "四川", "其他"),
    "device_distributions": ("iPhone", "HUAWEI", "OPPO", "vivo", "其他"),
    "interest_distributions": ("美食", "美妆", "穿搭", "家居", "其他"),
    "active_days_distributions": ("0-4", "5~8", "9~12", "13~15", "16~20", "20+"),
}
FANS_EPOCH_DAYS = 400
"""Total fans of day D = a base plus every day's new fans since 400 days before the server started."""


def date_of(day: int) -> str:
    return datetime.fromtimestamp(day, SHANGHAI).strftime("%Y-%m-%d")


class Creator:
    """Douyin account ``k``: shop ``k``'s broadcasting account, with videos and fans."""

    def __init__(self, seed: int, number: int, history_start: int, started_at: int) -> None:
        self.seed, self.number = seed, number
        self.open_id = f"_000sandbox{number:04d}"
        self.history_start = history_start
        self.fans_epoch = day_start(started_at) - FANS_EPOCH_DAYS * DAY
        self.videos = [self._video_created(i, started_at) for i in range(VIDEOS)]

    def _h(self, *parts: int) -> int:
        return mix(self.seed, self.number, 0xC2EA, *parts)

    # ----------------------------------------------------------------- live rooms
    def rooms(self, start: int, end: int, now: float) -> list[LiveSession]:
        """Self-run sessions starting in ``[start, end)`` that have begun by ``now``."""
        begin = max(start, self.history_start)
        found = sessions_between(self.seed, self.number, begin, min(end, int(now) + 1)) if begin < end else []
        return [s for s in found if s.c_biz == C_BIZ_SELF and s.start <= now]

    def room(self, room_id: int, now: float) -> LiveSession | None:
        for day in range(day_start(self.history_start), int(now) + 1, DAY):
            for session in sessions_on_day(self.seed, self.number, day):
                if session.room_id == room_id and session.c_biz == C_BIZ_SELF and session.start <= now:
                    return session
        return None

    def room_final(self, session: LiveSession) -> dict[str, int]:
        """The room's figures once final."""
        h = self._h(session.room_id % (1 << 62))
        uv = 2_000 + h % 18_000
        fans_uv = uv * (20 + (h >> 16) % 40) // 100
        comment_uv = uv * (3 + (h >> 24) % 8) // 100
        duration = session.end - session.start
        return {
            "live_start_ts": session.start,
            "live_end_ts": session.end,
            "live_duration_td": duration,
            "live_follow_ucnt_td": uv * (1 + (h >> 32) % 5) // 100,
            "live_watch_cnt_td": uv + uv * ((h >> 8) % 90) // 100,
            "live_watch_ucnt_td": uv,
            "live_watch_duration_td": uv * (60 + (h >> 40) % 240),
            "live_fans_watch_ucnt_td": fans_uv,
            "live_fans_watch_duration_td": fans_uv * (120 + (h >> 44) % 300),
            "per_minute_watch_ucnt_td_max": max(1, uv * (5 + (h >> 48) % 10) // 100),
            "live_comment_cnt_td": comment_uv * (1 + (h >> 52) % 4),
            "live_comment_ucnt_td": comment_uv,
            "live_like_cnt_td": uv * (2 + (h >> 56) % 30),
            "live_share_cnt_td": uv * (1 + (h >> 60) % 3) // 100,
        }

    @staticmethod
    def ready_at(session: LiveSession) -> int:
        return session.end + ROOM_READY_AFTER

    def room_now(self, session: LiveSession, now: float) -> tuple[dict[str, int], bool]:
        """The figures served at ``now`` and whether they are final."""
        final = self.room_final(session)
        ready_at = self.ready_at(session)
        if now >= ready_at:
            return final, True
        # Figures move on the hour: a reading taken within one hour of the room is stable.
        hours = (int(now) - session.start) // 3600
        served = {k: v * hours * 3600 // (ready_at - session.start) for k, v in final.items()}
        served["live_start_ts"] = session.start
        served["live_end_ts"] = min(session.end, session.start + hours * 3600)
        served["live_duration_td"] = served["live_end_ts"] - session.start
        return served, False

    def room_metrics(self, session: LiveSession, family: str, now: float) -> dict[str, Any]:
        """``data`` of ``/room/data/<family>/get/``: ``stats[]`` and ``data_ready_status[]``."""
        values, ready = self.room_now(session, now)
        slot = date_of(session.start)
        stats, status = [], []
        for name, label in ROOM_METRICS[family]:
            value = values[name]
            stats.append(
                {"item": label, "item_type": 1, "live_id": 1, "name": name, "timeslot": slot,
                 "value": value, "value_float": float(value)}
            )  # fmt: skip
            status.append({"name": name, "time_slot": slot, "is_ready": ready, "item_type": 1, "live_id": 1})
        return {"stats": stats, "data_ready_status": status}

    # ----------------------------------------------------------------- videos
    def _video_created(self, i: int, started_at: int) -> int:
        return started_at - (i * VIDEO_SPAN_DAYS * DAY) // VIDEOS - 3600 - self._h(i, 1) % 7200

    def item_id(self, i: int) -> str:
        """Item ids are opaque strings with ``+``, ``/`` and ``=``: they must be URL-encoded."""
        h = self._h(i, 2)
        return f"@9Vw{h:016x}+{self.number:04d}/{i:03d}Q=="

    def video_index(self, item_id: str) -> int | None:
        for i in range(VIDEOS):
            if self.item_id(i) == item_id:
                return i
        return None

    def video(self, i: int, now: float) -> dict[str, Any]:
        created = self.videos[i]
        days = self._days(created, now)
        totals = {m: sum(self.item_daily(i, d, m) for d in days) for m in ITEM_METRICS}
        return {
            "item_id": self.item_id(i),
            "title": f"沙盒直播间{self.number}号 · 第{VIDEOS - i}条视频",
            "create_time": created,
            "cover": f"https://p3.douyinpic.com/sandbox/{self.number}/{i}.jpeg",
            "is_top": i == VIDEOS - 1,
            "is_reviewed": True,
            "share_url": f"https://www.iesdouyin.com/share/video/sandbox{self.number}{i:03d}/",
            "video_status": 1,
            "media_type": 4,
            "statistics": {
                "play_count": totals["play"],
                "digg_count": totals["like"],
                "comment_count": totals["comment"],
                "share_count": totals["share"],
                "download_count": totals["share"] // 3,
                "forward_count": totals["share"] // 2,
            },
        }

    def visible_videos(self, now: float) -> list[int]:
        """Indexes of the videos published by ``now``, newest first."""
        return sorted((i for i, c in enumerate(self.videos) if c <= now), key=lambda i: -self.videos[i])

    @staticmethod
    def _days(since: int, now: float) -> list[int]:
        """Day starts from ``since``'s day to yesterday (Asia/Shanghai)."""
        return list(range(day_start(since), day_start(now), DAY))

    def item_daily(self, i: int, day: int, metric: str) -> int:
        age = (day - day_start(self.videos[i])) // DAY
        scale = {"play": 5_000, "like": 400, "comment": 40, "share": 25}[metric]
        return self._h(i, day // DAY, ITEM_METRICS.index(metric)) % scale // (1 + age // 4)

    def item_days(self, i: int, now: float, date_type: int) -> list[int]:
        """Dates per-item data covers: the last ``date_type`` days, from the video's day on; none for a
        video older than 30 days."""
        if self.videos[i] < now - ITEM_DATA_DAYS * DAY:
            return []
        today = day_start(now)
        return [d for d in self._days(self.videos[i], now) if d >= today - date_type * DAY]

    # ----------------------------------------------------------------- account
    def new_fans(self, day: int) -> int:
        return 20 + self._h(day // DAY, 0xFA) % 80

    def total_fans(self, day: int) -> int:
        return 8_000 + sum(self.new_fans(d) for d in range(self.fans_epoch, day + 1, DAY))

    def user_daily(self, day: int) -> dict[str, int]:
        """Every field of the six ``/data/external/user/*`` series for one day."""
        h = self._h(day // DAY, 0xDA)
        issued = sum(1 for c in self.videos if day <= c < day + DAY)
        return {
            "new_issue": issued,
            "new_play": 1_000 + h % 30_000,
            "total_issue": sum(1 for c in self.videos if c < day + DAY),
            "new_fans": self.new_fans(day),
            "total_fans": self.total_fans(day),
            "new_like": (h >> 16) % 3_000,
            "new_comment": (h >> 28) % 300,
            "new_share": (h >> 36) % 120,
            "profile_uv": 200 + (h >> 44) % 2_000,
        }

    def user_days(self, now: float, date_type: int) -> list[int]:
        today = day_start(now)
        return list(range(today - date_type * DAY, today, DAY))

    def fans_data(self, now: float) -> dict[str, Any]:
        """``fans_data`` of ``/api/douyin/v1/user/fans_data/`` as of today (changes once a day)."""
        today = day_start(now)
        total = self.total_fans(today - DAY)
        data: dict[str, Any] = {"all_fans_num": total}
        for name, items in FAN_DISTRIBUTIONS.items():
            weights = [1 + self._h(today // DAY, len(name), k) % 100 for k in range(len(items))]
            shares = [total * w // sum(weights) for w in weights]
            shares[-1] += total - sum(shares)
            data[name] = [{"item": item, "value": share} for item, share in zip(items, shares, strict=True)]
        data["flow_contributions"] = [
            {"flow": flow, "fans_sum": self._h(today // DAY, k, 0xF1) % 500,
             "all_sum": 500 + self._h(today // DAY, k, 0xF2) % 5_000}
            for k, flow in enumerate(("直播", "视频", "其他"))
        ]  # fmt: skip
        return data

    # ----------------------------------------------------------------- ground truth
    def truth(self, table: str, now: float) -> Iterator[dict[str, Any]]:
        """What a perfect sync at ``now`` holds (rows flattened as the streams land them)."""
        if table == "live_room_stats":
            for session in self.rooms(self.history_start, int(now) + 1, now):
                values, ready = self.room_now(session, now)
                yield {"room_id": str(session.room_id), "open_id": self.open_id, **values, "is_final": ready}
        elif table == "videos":
            for i in self.visible_videos(now):
                video = self.video(i, now)
                yield {**{k: v for k, v in video.items() if k != "statistics"}, **video["statistics"]}
        elif table == "video_daily":
            for i in self.visible_videos(now):
                for day in self.item_days(i, now, ITEM_DATA_DAYS):
                    values = {m: self.item_daily(i, day, m) for m in ITEM_METRICS}
                    yield {"item_id": self.item_id(i), "date": date_of(day), **values}
        elif table == "account_daily":
            for day in self.user_days(now, ITEM_DATA_DAYS):
                yield {"open_id": self.open_id, "date": date_of(day), **self.user_daily(day)}
        elif table == "fans_profile":
            yield {"open_id": self.open_id, "date": date_of(day_start(now)), **self.fans_data(now)}


CREATOR_TRUTH_TABLES = ("live_room_stats", "videos", "video_daily", "account_daily", "fans_profile")


def creator_number(open_id: str, accounts: int) -> int | None:
    """Which sandbox account an open_id names, or None."""
    match = OPEN_ID.fullmatch(open_id)
    number = int(match.group(1)) if match else 0
    return number if 1 <= number <= accounts else None
