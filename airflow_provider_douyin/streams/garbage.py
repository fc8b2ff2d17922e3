"""Fewer cyclic-garbage collections while pages are read.

A page of 100 orders decodes to some 30,000 dicts and lists, which live for the few milliseconds
it takes to turn them into rows. At CPython's default threshold (a collection every 700 new
containers) most of them are still alive when a collection runs, so they are promoted, and the
older generations fill and are collected too. Each full collection walks every object of the
process, Airflow's included. At QPS 50 the collector took a fifth of the reader's CPU. With a
threshold of 10,000, a page's objects are freed by reference counting before a collection sees
them.

Records are trees, and nothing the reader makes holds a cycle, so collecting less often frees the
same memory: only cycles wait for the collector, and they wait a little longer.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
"""New containers between two young-generation collections while a read runs (CPython's default is 700)."""

_lock = threading.Lock()
_readers = 0
_saved: tuple[int, ...] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young-generation threshold to at least ``YOUNG_THRESHOLD`` while any read runs.

    Reads may overlap (threads of one process), so the first one in saves the thresholds and the
    last one out restores them, unless something else changed them in between.
    """
    global _readers, _saved
    with _lock:
        _readers += 1
        if _readers == 1:
            current = gc.get_threshold()
            if current[0] and current[0] < YOUNG_THRESHOLD:  # 0: collection is switched off
                _saved = current
                gc.set_threshold(YOUNG_THRESHOLD, *current[1:])
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0 and _saved is not None:
                if gc.get_threshold() == (YOUNG_THRESHOLD, *_saved[1:]):
                    gc.set_threshold(*_saved)
                _saved = None
