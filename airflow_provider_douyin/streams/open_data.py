"""A Douyin account's own data: live-room viewer figures, videos, daily video and account series, fans.

These APIs answer one series or one room per request, so each stream's pager reads the series it
needs and pivots them into rows (one row per room, per video and day, per day, per snapshot day).
Everything is read with the authorized user's token and ``open_id`` (the connection's user).

Trust: a list, a metric, a date or a flag that is missing or of the wrong type, a series that
disagrees with its siblings on the dates it covers, or an impossible value (more viewers than views,
a room ending before it starts, a negative count) fails the read with a typed error naming the
method and log_id, never a row with a hole in it.

Readiness of live-room figures: the platform marks each metric ``is_ready`` false while it may
still grow (during and shortly after the broadcast). Rows land anyway, with ``is_final`` 0 and the
pending metrics named in ``not_ready_metrics``; ``is_final`` is also the version column, so a
final row is never replaced by a stale not-final one, and the next read that covers the room (the
example DAG reads a day of lookback) replaces not-final figures with final ones.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_douyin.client.errors import DouyinResponseShapeError
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.pagers import OpenCursorPager, Pager, Pages
from airflow_provider_douyin.streams.replies import Page, data_object, kind, record_list, shape_error
from airflow_provider_douyin.streams.schema import Column, Table
from airflow_provider_douyin.streams.windows import Window, format_time

if TYPE_CHECKING:
    from airflow_provider_douyin.streams.catalog import Stream

SHANGHAI = timezone(timedelta(hours=8))
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ITEM_DATA_DAYS = 30
"""Per-video data exists only for videos created within the last 30 days."""
ITEM_DATA_MARGIN = timedelta(days=2)
"""Clock slack around that limit: videos up to two days older are asked too, and an empty answer is
accepted for videos within two days of the limit or created in the last two days (no whole day yet)."""

ROOM_METRICS: dict[str, tuple[str, ...]] = {
    "base": ("live_start_ts", "live_end_ts", "live_duration_td", "live_follow_ucnt_td"),
    "audience": (
        "live_watch_cnt_td",
        "live_watch_ucnt_td",
        "live_watch_duration_td",
        "live_fans_watch_ucnt_td",
        "live_fans_watch_duration_td",
        "per_minute_watch_ucnt_td_max",
    ),
    "interactive": ("live_comment_cnt_td", "live_comment_ucnt_td", "live_like_cnt_td", "live_share_cnt_td"),
}
"""The metrics each ``/room/data/<family>/get/`` must answer."""
ROOM_BOUNDS = (
    ("live_watch_ucnt_td", "live_watch_cnt_td"),
    ("live_fans_watch_ucnt_td", "live_watch_ucnt_td"),
    ("per_minute_watch_ucnt_td_max", "live_watch_ucnt_td"),
    ("live_comment_ucnt_td", "live_comment_cnt_td"),
    ("live_start_ts", "live_end_ts"),
)
"""(smaller, larger), each within one metrics family: viewers never exceed views, a room never ends
before it starts."""
ITEM_METRICS = ("like", "comment", "play", "share")
USER_FIELDS: dict[str, tuple[str, ...]] = {
    "item": ("new_issue", "new_play", "total_issue"),
    "fans": ("new_fans", "total_fans"),
    "like": ("new_like",),
    "comment": ("new_comment",),
    "share": ("new_share",),
    "profile": ("profile_uv",),
}
FAN_DISTRIBUTIONS = (
    "gender_distributions",
    "age_distributions",
    "geographical_distributions",
    "device_distributions",
    "interest_distributions",
    "active_days_distributions",
)


def _ints(*names: str, prefix: str = "") -> tuple[Column, ...]:
    return tuple(Column(n, "int", f"{prefix}{n}" if prefix else None) for n in names)


LIVE_ROOM_STATS_TABLE = Table(
    name="live_room_stats",
    columns=(
        Column("room_id", "int"),
        Column("room_id_str", "str"),
        Column("timeslot", "str"),
        *_ints(*(name for family in ROOM_METRICS.values() for name in family)),
        Column("is_final", "int"),
        Column("not_ready_metrics", "str"),
    ),
    primary_key=("room_id",),
    version_column="is_final",
    description="One row per live room of the authorized account: viewer and interaction figures; "
    "is_final 0 while any metric may still grow.",
)
VIDEOS_TABLE = Table(
    name="videos",
    columns=(
        Column("item_id", "str"),
        Column("title", "str"),
        *_ints("create_time", "video_status", "media_type"),
        Column("is_top", "bool"),
        Column("is_reviewed", "bool"),
        Column("share_url", "str"),
        Column("cover", "str"),
        *_ints(
            "play_count",
            "digg_count",
            "comment_count",
            "share_count",
            "download_count",
            "forward_count",
            prefix="statistics.",
        ),
    ),
    primary_key=("item_id",),
    version_column="create_time",
    description="The account's videos with their current statistics (snapshot).",
)
VIDEO_DAILY_TABLE = Table(
    name="video_daily",
    columns=(Column("item_id", "str"), Column("date", "str"), *_ints(*ITEM_METRICS)),
    primary_key=("item_id", "date"),
    version_column="date",
    description="Likes, comments, plays and shares per video and day (videos of the last 30 days).",
)
ACCOUNT_DAILY_TABLE = Table(
    name="account_daily",
    columns=(Column("date", "str"), *_ints(*(f for fields in USER_FIELDS.values() for f in fields))),
    primary_key=("date",),
    version_column="date",
    description="The account's daily new videos, plays, fans, likes, comments, shares, profile visitors.",
)
FANS_PROFILE_TABLE = Table(
    name="fans_profile",
    columns=(
        Column("date", "str"),
        Column("all_fans_num", "int"),
        *(Column(name, "json") for name in FAN_DISTRIBUTIONS),
        Column("flow_contributions", "json"),
    ),
    primary_key=("date",),
    version_column="date",
    description="The fan profile (gender, age, region, device, interests, activity) once per day.",
)


def _count(response: ApiResponse, where: str, value: Any) -> int:
    """A non-negative count sent as a number or a numeric string (the samples send strings)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        what = "negative" if isinstance(value, int) and not isinstance(value, bool) else kind(value)
        raise shape_error(response, f"{where} is {what}, not a count")
    return value


