"""Compact columnar storage with time indexes, version history for visibility lag, and
sorted event logs for the cursor-paged finance APIs.

A million orders as Python dicts would need gigabytes; here a row costs a few dozen bytes
in ``array`` columns and API dicts are materialised only for the page being served.
"""

from __future__ import annotations

import bisect
from array import array
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Sequence
from typing import Any

TIME_BASE = 1_500_000_000
"""Index keys store ``time - TIME_BASE`` in the high bits (valid until 2051)."""
_IDX_BITS = 31
_IDX_MASK = (1 << _IDX_BITS) - 1


def _ukey(update_time: int, idx: int) -> int:
    return ((update_time - TIME_BASE) << _IDX_BITS) | idx


class Selection:
    """An ordered result set exposed by length and slices, without building a full list
    when the answer is a contiguous run of an index."""

    def __init__(self, length: int, getter: Callable[[int], int]) -> None:
        self._length = length
        self._get = getter

    def __len__(self) -> int:
        return self._length

    def slice(self, start: int, stop: int) -> list[int]:
        return [self._get(i) for i in range(max(start, 0), min(stop, self._length))]

    @classmethod
    def of_list(cls, items: Sequence[int]) -> Selection:
        return cls(len(items), items.__getitem__)


class Table:
    """Rows in typed columns. ``created_col`` must be non-decreasing in row order (rows are
    appended in creation order); ``update`` is indexed by ``(update, idx)``.

    With a visibility lag, each change is recorded as a version that search may show only
    once ``changed_at + lag`` has passed; ``row`` always returns the latest version.
    """

    def __init__(self, columns: Sequence[tuple[str, str]], created_col: str) -> None:
        self.names = tuple(name for name, _ in columns)
        self.cols = {name: array(code) for name, code in columns}
        self.Row = namedtuple("Row", self.names)  # type: ignore[misc]
        self.created_col = created_col
        self.update_index = array("q")
        self.version = 0
        self._pending: dict[int, tuple[Any, list[tuple[float, Any]]]] = {}
        self._cache: OrderedDict[tuple, list[int]] = OrderedDict()
        self.listener: Callable[[int, Any, Any], None] | None = None
        """Called as ``listener(idx, before, after)`` after every ``append`` (``before`` is ``None``)
        and ``update``, never by ``load``: generated history happened before anyone listened."""

    def __len__(self) -> int:
        return len(self.cols[self.created_col])

    def row(self, idx: int) -> Any:
        return self.Row(*(self.cols[n][idx] for n in self.names))

    def rows(self) -> Iterator[tuple[int, Any]]:
        """``(idx, latest version)`` of every row, in row order."""
        for idx in range(len(self)):
            yield idx, self.row(idx)

    def load(self, rows: Sequence[Sequence[int]]) -> None:
        """Bulk-load generated rows (already in creation order) and build the update index."""
        for pos, name in enumerate(self.names):
            self.cols[name].extend(r[pos] for r in rows)
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the update index after columns were filled directly."""
        updates = self.cols["update"]
        self.update_index = array("q", sorted(_ukey(updates[i], i) for i in range(len(updates))))
        self.version += 1

    def append(self, values: dict[str, int], lag: float) -> int:
        idx = len(self)
        for name in self.names:
            self.cols[name].append(values[name])
        self.update_index.append(_ukey(values["update"], idx))
        if lag > 0:
            self._pending[idx] = (None, [(values["update"] + lag, self.row(idx))])
        self.version += 1
        if self.listener is not None:
            self.listener(idx, None, self.row(idx))
        return idx

    def update(self, idx: int, changes: dict[str, int], lag: float) -> None:
        """Change a row; ``changes`` must include the new ``update`` time."""
        before = self.row(idx)
        pos = bisect.bisect_left(self.update_index, _ukey(before.update, idx))
        del self.update_index[pos]
        for name, value in changes.items():
            self.cols[name][idx] = value
        bisect.insort(self.update_index, _ukey(changes["update"], idx))
        if lag > 0:
            entry = self._pending.get(idx)
            if entry is None or entry[1][-1][0] <= changes["update"]:
                entry = (before, [])
            base, versions = entry
            versions.append((changes["update"] + lag, self.row(idx)))
            self._pending[idx] = (base, versions)
        self.version += 1
        if self.listener is not None:
            self.listener(idx, before, self.row(idx))

    def visible_row(self, idx: int, now: float) -> Any:
        """The version search may show at ``now`` (``None`` if the row is not visible yet)."""
        entry = self._pending.get(idx)
        if entry is None:
            return self.row(idx)
        base, versions = entry
        shown = base
        for visible_at, state in versions:
            if visible_at <= now:
                shown = state
        return shown

    def _prune(self, now: float) -> None:
        done = [i for i, (_, versions) in self._pending.items() if versions[-1][0] <= now]
        for i in done:
            del self._pending[i]

    def search(
        self,
        now: float,
        ranges: dict[str, tuple[int, int]],
        members: dict[str, frozenset[int]],
        order_col: str,
        asc: bool,
    ) -> Selection:
        """Rows with ``lo <= col < hi`` for every range and ``col in set`` for every member
        filter (``_idx`` filters the row index), ordered by ``(order_col, idx)``."""
        self._prune(now)
        simple = not members and not self._pending and len(ranges) <= 1 and set(ranges) <= {order_col}
        if simple and order_col in ("update", self.created_col):
            return self._run(ranges.get(order_col), order_col, asc)
        key = (tuple(sorted(ranges.items())), tuple(sorted(members.items())), order_col, asc, self.version)
        if not self._pending and key in self._cache:
            self._cache.move_to_end(key)
            return Selection.of_list(self._cache[key])
        result = self._filtered(now, ranges, members, order_col, asc)
        if not self._pending:
            self._cache[key] = result
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return Selection.of_list(result)

    def _run(self, bounds: tuple[int, int] | None, col: str, asc: bool) -> Selection:
        """A contiguous run of the update index or of the creation order."""
        if col == "update":
            index = self.update_index
            lo, hi = (
                (0, len(index))
                if bounds is None
                else (
                    bisect.bisect_left(index, _ukey(bounds[0], 0)),
                    bisect.bisect_left(index, _ukey(bounds[1], 0)),
                )
            )

            def at(pos: int) -> int:
                return index[pos] & _IDX_MASK
        else:
            column = self.cols[col]
            lo, hi = (
                (0, len(column))
                if bounds is None
                else (bisect.bisect_left(column, bounds[0]), bisect.bisect_left(column, bounds[1]))
            )

            def at(pos: int) -> int:
                return pos

        count = max(hi - lo, 0)
        if asc:
            return Selection(count, lambda i: at(lo + i))
        return Selection(count, lambda i: at(hi - 1 - i))

    def _filtered(
        self,
        now: float,
        ranges: dict[str, tuple[int, int]],
        members: dict[str, frozenset[int]],
        order_col: str,
        asc: bool,
    ) -> list[int]:
        if self.created_col in ranges:
            candidates: Sequence[int] = self._run(ranges[self.created_col], self.created_col, True).slice(
                0, len(self)
            )
        elif "update" in ranges:
            candidates = self._run(ranges["update"], "update", True).slice(0, len(self))
        elif "_idx" in members:
            candidates = sorted(i for i in members["_idx"] if 0 <= i < len(self))
        else:
            candidates = range(len(self))
        pending = self._pending
        checks = [(self.cols[c], lo, hi) for c, (lo, hi) in ranges.items()]
        sets = [(self.cols[c], s) for c, s in members.items() if c != "_idx"]
        wanted = members.get("_idx")
        keyed: list[tuple[int, int]] = []
        order_values = self.cols[order_col]
        for i in candidates:
            if i in pending or (wanted is not None and i not in wanted):
                continue
            if all(lo <= col[i] < hi for col, lo, hi in checks) and all(col[i] in s for col, s in sets):
                keyed.append((order_values[i], i))
        names = self.names
        for i in pending:
            row = self.visible_row(i, now)
            if row is None or (wanted is not None and i not in wanted):
                continue
            values = dict(zip(names, row, strict=True))
            if all(lo <= values[c] < hi for c, (lo, hi) in ranges.items()) and all(
                values[c] in s for c, s in members.items() if c != "_idx"
            ):
                keyed.append((values[order_col], i))
        keyed.sort(reverse=not asc)
        return [i for _, i in keyed]


class EventLog:
    """Time-sorted ``(time, row index, kind)`` events packed into one int64 each."""

    def __init__(self) -> None:
        self.keys = array("q")

    @staticmethod
    def pack(time: int, idx: int, kind: int) -> int:
        return ((time - TIME_BASE) << 33) | (idx << 2) | kind

    @staticmethod
    def unpack(key: int) -> tuple[int, int, int]:
        return (key >> 33) + TIME_BASE, (key >> 2) & 0x7FFFFFFF, key & 3

    def load(self, events: list[int]) -> None:
        events.sort()
        self.keys = array("q", events)

    def add(self, time: int, idx: int, kind: int) -> None:
        bisect.insort(self.keys, self.pack(time, idx, kind))

    def position(self, time: int) -> int:
        """Index of the first event at or after ``time``."""
        return bisect.bisect_left(self.keys, self.pack(time, 0, 0))

    def between(self, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        for pos in range(self.position(lo), self.position(hi)):
            yield self.unpack(self.keys[pos])


def cursor_page(
    log: EventLog,
    expand: Callable[[int, int, int], list[dict[str, Any]]],
    lo: int,
    hi: int,
    start_index: int,
    size: int,
) -> tuple[list[dict[str, Any]], int, int, bool]:
    """One page of the finance cursor scheme over events with ``lo <= time < hi``.

    The cursor is ``(time, index)``: skip ``index`` rows among those at or after ``time``.
    Returns ``(rows, next_time, next_index, is_end)`` where the next cursor points at the
    first row not returned, counted from the first row of its own second.
    """
    rows: list[dict[str, Any]] = []
    skip = start_index
    next_time, next_index = lo, start_index
    for time, idx, kind in log.between(lo, hi):
        if next_time != time:
            next_time, next_index = time, 0
        expanded = expand(time, idx, kind)
        for row in expanded:
            if skip:
                skip -= 1
                next_index += 1
                continue
            if len(rows) == size:
                return rows, next_time, next_index, False
            rows.append(row)
            next_index += 1
    return rows, next_time, next_index, True
