from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.windows import (
    SHANGHAI,
    WatermarkState,
    Window,
    WindowOutOfRangeError,
    clamp_to_history,
    format_time,
    latest_readable_end,
    merge_windows,
    parse_datetime,
    parse_time,
    publication_horizon,
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
    # 1700000000 is 2023-11-15 06:13:20 in GMT+8.
    assert format_time(1_700_000_000, "shanghai_datetime") == "2023-11-15 06:13:20"
    assert parse_time("2023-11-15 06:13:20", "shanghai_datetime") == 1_700_000_000


@pytest.mark.parametrize("value", [None, "", "None"])
def test_empty_template_renderings_mean_unset(value):
    assert parse_datetime(value) is None


def test_naive_datetimes_are_utc():
    assert parse_datetime("2026-11-22T08:00:00") == datetime(2026, 11, 22, 8, tzinfo=timezone.utc)


# -- publication horizon ------------------------------------------------------------------------
SETTLEMENTS = get_stream("settlements").window.publication


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


class TestPublicationHorizon:
    @pytest.mark.parametrize(
        ("now", "horizon"),
        [
            (shanghai(22, 15, 0), shanghai(22, 0)),  # day 21 became final at 15:00 on day 22
            (shanghai(22, 14, 59), shanghai(21, 0)),  # one minute earlier only day 20 is final
            (shanghai(22, 23, 59), shanghai(22, 0)),
            (shanghai(23, 0, 30), shanghai(22, 0)),  # midnight changes nothing before 15:00
            (shanghai(23, 15, 0), shanghai(23, 0)),
        ],
    )
    def test_day_d_is_readable_from_d_plus_1_at_15_shanghai(self, now, horizon):
        assert publication_horizon(SETTLEMENTS, now) == horizon
        assert publication_horizon(SETTLEMENTS, now.astimezone(timezone.utc)) == horizon

    def test_streams_that_are_searchable_at_once_have_no_horizon(self):
        assert publication_horizon(None, NOW) is None
        for name in ("orders", "after_sales"):
            assert get_stream(name).window.publication is None
        assert get_stream("products").window is None  # a snapshot: no window at all
        assert get_stream("account_flows").window.publication == SETTLEMENTS

    def test_latest_readable_end_is_the_earlier_of_lag_and_horizon(self):
        now = shanghai(22, 16, 0)
        assert latest_readable_end(now, safety_lag=LAG, publication=SETTLEMENTS) == shanghai(22, 0)
        assert latest_readable_end(now, safety_lag=LAG) == now - LAG
        # A horizon later than now - lag never extends the read.
        just_final = shanghai(22, 15, 1)
        assert latest_readable_end(just_final, safety_lag=timedelta(days=1), publication=SETTLEMENTS) == (
            just_final - timedelta(days=1)
        )


class TestWindowClampToHorizon:
    now = shanghai(22, 16, 0)

    def resolve(self, start, end, watermark=None):
        return resolve_sync_window(
            start,
            end,
            watermark=watermark,
            now=self.now,
            lookback=LOOKBACK,
            safety_lag=LAG,
            initial_window=timedelta(days=1),
            publication=SETTLEMENTS,
            stream="settlements",
        )

    def test_watermark_run_without_a_logical_date_stops_at_the_horizon(self, caplog):
        got = self.resolve(None, None, watermark=shanghai(20, 0))
        assert got.source == "watermark"
        assert got.window == Window(ts(shanghai(20, 0) - LOOKBACK), ts(shanghai(22, 0)))
        assert "publication horizon" in caplog.text

    def test_explicit_window_beyond_the_horizon_is_read_up_to_it(self, caplog):
        got = self.resolve(shanghai(21, 0), shanghai(23, 0))
        assert got.source == "interval"
        assert got.window == Window(ts(shanghai(21, 0) - LOOKBACK), ts(shanghai(22, 0)))
        assert "publication horizon" in caplog.text

    def test_window_entirely_beyond_the_horizon_is_empty(self):
        got = self.resolve(shanghai(22, 12), shanghai(22, 15))
        assert got.window.seconds == 0

    def test_window_before_the_horizon_is_untouched_and_not_logged(self, caplog):
        got = self.resolve(shanghai(20, 0), shanghai(21, 0))
        assert got.window == Window(ts(shanghai(20, 0) - LOOKBACK), ts(shanghai(21, 0)))
        assert "horizon" not in caplog.text


# -- the contiguous watermark ---------------------------------------------------------------------
class TestMergeWindows:
    def test_overlapping_and_touching_windows_coalesce(self):
        got = merge_windows([Window(50, 60), Window(0, 10), Window(10, 20), Window(15, 30)], since=0)
        assert got == (Window(0, 30), Window(50, 60))

    def test_windows_are_clipped_to_the_origin_and_empty_ones_dropped(self):
        got = merge_windows([Window(0, 5), Window(8, 12), Window(20, 20)], since=10)
        assert got == (Window(10, 12),)


class TestWatermarkState:
    def test_a_failed_window_keeps_the_watermark_behind_it(self):
        # W1 = [100, 200) started (the origin) but was killed; W2 = [200, 300) succeeded.
        state = WatermarkState(origin=100).with_done(Window(200, 300))
        assert state.watermark == 100
        # Reading from the watermark closes the gap, and the state collapses to one window.
        state = state.with_done(Window(90, 400))
        assert state.watermark == 400
        assert state.done == (Window(100, 400),)

    def test_later_windows_wait_for_the_gap_then_join_the_prefix(self):
        state = WatermarkState(origin=0).with_done(Window(0, 10)).with_done(Window(20, 30))
        assert state.watermark == 10
        state = state.with_done(Window(10, 20))
        assert (state.watermark, state.done) == (30, (Window(0, 30),))

    def test_union_keeps_both_writers_windows_and_the_earlier_origin(self):
        a = WatermarkState(origin=10).with_done(Window(10, 20))
        b = WatermarkState(origin=15).with_done(Window(30, 40))
        merged = a.union(b)
        assert merged == WatermarkState(10, (Window(10, 20), Window(30, 40)))
        assert merged.covers(a) and merged.covers(b) and not a.covers(merged)

    def test_a_run_starting_before_the_origin_moves_it_back_without_new_demands(self):
        state = WatermarkState(origin=100).with_done(Window(100, 150))
        assert state.begun(Window(120, 200)) == state
        moved = state.begun(Window(40, 60))
        assert moved.watermark == 40  # the earlier window must land before the mark moves
        assert moved.with_done(Window(40, 60)).watermark == 150  # [60, 100) was out of scope