def _page(response: ApiResponse, records: list[Any]) -> Page:
    return Page(records, [], [], len(records), response)


def _dated_series(response: ApiResponse, fields: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """``result_list[{date, <fields>}]`` as ``{date: {field: count}}``; dates unique and well formed."""
    rows: dict[str, dict[str, int]] = {}
    for entry in record_list(response, data_object(response), "result_list"):
        date = entry.get("date")
        if not isinstance(date, str) or not DATE.fullmatch(date):
            raise shape_error(response, f"a result_list date is {kind(date)}, not yyyy-MM-dd")
        if date in rows:
            raise shape_error(response, f"result_list holds {date} twice")
        rows[date] = {f: _count(response, f"result_list[{date}].{f}", entry.get(f)) for f in fields}
    return rows


def _pivot(
    series: list[tuple[ApiResponse, dict[str, dict[str, int]]]], what: str
) -> tuple[dict[str, dict[str, int]], str]:
    """Join series by date; every series must cover the same dates. Returns rows and the last log_id."""
    first_response, first = series[0]
    rows: dict[str, dict[str, int]] = {date: dict(values) for date, values in first.items()}
    for response, values in series[1:]:
        if values.keys() != rows.keys():
            raise shape_error(
                response,
                f"{what}: this series covers {len(values)} dates, {first_response.method} "
                f"covers {len(rows)}; the series disagree",
            )
        for date, fields in values.items():
            rows[date].update(fields)
    return rows, series[-1][0].log_id


def shanghai_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class LiveRoomPager(Pager):
    """Room ids of the window (``/room/data/room_id/get/``, no paging), then each room's base, audience
    and interactive metrics, pivoted into one record per room."""

    metric_methods: tuple[tuple[str, str], ...]
    """(family, path): the metrics calls per room, each answering ``ROOM_METRICS[family]``."""
    records: str = "room_ids"
    page_size: int = 1

    def walk(self, pages: Pages, window: Window | None) -> None:
        spec = pages.stream.window
        params = {
            spec.start_param: format_time(window.start, spec.format),
            spec.end_param: format_time(window.end, spec.format),
        }
        page = pages.fetch(params, self._room_ids)
        for room_id in page.records:
            record: dict[str, Any] = {"room_id": room_id, "room_id_str": room_id}
            not_ready: list[str] = []
            slots: set[str] = set()
            response = page.response
            for family, method in self.metric_methods:
                check = functools.partial(self._metrics, names=ROOM_METRICS[family])
                response, values, pending, slot = pages.fetch(
                    {"room_id": room_id, "live_id": 1}, check, method
                )
                record.update(values)
                not_ready += pending
                slots.add(slot)
            self._check_room(response, record, slots, window)
            record.update(
                timeslot=slots.pop(), is_final=int(not not_ready), not_ready_metrics=",".join(not_ready)
            )
            pages.emit([record], response.log_id)

    def _room_ids(self, response: ApiResponse) -> Page:
        ids = record_list_of(response, "room_ids")
        texts = []
        for room_id in ids:
            text = str(room_id) if isinstance(room_id, int) and not isinstance(room_id, bool) else room_id
            if not isinstance(text, str) or not text.isdigit() or text == "0":
                raise shape_error(response, f"a room id is {kind(room_id)}, not a numeric id")
            texts.append(text)
        if len(set(texts)) < len(texts):
            raise shape_error(response, "room_ids holds the same room twice")
        return _page(response, texts)

    @staticmethod
    def _metrics(
        response: ApiResponse, *, names: tuple[str, ...]
    ) -> tuple[ApiResponse, dict[str, Any], list[str], str]:
        data = data_object(response)
        values: dict[str, Any] = {}
        slots = set()
        for stat in record_list(response, data, "stats"):
            name = stat.get("name")
            if not isinstance(name, str) or not name:
                raise shape_error(response, f"a stats item's name is {kind(name)}")
            if name in values:
                raise shape_error(response, f"stats holds metric {name} twice")
            values[name] = stat.get("value")
            if name in names:
                slots.add(stat.get("timeslot"))
        missing = [n for n in names if n not in values]
        if missing:
            raise shape_error(response, f"stats lacks metric(s) {', '.join(missing)}")
        for name in names:
            values[name] = _count(response, f"stats[{name}].value", values[name])
        for low, high in ROOM_BOUNDS:
            if low in names and high in names and values[low] > values[high]:
                raise shape_error(response, f"{low} exceeds {high}")
        if len(slots) != 1 or not isinstance(next(iter(slots)), str) or not DATE.fullmatch(next(iter(slots))):
            raise shape_error(response, "the metrics do not carry one yyyy-MM-dd timeslot")
        ready: dict[str, bool] = {}
        for status in record_list(response, data, "data_ready_status"):
            flag = status.get("is_ready")
            if not isinstance(flag, bool):
                raise shape_error(response, f"data_ready_status.is_ready is {kind(flag)}, not a boolean")
            ready[str(status.get("name"))] = flag
        unknown = [n for n in names if n not in ready]
        if unknown:
            raise shape_error(
                response, f"data_ready_status does not say whether {', '.join(unknown)} is ready"
            )
        return response, values, [n for n in names if not ready[n]], slots.pop()

    @staticmethod
    def _check_room(response: ApiResponse, record: dict[str, Any], slots: set[str], window: Window) -> None:
        if len(slots) != 1:
            raise shape_error(
                response, f"room {record['room_id']}: the metric families disagree on its timeslot"
            )
        if not window.start <= record["live_start_ts"] < window.end:
            raise shape_error(response, f"room {record['room_id']} started outside the requested window")


def record_list_of(response: ApiResponse, path: str) -> list[Any]:
    """A list of scalars inside ``data`` (``room_ids``)."""
    value = data_object(response).get(path)
    if not isinstance(value, list):
        raise shape_error(response, f"data.{path} is {kind(value)}, not a list")
    return value


def platform_now(server_time: float | None) -> float:
    """The platform's clock as its reply stated it (``extra.now``), else this machine's."""
    return server_time if server_time is not None else time.time()


class _Collect:
    """Pages for a nested walk: requests pass through, records are kept instead of emitted."""

    def __init__(self, pages: Pages, stream: Stream) -> None:
        self.stream = stream
        self._pages = pages
        self.records: list[Mapping[str, Any]] = []
        self.server_time: float | None = None
        """The platform's clock at the last reply that stated it."""

    def fetch(
        self, params: Mapping[str, Any], check: Callable[[ApiResponse], Any], method: str | None = None
    ) -> Any:
        def noting_the_clock(response: ApiResponse) -> Any:
            if response.server_time is not None:
                self.server_time = response.server_time
            return check(response)

        return self._pages.fetch(params, noting_the_clock, method)

    def emit(self, records: list[Mapping[str, Any]], log_id: str, *, clean: bool = False) -> None:
        self.records += records

    def report_total(self, total: int) -> None:
        """The video list reports no total."""


@dataclass(frozen=True)
class VideoDailyPager(Pager):
    """The video list (cursor), then each recent video's like, comment, play and share series
    (``date_type`` 30), pivoted into one record per video and date."""

    videos: OpenCursorPager
    item_methods: tuple[tuple[str, str], ...]
    """(metric, path) per daily series."""
    records: str = "list"
    page_size: int = 20

    def walk(self, pages: Pages, window: Window | None) -> None:
        listing = _Collect(
            pages, replace(pages.stream, tables=(replace(pages.stream.tables[0], table=VIDEOS_TABLE),))
        )
        self.videos.walk(listing, None)
        # "The last 30 days" are the platform's: count them from its clock, which may differ from
        # this machine's by more than the margin.
        now = platform_now(listing.server_time)
        oldest = now - (timedelta(days=ITEM_DATA_DAYS) + ITEM_DATA_MARGIN).total_seconds()
        for video in listing.records:
            created = video.get("create_time")
            if isinstance(created, bool) or not isinstance(created, int):
                raise DouyinResponseShapeError(
                    f"a video's create_time is {kind(created)}, not epoch seconds", method=pages.stream.method
                )
            if created < oldest:
                continue
            margin = ITEM_DATA_MARGIN.total_seconds()
            may_be_empty = not oldest + 2 * margin < created < now - margin
            series = [
                pages.fetch(
                    {"item_id": video["item_id"], "date_type": ITEM_DATA_DAYS},
                    functools.partial(self._series, metric=metric, may_be_empty=may_be_empty),
                    method,
                )
                for metric, method in self.item_methods
            ]
            rows, log_id = _pivot(series, f"video {video['item_id']}")
            if rows:
                pages.emit(
                    [{"item_id": video["item_id"], "date": d, **v} for d, v in sorted(rows.items())], log_id
                )

    @staticmethod
    def _series(
        response: ApiResponse, *, metric: str, may_be_empty: bool
    ) -> tuple[ApiResponse, dict[str, dict[str, int]]]:
        rows = _dated_series(response, (metric,))
        if not rows and not may_be_empty:
            raise shape_error(response, "no daily data for a video created within the last 30 days")
        return response, {date: {metric: values[metric]} for date, values in rows.items()}


@dataclass(frozen=True)
class AccountDailyPager(Pager):
    """The six daily account series (``date_type`` 30), pivoted into one record per date."""

    series_methods: tuple[tuple[str, str], ...]
    """(series, path), the first being the stream's own method."""
    date_type: int = 30
    records: str = "result_list"
    page_size: int = 30

    def walk(self, pages: Pages, window: Window | None) -> None:
        series = []
        for name, method in self.series_methods:
            check = functools.partial(_check_series, fields=USER_FIELDS[name])
            series.append(pages.fetch({"date_type": self.date_type}, check, method))
        rows, log_id = _pivot(series, "account daily data")
        if not rows:
            raise shape_error(series[0][0], f"no day in the last {self.date_type} days")
        pages.emit([{"date": date, **values} for date, values in sorted(rows.items())], log_id)


def _check_series(response: ApiResponse, *, fields: tuple[str, ...]) -> tuple[ApiResponse, dict]:
    return response, _dated_series(response, fields)


@dataclass(frozen=True)
class FansProfilePager(Pager):
    """``fans_data`` once: the snapshot of today's date (Asia/Shanghai)."""

    records: str = "fans_data"
    page_size: int = 1

    def walk(self, pages: Pages, window: Window | None) -> None:
        page = pages.fetch({}, self._fans)
        pages.emit(page.records, page.log_id, clean=page.clean)

    @staticmethod
    def _fans(response: ApiResponse) -> Page:
        data = data_object(response)
        fans = data.get("fans_data")
        if not isinstance(fans, Mapping):
            raise shape_error(response, f"data.fans_data is {kind(fans)}, not an object")
        total = _count(response, "fans_data.all_fans_num", fans.get("all_fans_num"))
        for name in FAN_DISTRIBUTIONS:
            for entry in record_list(response, data, f"fans_data.{name}"):
                if not isinstance(entry.get("item"), str):
                    raise shape_error(response, f"a {name} item is {kind(entry.get('item'))}, not a label")
                if _count(response, f"{name}.value", entry.get("value")) > total:
                    raise shape_error(response, f"a {name} value exceeds all_fans_num")
        now = platform_now(response.server_time)  # the snapshot is of the platform's today
        return _page(response, [{"date": shanghai_date(now), **fans, "all_fans_num": total}])
