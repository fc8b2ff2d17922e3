"""Per-(connection, stream) sync watermarks in Airflow Variables.

A watermark is only moved forward, and only after the rows behind it are committed,
so a failed run re-reads its window next time instead of skipping it.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from airflow.sdk import Variable


def watermark_key(conn_id: str, stream: str, target: str) -> str:
    """One watermark per connection, stream and target: two targets of one stream advance separately."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"douyin_watermark__{conn_id}__{stream}__{target}")


class VariableWatermark:
    def __init__(self, conn_id: str, stream: str, target: str) -> None:
        self.key = watermark_key(conn_id, stream, target)

    def get(self) -> datetime | None:
        raw = Variable.get(self.key, default=None)
        return datetime.fromisoformat(raw) if raw else None

    def advance(self, end: datetime) -> datetime:
        """Store ``end`` unless the stored watermark is already later; return the stored value."""
        end = end.astimezone(timezone.utc)
        current = self.get()
        if current is not None and current >= end:
            return current
        Variable.set(self.key, end.isoformat())
        return end
