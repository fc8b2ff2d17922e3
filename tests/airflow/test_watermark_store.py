"""The Variable-backed contiguous watermark: its format, the migration and concurrent updates."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_douyin.streams.windows import WatermarkState, Window
from airflow_provider_douyin.transfers import watermarks
from airflow_provider_douyin.transfers.watermarks import VariableWatermark, dump_state, load_state

T0 = int(datetime(2026, 11, 20, tzinfo=timezone.utc).timestamp())
HOUR = 3600


class FakeVariables:
    """A Variable backend; ``interleave`` writes another task's state right after our next write."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.interleave: list[str] = []
        self.sets = 0

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.sets += 1
        self.values[key] = value
        if self.interleave:
            self.values[key] = self.interleave.pop(0)


@pytest.fixture
def variables(monkeypatch) -> FakeVariables:
    fake = FakeVariables()
    monkeypatch.setattr(watermarks, "Variable", fake)
    return fake


def test_state_round_trips_as_readable_json():
    state = WatermarkState(T0, (Window(T0, T0 + HOUR), Window(T0 + 2 * HOUR, T0 + 3 * HOUR)))
    raw = dump_state(state)
    assert json.loads(raw) == {
        "origin": "2026-11-20T00:00:00+00:00",
        "done": [
            ["2026-11-20T00:00:00+00:00", "2026-11-20T01:00:00+00:00"],
            ["2026-11-20T02:00:00+00:00", "2026-11-20T03:00:00+00:00"],
        ],
    }
    assert load_state(raw) == state


def test_a_plain_timestamp_of_the_earlier_format_becomes_the_watermark(variables):
    store = VariableWatermark("c", "orders", "t")
    variables.values[store.key] = "2026-11-20T00:00:00+00:00"
    assert store.get() == datetime(2026, 11, 20, tzinfo=timezone.utc)
    # A window after a gap does not move it; the migrated value is rewritten in the new format.
    state = store.record(Window(T0 + HOUR, T0 + 2 * HOUR))
    assert state.watermark == T0
    assert json.loads(variables.values[store.key])["origin"] == "2026-11-20T00:00:00+00:00"


def test_the_first_run_fixes_the_origin_before_it_reads(variables):
    store = VariableWatermark("c", "orders", "t")
    store.begin(Window(T0, T0 + HOUR))  # W1 starts ... and is killed
    store.begin(Window(T0 + HOUR, T0 + 2 * HOUR))  # W2 starts later: the origin stays
    store.record(Window(T0 + HOUR, T0 + 2 * HOUR))  # W2 succeeds
    assert store.get() == datetime.fromtimestamp(T0, timezone.utc)


def test_an_earlier_window_starting_later_moves_the_origin_back(variables):
    store = VariableWatermark("c", "orders", "t")
    store.begin(Window(T0 + 2 * HOUR, T0 + 3 * HOUR))
    store.record(Window(T0 + 2 * HOUR, T0 + 3 * HOUR))
    store.begin(Window(T0, T0 + HOUR))  # e.g. mapped window 0 started after window 2 finished
    assert store.get() == datetime.fromtimestamp(T0, timezone.utc)
    # Once it is landed, the hour between it and the old origin stays out of scope, as before.
    assert store.record(Window(T0, T0 + HOUR)).watermark == T0 + 3 * HOUR


def test_a_concurrent_writer_between_read_and_write_keeps_both_windows(variables):
    store = VariableWatermark("c", "orders", "t")
    store.begin(Window(T0, T0 + HOUR))
    other = WatermarkState(T0).with_done(Window(T0 + 2 * HOUR, T0 + 3 * HOUR))
    variables.interleave = [dump_state(other)]  # the other task's stale write lands over ours
    state = store.record(Window(T0, T0 + HOUR))
    assert state.done == (Window(T0, T0 + HOUR), Window(T0 + 2 * HOUR, T0 + 3 * HOUR))
    assert load_state(variables.values[store.key]) == state
    assert variables.sets == 3  # begin, the overwritten write, the merged rewrite
