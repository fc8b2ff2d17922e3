"""A read raises the collector's young threshold while it runs, and leaves the process as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.garbage import YOUNG_THRESHOLD, fewer_collections
from airflow_provider_douyin.streams.reader import StreamReader
from tests.streams.test_exactness import full_history, make_client, wait_past


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_raised_while_reading_and_restored_after_success_or_error() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the read failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_reads_restore_when_the_last_one_ends() -> None:
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the second read is still running
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("threshold", [(0, 10, 10), (50_000, 5, 5)])
def test_a_process_tuned_by_its_owner_is_left_alone(threshold: tuple[int, int, int]) -> None:
    gc.set_threshold(*threshold)
    with fewer_collections():
        assert gc.get_threshold() == threshold
    assert gc.get_threshold() == threshold


def test_a_change_made_during_the_read_survives_it() -> None:
    with fewer_collections():
        gc.set_threshold(2_000, 10, 10)
    assert gc.get_threshold() == (2_000, 10, 10)


def test_the_stream_reader_reads_under_the_raised_threshold(douyin_sandbox_factory) -> None:
    server = douyin_sandbox_factory(orders=150, seed=2)
    wait_past(2)
    reader = StreamReader(make_client(server).request, get_stream("orders"))
    seen = [gc.get_threshold()[0] for _ in reader.read(full_history())]
    assert seen and set(seen) == {YOUNG_THRESHOLD}
    assert gc.get_threshold() == (700, 10, 10)
