"""Sinks that connect a sync (``streams.sync``) to the landing targets.

SQL rows are upserted flush by flush as they arrive, every table of a flush in one transaction
on the sync's one connection (:class:`SqlStreamSink`). Object-storage rows are spooled to a
local temporary file and written as one window when the sync succeeds, so a failed sync never
leaves a partial window behind and memory stays flat.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_douyin.landing.forked import ForkedSink, can_fork, pin_connection
from airflow_provider_douyin.landing.live_rooms import LiveRoomSales
from airflow_provider_douyin.landing.sql import SqlBatchWriter, SqlLanding, UpsertResult
from airflow_provider_douyin.landing.storage import StorageLanding
from airflow_provider_douyin.streams.schema import Table
from airflow_provider_douyin.streams.windows import Window


def _sql_stats(landing: SqlLanding, result: UpsertResult) -> dict[str, Any]:
    return {
        "table": landing.table_name,
        "rows_received": result.rows_received,
        "rows_written": result.rows_written,
    }


class SqlStreamSink:
    """All tables of a stream on one connection for the whole sync; rows are written as they come and
    each flush (up to :meth:`commit`) is one transaction.

    A context manager: on entry the tables are ensured (which opens the connection, so even an
    empty window creates them); on exit the connection is closed, after a rollback if the sync
    failed.

    :param live_rooms: also keep the live-room sales tables (``landing.live_rooms``) equal to the
        landed orders: a successful sync recomputes every room its sku orders or after-sales touch.
    """

    def __init__(
        self, hook: Any, tables: Sequence[Table], *, table_prefix: str = "douyin_", live_rooms: bool = False
    ) -> None:
        self._writer = SqlBatchWriter([SqlLanding(hook, t, table_prefix=table_prefix) for t in tables])
        self._live_rooms = LiveRoomSales(hook, table_prefix=table_prefix) if live_rooms else None

    @property
    def tables(self) -> Collection[str]:
        return self._writer.landings.keys()

    def __enter__(self) -> SqlStreamSink:
        self._writer.ensure_tables()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        self._writer.close(rollback=exc_type is not None)

    def write(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        self._writer.stage(rows)
        if self._live_rooms is not None:
            self._live_rooms.collect(rows)

    def commit(self) -> None:
        self._writer.commit()

    def finish(self) -> Mapping[str, Mapping[str, Any]]:
        self._writer.commit()
        if self._live_rooms is not None:
            self._writer.run(self._live_rooms.refresh)
        return {
            name: _sql_stats(landing, self._writer.results[name])
            for name, landing in self._writer.landings.items()
        }


def open_sql_sink(
    hook: Any,
    tables: Sequence[Table],
    *,
    table_prefix: str = "douyin_",
    live_rooms: bool = False,
    forked: bool = True,
) -> SqlStreamSink | ForkedSink:
    """The SQL sink of a transfer: a :class:`SqlStreamSink`, in a forked child where the platform can
    fork (``landing.forked``: the reading process keeps its CPU for reading), else in this process."""

    def build() -> SqlStreamSink:
        return SqlStreamSink(hook, tables, table_prefix=table_prefix, live_rooms=live_rooms)

    if not (forked and can_fork()):
        return build()
    pin_connection(hook)
    return ForkedSink(build, [t.name for t in tables])


class SqlTableSink:
    """One table on one connection, held from construction (which ensures the table) to :meth:`close`;
    every ``batch_size`` rows are one transaction. :class:`SqlStreamSink` keeps a stream's tables in step.

    Also a context manager, which closes the connection however the block ends.
    """

    def __init__(
        self, hook: Any, table: Table, *, table_prefix: str = "douyin_", batch_size: int = 1000
    ) -> None:
        self.landing = SqlLanding(hook, table, table_prefix=table_prefix, batch_size=batch_size)
        self._writer = SqlBatchWriter([self.landing])
        self._writer.ensure_tables()

    @property
    def result(self) -> UpsertResult:
        return self._writer.results[self.landing.table.name]

    def write(self, rows: list[dict[str, Any]]) -> None:
        for batch in SqlLanding._batches(rows, self.landing.batch_size):
            self._writer.write({self.landing.table.name: batch})

    def close(self) -> Mapping[str, Any]:
        """Release the connection (every batch is already committed) and return the table's stats."""
        self._writer.close()
        return _sql_stats(self.landing, self.result)

    def __enter__(self) -> SqlTableSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        self._writer.close(rollback=exc_type is not None)


def snapshot_window(now: datetime | None = None) -> Window:
    """Snapshot streams land per UTC day, so a same-day rerun overwrites its folder."""
    day = (
        (now or datetime.now(timezone.utc))
        .astimezone(timezone.utc)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    return Window.from_datetimes(day, day + timedelta(days=1))


class StorageTableSink:
    """One table's window, spooled to a temporary file and written by :meth:`close`.

    Also a context manager: leaving the block discards the spool, so a failed or empty sync
    writes nothing and leaves no temporary file open.
    """

    def __init__(
        self,
        base: Any,
        table: Table,
        window: Window | None,
        *,
        format: str = "jsonl.gz",
        table_prefix: str = "douyin_",
    ) -> None:
        self.landing = StorageLanding(base, table, format=format, table_prefix=table_prefix)
        self.window = window or snapshot_window()
        self._spool = tempfile.TemporaryFile(prefix=f"douyin-{table.name}-")  # noqa: SIM115 (closed in close())

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._spool.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode())
            self._spool.write(b"\n")

    def _spooled(self) -> Iterator[dict[str, Any]]:
        self._spool.seek(0)
        for line in self._spool:
            yield json.loads(line)

    def close(self) -> Mapping[str, Any]:
        """Write the spooled rows as the window (parts, then manifest) and return the manifest."""
        start, end = (datetime.fromtimestamp(t, timezone.utc) for t in (self.window.start, self.window.end))
        try:
            return self.landing.write_window(start, end, self._spooled())
        finally:
            self._spool.close()

    def __enter__(self) -> StorageTableSink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._spool.close()
