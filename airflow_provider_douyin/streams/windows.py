"""Sync windows: clamping to what the API can answer, splitting into requestable pieces, and
the record of which windows are landed (the watermark).

Doudian filters by whole seconds, so windows are kept as integer epoch seconds,
``[start, end)``. Finance endpoints take "yyyy-MM-dd HH:mm:ss" in GMT+8.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.client.redaction import get_logger

if TYPE_CHECKING:  # the catalog's pagers use these window helpers
    from airflow_provider_douyin.streams.catalog import Publication, TimeFormat, TimeWindow

SHANGHAI = timezone(timedelta(hours=8), name="Asia/Shanghai")
HISTORY_MARGIN = timedelta(minutes=5)
"""Kept between a clamped start and the API's history limit, so clock skew cannot push a request past it."""

log = get_logger(__name__)


class WindowOutOfRangeError(DouyinConfigError):
    """The requested window lies entirely beyond what the API can search."""


@dataclass(frozen=True, order=True)
class Window:
    start: int
    end: int

    @classmethod
    def from_datetimes(cls, start: datetime, end: datetime) -> Window:
        return cls(math.floor(_aware(start).timestamp()), math.floor(_aware(end).timestamp()))

    @property
    def seconds(self) -> int:
        return self.end - self.start

    def isoformat(self) -> tuple[str, str]:
        return tuple(datetime.fromtimestamp(t, timezone.utc).isoformat() for t in (self.start, self.end))

    def split(self, parts: int) -> list[Window]:
        """Equal slices on whole seconds; never more slices than seconds."""
        parts = max(1, min(parts, self.seconds))
        edges = [self.start + (self.seconds * i) // parts for i in range(parts + 1)]
        return [Window(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]

    def chunks(self, max_span: timedelta | None) -> list[Window]:
        if max_span is None or self.seconds <= max_span.total_seconds():
            return [self]
        step = int(max_span.total_seconds())
        return [Window(t, min(t + step, self.end)) for t in range(self.start, self.end, step)]


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def parse_datetime(value: Any) -> datetime | None:
    """A rendered template value as an aware datetime; empty renderings ("", "None") mean unset."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, datetime):
        return _aware(value)
    return _aware(pendulum.parse(str(value)))


def format_time(epoch: int, fmt: TimeFormat) -> int | str:
    if fmt == "epoch":
        return epoch
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: int | str, fmt: TimeFormat) -> int:
    if fmt == "epoch" or isinstance(value, int):
        return int(value)
    return int(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI).timestamp())


def clamp_to_history(window: Window, spec: TimeWindow, *, now: float, stream: str) -> Window:
    """Never ask beyond the API's search limit; say so when the caller asked for more."""
    if spec.max_age is None:
        return window
    oldest = math.ceil(now - (spec.max_age - HISTORY_MARGIN).total_seconds())
    if window.end <= oldest:
        start, end = window.isoformat()
        raise WindowOutOfRangeError(
            f"Stream {stream!r}: window [{start}, {end}) is older than the API's "
            f"{spec.max_age.days}-day search limit; Doudian cannot return these records any more"
        )
    if window.start < oldest:
        clamped = Window(oldest, window.end)
        log.warning(
            "Stream %r: window start %s is beyond the API's %d-day search limit; reading from %s instead",
            stream,
            window.isoformat()[0],
            spec.max_age.days,
            clamped.isoformat()[0],
        )
        return clamped
    return window


def publication_horizon(publication: Publication | None, now: datetime) -> datetime | None:
    """The end of the latest Shanghai day whose rows are final at ``now`` (``None``: no horizon).

    Day D is final at D 00:00 + ``ready_after``, so the horizon is the end of the day that
    contains ``now - ready_after``.
    """
    if publication is None:
        return None
    shifted = (_aware(now) - publication.ready_after).astimezone(SHANGHAI)
    day_start = shifted.replace(hour=0, minute=0, second=0, microsecond=0)
    return (day_start + timedelta(days=1)).astimezone(timezone.utc)


def publication_time(publication: Publication, day: date) -> datetime:
    """When the rows of Shanghai day ``day`` are final (settlements: 15:00 the next day)."""
    return (datetime.combine(day, time.min, SHANGHAI) + publication.ready_after).astimezone(timezone.utc)


def latest_published_day(publication: Publication, now: datetime) -> date:
    """The latest Shanghai day whose rows are final at ``now``."""
    return (publication_horizon(publication, now).astimezone(SHANGHAI) - timedelta(days=1)).date()


def latest_readable_end(
    now: datetime, *, safety_lag: timedelta, publication: Publication | None = None
) -> datetime:
    """``min(now - safety_lag, publication horizon)``: nothing later may be read and called done."""
    lagged = _aware(now) - safety_lag
    horizon = publication_horizon(publication, now)
    return lagged if horizon is None or horizon >= lagged else horizon


@dataclass(frozen=True)
class ResolvedWindow:
    window: Window
    source: str
    """``interval`` (the run's data interval or explicit bounds) or ``watermark`` (fallback)."""


def resolve_sync_window(
    start: datetime | None,
    end: datetime | None,
    *,
    watermark: datetime | None,
    now: datetime,
    lookback: timedelta,
    safety_lag: timedelta,
    initial_window: timedelta,
    publication: Publication | None = None,
    stream: str = "",
) -> ResolvedWindow:
    """Decide what ``[start - lookback, end)`` a run reads.

    Airflow 3's default timetables give zero-width intervals and manual runs may have
    none, so an empty or missing interval reads from the stored watermark (or
    ``now - initial_window`` on the first run) up to the latest readable end. The end is
    never later than ``now - safety_lag`` (records updated just now may not be searchable
    yet, and the next run's lookback re-reads that tail) nor than the stream's publication
    horizon (rows of a day not yet final would be skipped for good once recorded done).
    """
    latest_end = latest_readable_end(now, safety_lag=safety_lag, publication=publication)
    if start is None or end is None or _aware(start) >= _aware(end):
        source = "watermark"
        start = watermark if watermark is not None else latest_end - initial_window
        end = _aware(now) - safety_lag
    else:
        source = "interval"
    if _aware(end) > latest_end:
        if latest_end < _aware(now) - safety_lag:
            log.info(
                "Stream %s: rows are final only up to %s (publication horizon at %s); reading up to there",
                stream,
                latest_end.isoformat(),
                _aware(now).isoformat(),
            )
        elif source == "interval":
            log.info(
                "Window end %s is too recent; reading up to %s (safety lag %s)", end, latest_end, safety_lag
            )
        end = latest_end
    window = Window.from_datetimes(_aware(start) - lookback, _aware(end))
    return ResolvedWindow(window if window.end > window.start else Window(window.start, window.start), source)


def merge_windows(windows: Iterable[Window], *, since: int) -> tuple[Window, ...]:
    """Sorted, disjoint windows covering the same seconds, clipped to start at ``since``.

    Overlapping and touching windows coalesce; empty ones and ones ending before ``since`` vanish.
    """
    merged: list[Window] = []
    for w in sorted(Window(max(w.start, since), w.end) for w in windows):
        if w.end <= w.start:
            continue
        if merged and w.start <= merged[-1].end:
            merged[-1] = Window(merged[-1].start, max(merged[-1].end, w.end))
        else:
            merged.append(w)
    return tuple(merged)


@dataclass(frozen=True)
class WatermarkState:
    """Which seconds of a stream are landed for one target.

    ``origin`` is where the target's history starts (the earliest window a run began);
    ``done`` are the windows landed since, merged. The watermark is the end of the
    contiguous done prefix from ``origin``, so a window that failed or never ran keeps
    the watermark behind it until it is read, whatever later windows succeeded.
    """

    origin: int
    done: tuple[Window, ...] = ()

    @property
    def watermark(self) -> int:
        if self.done and self.done[0].start <= self.origin:
            return self.done[0].end
        return self.origin

    def begun(self, window: Window) -> WatermarkState:
        """The state once a run of ``window`` starts reading.

        A window starting before the origin (an earlier mapped window that started later, a
        backfill) moves the origin back to its start, so the watermark waits for it; the seconds
        between its end and the old origin stay out of scope, as they were.
        """
        if window.start >= self.origin:
            return self
        out_of_scope = Window(min(window.end, self.origin), self.origin)
        return WatermarkState(window.start, merge_windows((*self.done, out_of_scope), since=window.start))

    def with_done(self, window: Window) -> WatermarkState:
        return WatermarkState(self.origin, merge_windows((*self.done, window), since=self.origin))

    def union(self, other: WatermarkState) -> WatermarkState:
        """Both states' knowledge: the earlier origin and every window either has landed."""
        origin = min(self.origin, other.origin)
        return WatermarkState(origin, merge_windows((*self.done, *other.done), since=origin))

    def covers(self, other: WatermarkState) -> bool:
        return self.union(other) == self
