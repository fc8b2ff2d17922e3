"""Per-(connection, stream, target) sync watermarks in Airflow Variables.

The Variable holds a :class:`~airflow_provider_douyin.streams.windows.WatermarkState` as JSON,
``{"origin": iso, "done": [[start_iso, end_iso], ...]}``: where the target's history starts and
the windows landed since. A window is recorded only after its rows are committed, and the
watermark is the end of the contiguous done prefix, so a failed range is read again, never
skipped. A plain ISO timestamp (the earlier format) reads as ``origin`` = that instant.

Variables have no compare-and-swap. An update re-reads the Variable, merges, writes and reads
it back, retrying while the stored state lacks what it wrote, which covers two tasks updating
the same Variable unless their writes interleave within one read-back. Losing an update that
way can only drop a done window from the record (it is read again next time): every state
written is a union of windows that really were landed, so the watermark can never jump over a
window that was not.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timezone

from airflow.sdk import Variable

from airflow_provider_douyin.streams.windows import WatermarkState, Window, merge_windows, parse_datetime

UPDATE_ATTEMPTS = 5


def stream_variable_key(kind: str, conn_id: str, stream: str, target: str) -> str:
    """``douyin_<kind>__<conn>__<stream>__<target>``, with characters a Variable key should not hold
    replaced: the one naming of per-stream, per-target state (watermarks, reconciliations)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"douyin_{kind}__{conn_id}__{stream}__{target}")


def watermark_key(conn_id: str, stream: str, target: str) -> str:
    """One watermark per connection, stream and target: two targets of one stream advance separately."""
    return stream_variable_key("watermark", conn_id, stream, target)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _epoch(text: str) -> int:
    return math.floor(parse_datetime(text).timestamp())


def dump_state(state: WatermarkState) -> str:
    return json.dumps(
        {"origin": _iso(state.origin), "done": [[_iso(w.start), _iso(w.end)] for w in state.done]}
    )


def load_state(raw: str | None) -> WatermarkState | None:
    """Parse the stored JSON state; a plain ISO timestamp (earlier format) becomes the origin."""
    if not raw:
        return None
    if not raw.lstrip().startswith("{"):
        return WatermarkState(origin=_epoch(raw.strip()))
    data = json.loads(raw)
    origin = _epoch(data["origin"])
    done = (Window(_epoch(start), _epoch(end)) for start, end in data.get("done", ()))
    return WatermarkState(origin, merge_windows(done, since=origin))


class VariableWatermark:
    def __init__(self, conn_id: str, stream: str, target: str) -> None:
        self.key = watermark_key(conn_id, stream, target)

    def state(self) -> WatermarkState | None:
        return load_state(Variable.get(self.key, default=None))

    def get(self) -> datetime | None:
        """The watermark: every second between the origin and it is landed."""
        state = self.state()
        return datetime.fromtimestamp(state.watermark, timezone.utc) if state else None

    def begin(self, window: Window) -> None:
        """Before a run reads ``window``: the first run fixes where the history starts, an earlier
        window moves that start back (see :meth:`WatermarkState.begun`)."""
        state = self.state()
        if state is None or window.start < state.origin:
            self._update(lambda current: current.begun(window) if current else WatermarkState(window.start))

    def record(self, window: Window) -> WatermarkState:
        """Record ``window`` as landed (call only after its rows are committed); return the stored state."""
        return self._update(lambda current: (current or WatermarkState(window.start)).with_done(window))

    def _update(self, change: Callable[[WatermarkState | None], WatermarkState]) -> WatermarkState:
        wanted = change(self.state())
        for _ in range(UPDATE_ATTEMPTS):
            Variable.set(self.key, dump_state(wanted))
            stored = self.state()
            if stored is not None and stored.covers(wanted):
                return stored
            # Another task wrote in between: keep its windows and ours, and write again.
            wanted = wanted.union(stored) if stored is not None else wanted
        return wanted
