"""One sync: read a stream for a window and hand rows to a sink per table, in bounded batches.

Airflow-free so that benchmarks and tests drive exactly the code the operators run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_douyin.streams.catalog import Stream
from airflow_provider_douyin.streams.reader import ApiCall, InnerCodeCheck, StreamReader
from airflow_provider_douyin.streams.windows import Window

log = logging.getLogger(__name__)


class TableSink(Protocol):
    """Where one table's rows go. ``write`` gets bounded batches; ``close`` commits what is left."""

    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> Mapping[str, Any]: ...


@dataclass
class SyncResult:
    stream: str
    window: Window | None
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    sinks: dict[str, Mapping[str, Any]] = field(default_factory=dict)

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
    sinks: Mapping[str, TableSink],
    *,
    check_inner_code: InnerCodeCheck | None = None,
    batch_rows: int = 2_000,
    max_workers: int = 8,
) -> SyncResult:
    """Land every record of ``stream`` in ``window``; rows reach a sink at most ``batch_rows`` at a time."""
    missing = {b.table.name for b in stream.tables} - set(sinks)
    if missing:
        raise ValueError(f"no sink for tables {sorted(missing)}")
    started = time.monotonic()
    reader = StreamReader(call, stream, check_inner_code=check_inner_code, max_workers=max_workers)
    buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in sinks}
    for batch in reader.read(window):
        for table, rows in batch.items():
            buffer = buffers[table]
            buffer.extend(rows)
            if len(buffer) >= batch_rows:
                sinks[table].write(buffer)
                buffers[table] = []
    result = SyncResult(stream=stream.name, window=window)
    for table, buffer in buffers.items():
        if buffer:
            sinks[table].write(buffer)
        result.sinks[table] = sinks[table].close()
    result.rows = {t: reader.progress.rows.get(t, 0) for t in sinks}
    result.requests = reader.progress.requests
    result.seconds = time.monotonic() - started
    log.info("Synced stream %s: %s", stream.name, reader.progress.summary())
    return result
