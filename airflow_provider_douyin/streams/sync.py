"""One sync: read a stream for a window and hand its rows to a sink, committed in bounded flushes.

Each emitted batch (a page's records: an order with all its items) goes to the sink as it arrives,
and every ~``batch_rows`` rows the sink commits them as one flush, so a SQL sink never lands a parent
without its children, and the writing overlaps the reading: when the last page arrives only it is
left to write before the final commit.

Airflow-free so that benchmarks and tests drive exactly the code the operators run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.streams.catalog import Stream
from airflow_provider_douyin.streams.reader import ApiCall, StreamReader
from airflow_provider_douyin.streams.windows import Window

log = get_logger(__name__)


ROUND_TRIP_ALLOWANCE = 0.3
"""Seconds of round trip the default concurrency allows for. A walk asks for its next page only
after the last one came back, so filling ``qps`` takes about ``qps`` × round trip requests in flight."""


def workers_for(qps: float) -> int:
    """Concurrent requests that fill ``qps`` at round trips up to ``ROUND_TRIP_ALLOWANCE``: at least 8
    (every slice of a small window at once), at most 64."""
    return min(64, max(8, math.ceil(qps * ROUND_TRIP_ALLOWANCE)))


class TableSink(Protocol):
    """Where one table's rows go. ``write`` gets bounded batches; ``close`` commits what is left."""

    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> Mapping[str, Any]: ...


class StreamSink(Protocol):
    """Where all tables of a sync go. ``write`` adds ``{table: rows}`` to the open flush, ``commit``
    ends the flush (one transaction on SQL targets); ``finish`` commits the rest, ends a successful
    sync and returns per-table stats. Leaving a sink after a failure discards the open flush."""

    @property
    def tables(self) -> Collection[str]: ...

    def write(self, rows: Mapping[str, list[dict[str, Any]]]) -> None: ...

    def commit(self) -> None: ...

    def finish(self) -> Mapping[str, Mapping[str, Any]]: ...


class TableSinks:
    """A :class:`StreamSink` over independent per-table sinks, which commit whatever they are given:
    rows are held here until the flush ends, so a read that fails first hands them nothing."""

    def __init__(self, sinks: Mapping[str, TableSink]) -> None:
        self.sinks = dict(sinks)
        self._held: dict[str, list[dict[str, Any]]] = {table: [] for table in self.sinks}

    @property
    def tables(self) -> Collection[str]:
        return self.sinks.keys()

    def write(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        for table, batch in rows.items():
            self._held[table].extend(batch)

    def commit(self) -> None:
        for table, batch in self._held.items():
            if batch:
                self.sinks[table].write(batch)
                self._held[table] = []

    def finish(self) -> Mapping[str, Mapping[str, Any]]:
        self.commit()
        return {table: sink.close() for table, sink in self.sinks.items()}


@dataclass
class SyncResult:
    stream: str
    window: Window | None
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0

    def as_xcom(self) -> dict[str, Any]:
        start, end = self.window.isoformat() if self.window else (None, None)
        return {
            "stream": self.stream,
            "window_start": start,
            "window_end": end,
            "rows": dict(self.rows),
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
        }


def run_sync(
    call: ApiCall,
    stream: Stream,
    window: Window | None,
    sink: StreamSink | Mapping[str, TableSink],
    *,
    batch_rows: int = 2_000,
    max_workers: int = 8,
) -> SyncResult:
    """Land every record of ``stream`` in ``window``; a flush commits ~``batch_rows`` rows of all tables."""
    if isinstance(sink, Mapping):
        sink = TableSinks(sink)
    missing = {b.table.name for b in stream.tables} - set(sink.tables)
    if missing:
        raise ValueError(f"no sink for tables {sorted(missing)}")
    started = time.monotonic()
    reader = StreamReader(call, stream, max_workers=max_workers)
    uncommitted = 0
    for batch in reader.read(window):
        sink.write(batch)
        uncommitted += sum(len(rows) for rows in batch.values())
        if uncommitted >= batch_rows:
            sink.commit()
            uncommitted = 0
    sink.finish()
    result = SyncResult(stream=stream.name, window=window)
    result.rows = {t: reader.progress.rows.get(t, 0) for t in sink.tables}
    result.requests = reader.progress.requests
    result.seconds = time.monotonic() - started
    log.info("Synced stream %s: %s", stream.name, reader.progress.summary())
    return result
