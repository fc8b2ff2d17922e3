"""Paging styles: how a stream's requests are continued and its replies checked, one class per style.

A stream declaration names its pager (``Stream.pager``); the reader runs it. The Doudian styles:

* :class:`DoudianKeysetPager`: ``order.searchList`` and ``afterSale.List``, page/size from page 0
  over an update-time window, walked by keyset so records updated mid-read cannot shift offsets.
* :class:`FinanceCursorPager`: settlements and account flows, ``start_index`` + ``start_time``
  from the previous reply until ``is_end`` is 1.
* :class:`ProductCursorPager`: ``product.listV2`` in cursor mode (``use_cursor`` + ``cursor_id``),
  which the 10,000 page×size cap does not bind.

The Douyin Open Platform's lists all continue by an opaque cursor: :class:`OpenCursorPager`.
"""

from __future__ import annotations

import functools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_douyin.client.errors import DouyinIncompleteReadError
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.records import lookup
from airflow_provider_douyin.streams.replies import (
    Page,
    StreamReadError,
    data_object,
    kind,
    record_key,
    record_list,
    record_time,
    record_total,
    shape_error,
    time_value,
)
from airflow_provider_douyin.streams.windows import HISTORY_MARGIN, Window, format_time

if TYPE_CHECKING:
    from airflow_provider_douyin.streams.catalog import Stream

log = get_logger(__name__)

DENSE_SECOND_PASSES = 5
"""Offset passes over one crowded second before its records are called unstable."""


class Pages(Protocol):
    """What the reader (``StreamReader``) lends a pager: the stream, its requests, where records go."""

    stream: Stream

    def fetch(
        self, params: Mapping[str, Any], check: Callable[[ApiResponse], Any], method: str | None = None
    ) -> Any:
        """Request the stream's method with ``params`` (plus its ``static_params``); return ``check(reply)``.

        ``method`` asks a companion path instead (per-record detail calls); only the stream's own method
        counts against the read's request bound and gets its ``static_params``.

        A reply ``check`` rejects as malformed or short is read again, then fails the read. The
        stream's inner-code check and the read's request bound apply to every request.
        """
        ...

    def emit(self, records: list[Mapping[str, Any]], log_id: str, *, clean: bool = False) -> None:
        """Hand checked records on as rows; a pager emits each record once. ``clean``: the reply's
        strings need no repair (``Page.clean``), so their values are not checked one by one."""
        ...

    def report_total(self, total: int) -> None:
        """A slice's first total, which the reader reconciles with the count its window was cut by."""
        ...


class Pager(ABC):
    """One paging style: the parameters of each request, the checks a reply must pass before its
    records count, and whether and how to ask again.

    The reader owns what every style shares: the thread pool, cutting a window into slices (sized
    by :meth:`count` where the style can count), re-reading a rejected page, the request bound,
    reconciling slice totals with the window's count, and back-pressure. A pager is a frozen
    declaration holding no read state, since one stream's pager serves concurrent walks.

    A new platform's paging style is a new subclass, not a branch in the reader. The Douyin Open
    Platform's list APIs, for instance, page with ``page_num`` from 1 until ``has_more`` is false, or
    echo back an opaque ``cursor`` while ``has_more`` is true. Either is a :meth:`walk` of this shape
    (paged by number, the next request asks for ``page_num + 1``), with a ``check`` that rejects a
    reply lacking its list, ``has_more`` or cursor::

        params = {"cursor": 0, "count": self.page_size}
        while True:
            page = pages.fetch(params, self.check)  # page.cursor is None once has_more is false
            pages.emit(page.records, page.log_id, clean=page.clean)
            if page.cursor is None:
                return
            params = {**params, "cursor": page.cursor}
    """

    records: str
    """Path of the record list inside ``data``."""
    page_size: int

    def count(self, pages: Pages, window: Window) -> int | None:
        """How many records ``window`` holds, from one small request; ``None``: this style cannot count."""
        return None

    def open(self, pages: Pages, window: Window) -> Opening | None:
        """Read the first page of ``window``, so the reader can cut the rest into slices read at once;
        ``None``: this style cannot count, so the window is read in one walk."""
        return None

    def probe(self, pages: Pages, window: Window) -> int:
        """One small request: how many records ``window`` holds (for sensors' conditions)."""
        total = self.count(pages, window)
        if total is None:
            raise ValueError(f"stream {pages.stream.name!r} cannot count a window")
        return total

    @abstractmethod
    def walk(self, pages: Pages, window: Window | None) -> None:
        """Read every record of ``window`` (``None``: the stream's whole snapshot), one request at a time."""

    def _records(self, response: ApiResponse) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
        data = data_object(response)
        return data, record_list(response, data, self.records)


