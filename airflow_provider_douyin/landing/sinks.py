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
    """All tables of a stream on one connection for the whole sync; each flush is one transaction.

    A context manager: the connection is opened (and the tables ensured) on entry and closed on
    exit, rolled back if the sync failed.
    """

    def __init__(self, hook: Any, tables: Sequence[Table], *, table_prefix: str = "douyin_") -> None:
        self._writer = SqlBatchWriter([SqlLanding(hook, t, table_prefix=table_prefix) for t in tables])

    @property
    def tables(self) -> Collection[str]:
        return self._writer.landings.keys()

    def __enter__(self) -> SqlStreamSink:
        self._writer.__enter__()
        try:
            self._writer.ensure_tables()
        except BaseException as exc:
            self._writer.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        return self._writer.__exit__(*exc_info)

    def write(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        self._writer.write(rows)

    def finish(self) -> Mapping[str, Mapping[str, Any]]:
        return {
            name: _sql_stats(landing, self._writer.results[name])
            for name, landing in self._writer.landings.items()
        }


class SqlTableSink:
    """One table on its own connections; :class:`SqlStreamSink` keeps a stream's tables in step."""

    def __init__(
        self, hook: Any, table: Table, *, table_prefix: str = "douyin_", batch_size: int = 1000
    ) -> None:
        self.landing = SqlLanding(hook, table, table_prefix=table_prefix, batch_size=batch_size)
        self.landing.ensure_table()
        self.result = UpsertResult(0, 0, 0)

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.result = self.result + self.landing.upsert(rows)

    def close(self) -> Mapping[str, Any]:
        return _sql_stats(self.landing, self.result)


def snapshot_window(now: datetime | None = None) -> Window:
    """Snapshot streams land per UTC day, so a same-day rerun overwrites its folder."""
    day = (
        (now or datetime.now(timezone.utc))
        .astimezone(timezone.utc)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    return Window.from_datetimes(day, day + timedelta(days=1))


class StorageTableSink:
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
        start, end = (datetime.fromtimestamp(t, timezone.utc) for t in (self.window.start, self.window.end))
        try:
            return self.landing.write_window(start, end, self._spooled())
        finally:
            self._spool.close()
