from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.windows import (
    Window,
    WindowOutOfRangeError,
    clamp_to_history,
    format_time,
    parse_datetime,
    parse_time,
    resolve_sync_window,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
LAG = timedelta(minutes=2)
LOOKBACK = timedelta(minutes=10)


def resolve(start, end, watermark=None):
    return resolve_sync_window(
        start,
        end,
        watermark=watermark,
        now=NOW,
        lookback=LOOKBACK,
        safety_lag=LAG,
        initial_window=timedelta(days=1),
    )


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


class TestResolveSyncWindow:
    def test_data_interval_is_read_with_lookback(self):
        start, end = NOW - timedelta(hours=3), NOW - timedelta(hours=2)
        got = resolve(start, end)
        assert got.source == "interval"
        assert got.window == Window(ts(start - LOOKBACK), ts(end))

    @pytest.mark.parametrize(
        "start,end", [(None, None), (NOW - timedelta(hours=1), NOW - timedelta(hours=1))]
    )
    def test_missing_or_zero_width_interval_reads_from_watermark_to_now_minus_lag(self, start, end):
        watermark = NOW - timedelta(hours=5)
        got = resolve(start, end, watermark=watermark)
        assert got.source == "watermark"
        assert got.window == Window(ts(watermark - LOOKBACK), ts(NOW - LAG))

    def test_first_watermark_run_reads_the_initial_window(self):
        got = resolve(None, None)
        assert got.window == Window(ts(NOW - LAG - timedelta(days=1) - LOOKBACK), ts(NOW - LAG))

    def test_interval_ending_in_the_future_is_cut_at_the_safety_lag(self):
        got = resolve(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
        assert got.window.end == ts(NOW - LAG)


class TestClampToHistory:
    orders = get_stream("orders").window

    def test_window_inside_history_is_untouched(self):
        w = Window(ts(NOW - timedelta(days=10)), ts(NOW))
        assert clamp_to_history(w, self.orders, now=NOW.timestamp(), stream="orders") == w

    def test_partially_older_window_is_clamped_and_logged(self, caplog):
        w = Window(ts(NOW - timedelta(days=120)), ts(NOW))
        got = clamp_to_history(w, self.orders, now=NOW.timestamp(), stream="orders")
        assert got.end == w.end
        assert ts(NOW - timedelta(days=90)) < got.start < ts(NOW - timedelta(days=89))
        assert "90-day search limit" in caplog.text

    def test_window_entirely_beyond_90_days_is_a_clear_error(self):
        w = Window(ts(NOW - timedelta(days=200)), ts(NOW - timedelta(days=100)))
        with pytest.raises(WindowOutOfRangeError, match="older than the API's 90-day search limit"):
            clamp_to_history(w, self.orders, now=NOW.timestamp(), stream="orders")


class TestWindow:
    def test_split_covers_the_window_exactly_without_overlap(self):
        w = Window(1_000, 1_997)
        parts = w.split(7)
        assert parts[0].start == w.start and parts[-1].end == w.end
        assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))
        assert len(parts) == 7

    def test_split_never_makes_sub_second_slices(self):
        assert Window(0, 3).split(10) == [Window(0, 1), Window(1, 2), Window(2, 3)]

    def test_chunks_respect_the_seven_day_finance_limit(self):
        w = Window(0, 20 * 86400)
        chunks = w.chunks(timedelta(days=7))
        assert [c.seconds for c in chunks] == [7 * 86400, 7 * 86400, 6 * 86400]
        assert chunks[-1].end == w.end


def test_shanghai_datetime_format_round_trips():
    # 1700000000 is 2023-11-15 06:13:20 in GMT+8 (the reference's sign vector #2).
    assert format_time(1_700_000_000, "shanghai_datetime") == "2023-11-15 06:13:20"
    assert parse_time("2023-11-15 06:13:20", "shanghai_datetime") == 1_700_000_000


@pytest.mark.parametrize("value", [None, "", "None"])
def test_empty_template_renderings_mean_unset(value):
    assert parse_datetime(value) is None


def test_naive_datetimes_are_utc():
    assert parse_datetime("2026-11-22T08:00:00") == datetime(2026, 11, 22, 8, tzinfo=timezone.utc)