@dataclass(frozen=True)
class Opening:
    """What a window's first page told the reader: the window's ``total``, and that its records
    before ``rest`` (``emitted`` of them) were emitted already, so only ``[rest, end)`` is left."""

    total: int
    emitted: int
    rest: int


@dataclass(frozen=True)
class Tiebreak:
    """A second time filter that splits a crowded second of the cursor field.

    When more than a page of records share one ``update_time`` second, the keyset pager
    bisects that second by this field (e.g. ``create_time``) until every part fits in
    a single page, so it never pages by offset while records may be changing.
    """

    start_param: str
    end_param: str
    field: str
    max_age: timedelta


@dataclass(frozen=True)
class DoudianKeysetPager(Pager):
    """Doudian's page/size search from page 0 over the stream's time window, walked by keyset.

    Doudian sorts by a second-granular ``update_time``, and a record updated while a window is
    being read leaves the window, so every later offset shifts by one and a plain ``page += 1``
    loop silently skips a record. Instead each request restarts at the last ``update_time`` seen
    (start inclusive) on the first page, skipping the ids already emitted for that second. When
    more than one page of records share one second, that second is bisected by ``tiebreak`` until
    each part fits in one page; only records identical in both times fall back to offset passes
    that must see a stable total.
    """

    records: str
    page_size: int = 100
    """The largest page the search serves."""
    first_page: int = 0
    max_results: int | None = None
    """The endpoint's page×size cap (Doudian searches: 50,000)."""
    tiebreak: Tiebreak | None = None
    """``None``: a crowded second is read by offset passes alone."""

    def count(self, pages: Pages, window: Window) -> int:
        stream = pages.stream
        probe = pages.fetch(
            self._params(stream, window.start, window.end, self.first_page, 1),
            self._check(stream, window.start, window.end, 1),
        )
        return probe.total

    def open(self, pages: Pages, window: Window) -> Opening:
        """A full first page plans the read and is not wasted: a short one is the whole window; from a
        full one, every record before its last second is emitted (records of that second may continue
        on the next page, so the rest is read from that second on).

        A window that answers "empty" is still walked: one reply alone does not make a window empty.
        """
        stream, size = pages.stream, self.page_size
        page = pages.fetch(
            self._params(stream, window.start, window.end, self.first_page, size),
            self._check(stream, window.start, window.end, size),
        )
        if not page.records:
            return Opening(page.total, 0, window.start)
        if len(page.records) < size:
            done, rest = page.records, window.end
        else:
            rest = page.times[-1]
            done = [r for r, t in zip(page.records, page.times, strict=True) if t < rest]
        if done:
            pages.emit(done, page.log_id, clean=page.clean)
        return Opening(page.total, len(done), rest)

    def walk(self, pages: Pages, window: Window | None) -> None:
        """Keyset-walk one slice, checking every total against what the previous page left.

        Records only ever leave a range while it is read (an update moves them past the window's
        end), so a total above what the previous page left means records were skipped or invented.
        """
        stream, size = pages.stream, self.page_size
        cursor = window.start
        emitted_at_cursor: set[tuple] = set()
        left: int | None = None
        while cursor < window.end:
            page = pages.fetch(
                self._params(stream, cursor, window.end, self.first_page, size),
                self._check(stream, cursor, window.end, size),
            )
            if left is None:
                pages.report_total(page.total)
            elif page.total > left:
                raise DouyinIncompleteReadError(
                    f"[{cursor}, {window.end}) holds {page.total} records, but only {left} were left "
                    "after the previous page",
                    method=stream.method,
                    log_id=page.log_id,
                )
            fresh = [r for r, k in zip(page.records, page.keys, strict=True) if k not in emitted_at_cursor]
            if fresh:
                pages.emit(fresh, page.log_id, clean=page.clean)
            if len(page.records) < size:
                break
            last = page.times[-1]
            if last == cursor:
                self._read_dense_second(pages, cursor, emitted_at_cursor)
                cursor, emitted_at_cursor, left = cursor + 1, set(), page.total - size
                continue
            emitted_at_cursor = {k for k, t in zip(page.keys, page.times, strict=True) if t == last}
            left = page.total - (size - len(emitted_at_cursor))
            cursor = last

    @staticmethod
    def _params(stream: Stream, start: int, end: int, page: int, size: int) -> dict[str, Any]:
        spec = stream.window
        return {
            spec.start_param: format_time(start, spec.format),
            spec.end_param: format_time(end, spec.format),
            "page": page,
            "size": size,
        }

    def _check(
        self, stream: Stream, start: int, end: int, size: int, offset: int = 0
    ) -> Callable[[ApiResponse], Page]:
        return functools.partial(self._page, stream=stream, start=start, end=end, size=size, offset=offset)

    def _page(
        self, response: ApiResponse, *, stream: Stream, start: int, end: int, size: int, offset: int
    ) -> Page:
        """Check a page against its request: a list, a count, and records inside ``[start, end)``, sorted.

        A page holding fewer records than its own total promises is an incomplete read, not the end.
        """
        data, records = self._records(response)
        total = record_total(response, data)
        if len(records) > min(size, max(0, total - offset)):
            raise shape_error(
                response,
                f"{len(records)} records on a size-{size} page at offset {offset}, but total is {total}",
            )
        field, fmt = stream.cursor_field, stream.window.format
        times = [record_time(r, field, fmt, response) for r in records]
        if any(not start <= t < end for t in times):
            raise shape_error(response, f"a record's {field} lies outside the requested [{start}, {end})")
        if any(a > b for a, b in zip(times, times[1:], strict=False)):
            raise shape_error(response, f"records are not in ascending {field} order")
        expected = min(size, total - offset)
        if len(records) < expected:
            raise DouyinIncompleteReadError(
                f"the page at offset {offset} of [{start}, {end}) holds {len(records)} records where its "
                f"total of {total} promises {expected}",
                method=response.method,
                log_id=response.log_id,
            )
        keys = [record_key(stream.root, r, response) for r in records]
        if len(set(keys)) < len(keys):
            # A repeated record takes the place of one the page should hold.
            raise shape_error(response, "the page holds the same record twice")
        return Page(records, keys, times, total, response)

    def _read_dense_second(self, pages: Pages, second: int, already: set[tuple]) -> None:
        """More than a page of records share one second: bisect it by the tiebreak field.

        Records the tiebreak cannot reach (created before the API's search horizon) are
        detected by comparing with the second's total and read by offset passes.
        """
        tiebreak = self.tiebreak
        if tiebreak is None:
            self._read_second_by_offset(pages, second, already)
            return
        stream, size = pages.stream, self.page_size
        horizon = math.ceil(time.time() - (tiebreak.max_age - HISTORY_MARGIN).total_seconds())
        found: set[tuple] = set()
        parts = [(min(horizon, second), second + 1)]
        while parts:
            low, high = parts.pop()
            params = self._params(stream, second, second + 1, self.first_page, size)
            page = pages.fetch(
                {**params, tiebreak.start_param: low, tiebreak.end_param: high},
                self._check(stream, second, second + 1, size),
            )
            if len(page.records) < size:
                fresh = [r for r, k in zip(page.records, page.keys, strict=True) if k not in already]
                already.update(page.keys)
                found.update(page.keys)
                if fresh:
                    pages.emit(fresh, page.log_id, clean=page.clean)
            elif high - low <= 1:
                found |= self._read_second_by_offset(pages, second, already, tiebreak_range=(low, high))
            else:
                times = sorted(record_time(r, tiebreak.field, "epoch", page.response) for r in page.records)
                middle = min(max(times[len(times) // 2], low + 1), high - 1)
                parts += [(low, middle), (middle, high)]
        if len(found) < self.count(pages, Window(second, second + 1)):
            self._read_second_by_offset(pages, second, already)

    def _read_second_by_offset(
        self, pages: Pages, second: int, already: set[tuple], tiebreak_range: tuple[int, int] | None = None
    ) -> set[tuple]:
        """Last resort for records identical in every filterable time: offset passes until stable.

        Returns the keys of the stable pass, so a caller bisecting the second can count them.
        """
        stream, size = pages.stream, self.page_size
        extra = {}
        if tiebreak_range is not None:
            extra = {self.tiebreak.start_param: tiebreak_range[0], self.tiebreak.end_param: tiebreak_range[1]}
        for _ in range(DENSE_SECOND_PASSES):
            seen: set[tuple] = set()
            totals: list[int] = []
            page_number = self.first_page
            while True:
                offset = (page_number - self.first_page) * size
                if self.max_results and offset + size > self.max_results:
                    raise StreamReadError(
                        f"more than {self.max_results} records share second {second}; the API cannot "
                        "page that deep",
                        method=stream.method,
                    )
                page = pages.fetch(
                    {**self._params(stream, second, second + 1, page_number, size), **extra},
                    self._check(stream, second, second + 1, size, offset),
                )
                totals.append(page.total)
                fresh = [
                    r
                    for r, k in zip(page.records, page.keys, strict=True)
                    if k not in already and k not in seen
                ]
                seen.update(page.keys)
                if fresh:
                    pages.emit(fresh, page.log_id, clean=page.clean)
                if len(page.records) < size:
                    break
                page_number += 1
            already |= seen
            if len(set(totals)) == 1 and len(seen) >= totals[0]:
                return seen
            log.info("Stream %s: second %d changed while paging; reading it again", stream.name, second)
        raise StreamReadError(
            f"records inside second {second} kept changing over {DENSE_SECOND_PASSES} passes; "
            "retry the window later",
            method=stream.method,
        )


@dataclass(frozen=True)
class FinanceCursorPager(Pager):
    """Doudian's finance cursor: ``size`` records per request over at most the stream's
    ``max_span``, continued by the reply's ``next_start_index`` and ``next_start_time`` until
    ``is_end`` is 1. The replies carry no total, so a window is read in one walk per span."""

    records: str
    page_size: int = 100

    def walk(self, pages: Pages, window: Window | None) -> None:
        stream = pages.stream
        spec = stream.window
        params: dict[str, Any] = {
            spec.start_param: format_time(window.start, spec.format),
            spec.end_param: format_time(window.end, spec.format),
            "size": self.page_size,
        }
        seen_cursors: set[tuple] = set()
        check = functools.partial(self._page, stream=stream, window=window)
        while True:
            page = pages.fetch(params, check)
            if page.records:
                pages.emit(page.records, page.log_id, clean=page.clean)
            cursor = page.cursor
            if cursor is None:
                return
            if cursor in seen_cursors:
                raise StreamReadError(
                    f"the same cursor came back twice: {cursor}", method=stream.method, log_id=page.log_id
                )
            seen_cursors.add(cursor)
            params = {**params, "start_index": cursor[0], spec.start_param: cursor[1]}

    def probe(self, pages: Pages, window: Window) -> int:
        """The replies carry no total: 1 when ``window`` holds any record, else 0 (one size-1 request)."""
        spec = pages.stream.window
        params = {
            spec.start_param: format_time(window.start, spec.format),
            spec.end_param: format_time(window.end, spec.format),
            "size": 1,
        }
        page = pages.fetch(params, functools.partial(self._page, stream=pages.stream, window=window))
        return min(len(page.records), 1)

    def _page(self, response: ApiResponse, *, stream: Stream, window: Window) -> Page:
        """Records plus the next ``(start_index, start_time)`` as the cursor, None once ``is_end`` is 1."""
        data, records = self._records(response)
        field, fmt = stream.cursor_field, stream.window.format
        for record in records:
            if not window.start <= record_time(record, field, fmt, response) < window.end:
                raise shape_error(response, f"a record's {field} lies outside the requested window")
        is_end = data.get("is_end")
        if isinstance(is_end, bool) or is_end not in (0, 1, "0", "1"):
            raise shape_error(response, f"is_end is {kind(is_end)}, not 0 or 1")
        page = Page(records, [], [], len(records), response)
        if str(is_end) == "1":
            return page
        index, start = data.get("next_start_index"), data.get("next_start_time")
        if isinstance(index, bool) or not isinstance(index, (int, str)) or not str(index).isdigit():
            raise shape_error(response, f"next_start_index is {kind(index)}, not a cursor")
        at = time_value(start, fmt)
        if at is None or not window.start <= at <= window.end:
            raise shape_error(response, "next_start_time is not a time inside the requested window")
        return replace(page, cursor=(index, start))


@dataclass(frozen=True)
class ProductCursorPager(Pager):
    """``product.listV2`` in cursor mode: ``use_cursor`` and the previous reply's ``cursor_id``
    until an empty page. The catalogue read must not come up short of the smallest total seen."""

    records: str
    page_size: int = 100
    first_page: int = 1

    def walk(self, pages: Pages, window: Window | None) -> None:
        stream = pages.stream
        params: dict[str, Any] = {"use_cursor": True, "page": self.first_page, "size": self.page_size}
        keys: set[tuple] = set()
        smallest_total: int | None = None
        while True:
            page = pages.fetch(
                params, functools.partial(self._page, stream=stream, previous=params.get("cursor_id"))
            )
            smallest_total = page.total if smallest_total is None else min(smallest_total, page.total)
            if not page.records:
                break
            keys.update(page.keys)
            pages.emit(page.records, page.log_id, clean=page.clean)
            params = {**params, "cursor_id": page.cursor}
        if len(keys) < smallest_total:
            raise DouyinIncompleteReadError(
                f"the cursor ended after {len(keys)} distinct records, but the API counted {smallest_total}",
                method=stream.method,
                log_id=page.log_id,
            )

    def _page(self, response: ApiResponse, *, stream: Stream, previous: str | None) -> Page:
        data, records = self._records(response)
        total = record_total(response, data)
        cursor_id = data.get("cursor_id")
        if records and (not isinstance(cursor_id, str) or not cursor_id or cursor_id == previous):
            raise shape_error(response, "a page of records without a new cursor_id")
        keys = [record_key(stream.root, r, response) for r in records]
        return Page(records, keys, [], total, response, cursor_id)


@dataclass(frozen=True)
class OpenCursorPager(Pager):
    """The Douyin Open Platform's cursor lists: the previous reply's cursor until ``has_more`` is false.

    Used by the 抖音来客 order query (``cursor`` → ``search_after.CursorValue``, with a
    ``page.total``), product online query (``cursor`` → ``next_cursor``) and the verify-record and
    after-sale queries (``cursor`` → ``cursor``). Cursors are keysets over an order the platform
    chooses, so the read never depends on the order records arrive in (the docs do not state it, and
    the order query's page mode reshuffles); offset paging is never used. Checks: the list, a boolean
    ``has_more``, a new cursor whenever there is more, keys unique across the walk, record times inside
    the window, and at the end no fewer records than the smallest total the API reported.
    """

    records: str
    page_size: int
    size_param: str = "page_size"
    cursor_param: str = "cursor"
    next_cursor: str = "cursor"
    """Path of the next cursor inside ``data``."""
    total: str | None = None
    """Path of the reply's count inside ``data``, where it has one."""
    first_cursor: str = ""

    def walk(self, pages: Pages, window: Window | None) -> None:
        stream = pages.stream
        params: dict[str, Any] = {self.cursor_param: self.first_cursor, self.size_param: self.page_size}
        if window is not None:
            spec = stream.window
            params[spec.start_param] = format_time(window.start, spec.format)
            params[spec.end_param] = format_time(window.end, spec.format)
        keys: set[tuple] = set()
        smallest_total: int | None = None
        cursors: set[str] = set()
        while True:
            page = pages.fetch(params, functools.partial(self._page, stream=stream, window=window))
            if page.total is not None:
                smallest_total = page.total if smallest_total is None else min(smallest_total, page.total)
            repeated = keys.intersection(page.keys)
            if repeated:
                raise StreamReadError(
                    f"the cursor walk returned {len(repeated)} record(s) a second time",
                    method=stream.method,
                    log_id=page.log_id,
                )
            keys.update(page.keys)
            if page.records:
                pages.emit(page.records, page.log_id, clean=page.clean)
            if page.cursor is None:
                break
            if page.cursor in cursors:
                raise StreamReadError(
                    "the same cursor came back twice", method=stream.method, log_id=page.log_id
                )
            cursors.add(page.cursor)
            params = {**params, self.cursor_param: page.cursor}
        if smallest_total is not None and len(keys) < smallest_total:
            raise DouyinIncompleteReadError(
                f"the cursor walk ended after {len(keys)} distinct records, but the API counted "
                f"{smallest_total}",
                method=stream.method,
                log_id=page.log_id,
            )

    def _page(self, response: ApiResponse, *, stream: Stream, window: Window | None) -> Page:
        """Records (inside the window), the total where the reply has one, and the next cursor or None."""
        data, records = self._records(response)
        total = None
        if self.total is not None:
            total = lookup(data, self.total)
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise shape_error(response, f"data.{self.total} is {kind(total)}, not a count")
        if len(records) > self.page_size:
            raise shape_error(response, f"{len(records)} records on a page of at most {self.page_size}")
        if window is not None:
            field, fmt = stream.cursor_field, stream.window.format
            for record in records:
                if not window.start <= record_time(record, field, fmt, response) < window.end:
                    raise shape_error(response, f"a record's {field} lies outside the requested window")
        keys = [record_key(stream.root, r, response) for r in records]
        if len(set(keys)) < len(keys):
            raise shape_error(response, "the page holds the same record twice")
        has_more = data.get("has_more")
        if not isinstance(has_more, bool):
            raise shape_error(response, f"has_more is {kind(has_more)}, not a boolean")
        if not has_more:
            return Page(records, keys, [], total, response)
        cursor = lookup(data, self.next_cursor)
        if isinstance(cursor, bool) or not isinstance(cursor, (str, int)) or cursor in ("", None):
            raise shape_error(response, f"has_more is true but data.{self.next_cursor} is {kind(cursor)}")
        if not records:
            raise shape_error(response, "has_more is true on a page without records")
        return Page(records, keys, [], total, response, str(cursor))
