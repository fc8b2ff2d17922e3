"""Per-table sinks that connect a sync (``streams.sync``) to the landing targets.

SQL rows are upserted batch by batch as they arrive. Object-storage rows are spooled to
a local temporary file and written as one window when the sync succeeds, so a failed
sync never leaves a partial window behind and memory stays flat.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_douyin.landing.sql import SqlLanding, UpsertResult
from airflow_provider_douyin.landing.storage import StorageLanding
from airflow_provider_douyin.streams.schema import Table
from airflow_provider_douyin.streams.windows import Window


class SqlTableSink:
    def __init__(
        self, hook: Any, table: Table, *, table_prefix: str = "douyin_", batch_size: int = 1000
    ) -> None:
        self.landing = SqlLanding(hook, table, table_prefix=table_prefix, batch_size=batch_size)
        self.landing.ensure_table()
        self.result = UpsertResult(0, 0, 0)

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.result = self.result + self.landing.upsert(rows)

    def close(self) -> Mapping[str, Any]:
        return {
            "table": self.landing.table_name,
            "rows_received": self.result.rows_received,
            "rows_written": self.result.rows_written,
        }


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
