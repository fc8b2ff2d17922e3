"""Read a declared stream for a window, concurrently, without losing records to paging drift.

Why keyset paging: Doudian sorts by a second-granular ``update_time``, and a record
updated while a window is being read leaves the window, so every later offset shifts
by one and a plain ``page += 1`` loop silently skips a record. Instead each request
restarts at the last ``update_time`` seen (start inclusive) on page 0, skipping the ids
already emitted for that second. When more than one page of records share one second,
that second is bisected by a second time filter (``create_time``) until each part fits
in one page; only records identical in both times fall back to offset passes that must
see a stable total.

Concurrency: a window is cut into slices sized from a one-record probe of its total,
and slices are read by a thread pool paced by the client's shared rate limiter. Pages
flow through a bounded queue to the caller, so memory stays flat however large the
window is.

Trust: every answer is checked before a record of it counts. A success envelope whose
``data``, record list, ``total`` or cursor is missing or of the wrong type, a record whose
cursor time lies outside the requested range or out of order, and a page shorter than its
own total promises are read again (``PAGE_READS`` times in all) and then fail typed
(``DouyinResponseShapeError``, ``DouyinIncompleteReadError``), never as "no more rows".
Totals are reconciled: records only leave a range while it is read (an update moves them
past the window's end), so a range that grows, or slices holding more than their window's
probe counted, fail with the numbers.

Work is bounded: a read stops once its requests to the stream's method exceed
``REQUEST_BASE + REQUESTS_PER_WINDOW * windows + REQUESTS_PER_PAGE * ceil(records / page_size)``
(windows = slices and finance chunks planned, records = records yielded), so answers that
never advance cost a bounded number of requests, never an endless loop.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from airflow_provider_douyin.client.errors import DouyinIncompleteReadError, DouyinResponseShapeError
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.catalog import Stream, TableBinding, TimeFormat
from airflow_provider_douyin.streams.records import RecordShapeError, RowBuilder, lookup
from airflow_provider_douyin.streams.windows import HISTORY_MARGIN, Window, format_time, parse_time

log = get_logger(__name__)

ApiCall = Callable[[str, Mapping[str, Any]], ApiResponse]
"""``call(method, params) -> ApiResponse``: the client's ``request``, so errors can name the log_id."""
InnerCodeCheck = Callable[..., Any]
"""``check(data, method, log_id=...)`` raises on a finance ``data.code`` other than "100000"."""
Rows = dict[str, list[dict[str, Any]]]
_T = TypeVar("_T")

DENSE_SECOND_PASSES = 5
PROGRESS_EVERY_S = 10.0
PAGE_READS = 3
"""Reads of one page before a malformed or short answer fails the read."""
REQUEST_BASE = 20
REQUESTS_PER_WINDOW = 10
REQUESTS_PER_PAGE = 10
"""The request bound (module docstring): generous for crowded seconds, whose bisection and offset
passes re-read pages, yet proportional to what the read yields."""


class StreamReadError(DouyinIncompleteReadError):
    """The API's answers cannot be read without risking a lost record."""


@dataclass(frozen=True)
class Page:
    """One checked answer: its records with their keys and cursor times, and what comes next."""

    records: list[Mapping[str, Any]]
    keys: list[tuple]
    times: list[int]
    total: int
    response: ApiResponse
    cursor: Any = None

    @property
    def log_id(self) -> str:
        return self.response.log_id


@dataclass
class ReadProgress:
    started: float = field(default_factory=time.monotonic)
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    paged_requests: int = 0
    records: int = 0
    windows_total: int = 0
    windows_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self, *, paged: bool) -> int:
        """Count one request; returns how many went to the stream's own (paged) method so far."""
        with self._lock:
            self.requests += 1
            self.paged_requests += paged
            return self.paged_requests

    def count_records(self, n: int) -> None:
        with self._lock:
            self.records += n

    def add_windows(self, n: int) -> None:
        with self._lock:
            self.windows_total += n

    def window_done(self) -> None:
        with self._lock:
            self.windows_done += 1

    def add_rows(self, rows: Rows) -> None:
        for table, batch in rows.items():
            self.rows[table] = self.rows.get(table, 0) + len(batch)

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        total = sum(self.rows.values())
        return (
            f"{total} rows ({', '.join(f'{k}={v}' for k, v in sorted(self.rows.items())) or 'none'}), "
            f"{total / elapsed:.0f} rows/s, {self.requests} requests, "
            f"windows {self.windows_done}/{self.windows_total}, {elapsed:.1f}s"
        )


class _Done:
    pass


class StreamReader:
    """Yield ``{table_name: rows}`` batches for one stream and window.

    :param call: ``call(method, params) -> ApiResponse`` (``DoudianShopClient.request``).
    :param check_inner_code: ``check(data, method, log_id=...)`` raises on a finance ``data.code``
        other than "100000".
    :param max_workers: concurrent requests; the rate limiter, not this, sets the pace.
    :param slice_records: aim for this many records per concurrently read slice.
    """

    def __init__(
        self,
        call: ApiCall,
        stream: Stream,
        *,
        check_inner_code: InnerCodeCheck | None = None,
        max_workers: int = 8,
        slice_records: int = 2_000,
        max_slices: int = 512,
        queue_batches: int = 32,
    ) -> None:
        self._call = call
        self.stream = stream
        self._check_inner_code = check_inner_code
        self.max_workers = max_workers
        self.slice_records = slice_records
        self.max_slices = max_slices
        self._queue: queue.Queue[Rows | _Done] = queue.Queue(maxsize=queue_batches)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.progress = ReadProgress()
        self._pool: ThreadPoolExecutor | None = None
        self._rows = RowBuilder(stream.method)
        self._fan_out_rows = {b.fan_out_method: RowBuilder(b.fan_out_method) for b in stream.tables}
        self._probe_total: int | None = None
        self._slice_totals = 0

    # -- public -------------------------------------------------------------------------------
    def read(self, window: Window | None) -> Iterator[Rows]:
        paging = self.stream.paging.style
        if self.stream.window is not None and window is None:
            raise ValueError(f"stream {self.stream.name!r} needs a window")
        last_log = time.monotonic()
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"douyin-{self.stream.name}") as pool:
            self._pool = pool
            try:
                if paging == "page":
                    self._submit(self._plan_page_slices, window)
                elif paging == "start_index":
                    self._submit(self._plan_start_index, window)
                else:
                    self.progress.add_windows(1)
                    self._submit(self._read_product_cursor)
                while True:
                    try:
                        item = self._queue.get(timeout=0.5)
                    except queue.Empty:
                        item = None
                    if self._error is not None:
                        raise self._error
                    if item is None:
                        continue
                    if isinstance(item, _Done):
                        self._reconcile_window()
                        break
                    self.progress.add_rows(item)
                    yield item
                    if time.monotonic() - last_log >= PROGRESS_EVERY_S:
                        last_log = time.monotonic()
                        log.info("Stream %s progress: %s", self.stream.name, self.progress.summary())
            finally:
                self._stop.set()
                self._drain()
        log.info("Stream %s read: %s", self.stream.name, self.progress.summary())

    def probe(self, window: Window) -> int:
        """How many records ``window`` holds, from one size-1 request checked like any page.

        Page streams answer with the API's ``total``. The finance cursor streams report no total,
        so for them it is 1 when the window holds any record, else 0.
        """
        style = self.stream.paging.style
        if style == "page":
            first = self.stream.paging.first_page
            return self._fetch(
                self._page_params(window.start, window.end, first, 1),
                self._page_reader(window.start, window.end, 1),
            ).total
        if style == "start_index":
            spec = self.stream.window
            params = {
                spec.start_param: format_time(window.start, spec.format),
                spec.end_param: format_time(window.end, spec.format),
                "size": 1,
            }
            return self._fetch(params, functools.partial(self._parse_finance_page, window=window)).total
        raise ValueError(f"stream {self.stream.name!r} ({style} paging) has no window to probe")

    # -- job plumbing -------------------------------------------------------------------------
    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._pending_lock:
            self._pending += 1
        self._pool.submit(self._run_job, fn, *args)

    def _run_job(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            if not self._stop.is_set():
                fn(*args)
        except BaseException as err:  # the consumer thread re-raises the first one
            with self._pending_lock:
                if self._error is None:
                    self._error = err
            self._stop.set()
        finally:
            with self._pending_lock:
                self._pending -= 1
                finished = self._pending == 0
            if finished:
                self._put(_Done())

    def _put(self, item: Rows | _Done) -> None:
        """Block while the consumer is behind (back-pressure); give up once the read is stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _drain(self) -> None:
        """Unblock workers waiting on a full queue after the consumer stopped early."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _request(self, params: Mapping[str, Any], method: str | None = None) -> ApiResponse:
        if self._stop.is_set():
            raise StreamReadError("read cancelled", method=self.stream.method)
        method = method or self.stream.method
        paged = method == self.stream.method
        requests = self.progress.count_request(paged=paged)
        if paged:
            self._check_budget(requests)
            params = {**self.stream.static_params, **params}
        response = self._call(method, params)
        if self.stream.inner_code and paged and self._check_inner_code:
            self._check_inner_code(response.data, method, log_id=response.log_id)
        return response

    def _check_budget(self, requests: int) -> None:
        """Stop a read whose requests outgrow the records it yields (see the module docstring)."""
        progress = self.progress
        pages = math.ceil(progress.records / self.stream.paging.page_size)
        allowed = REQUEST_BASE + REQUESTS_PER_WINDOW * progress.windows_total + REQUESTS_PER_PAGE * pages
        if requests > allowed:
            raise StreamReadError(
                f"{requests} requests yielded only {progress.records} records (at most {allowed} allowed); "
                "the API's answers do not make progress",
                method=self.stream.method,
            )

    def _fetch(
        self, params: Mapping[str, Any], parse: Callable[[ApiResponse], _T], method: str | None = None
    ) -> _T:
        """Request and parse one page, asking again while the answer is malformed or short."""
        for read in range(1, PAGE_READS + 1):
            response = self._request(params, method)
            try:
                return parse(response)
            except (DouyinResponseShapeError, DouyinIncompleteReadError) as err:
                if read == PAGE_READS:
                    raise
                log.warning("%s; reading the page again (%d/%d)", err, read + 1, PAGE_READS)
        raise AssertionError("unreachable")

    @staticmethod
    def _shape_error(response: ApiResponse, detail: str) -> DouyinResponseShapeError:
        return DouyinResponseShapeError(detail, method=response.method, log_id=response.log_id)

    def _data(self, response: ApiResponse) -> Mapping[str, Any]:
        if not isinstance(response.data, Mapping):
            raise self._shape_error(response, f"data is {_kind(response.data)}, not an object")
        return response.data

    def _record_list(self, response: ApiResponse, data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        path = self.stream.paging.records
        records = lookup(data, path)
        if not isinstance(records, list):
            raise self._shape_error(response, f"data.{path} is {_kind(records)}, not a list")
        if not all(isinstance(r, Mapping) for r in records):
            raise self._shape_error(response, f"data.{path} holds a record that is not an object")
        return records

    def _time(self, record: Mapping[str, Any], path: str, fmt: TimeFormat, response: ApiResponse) -> int:
        at = _parse_time(lookup(record, path), fmt)
        if at is None:
            kind = _kind(lookup(record, path))
            raise self._shape_error(response, f"a record's {path} is {kind}, not a {fmt} time")
        return at

    def _key(self, record: Mapping[str, Any], response: ApiResponse) -> tuple:
        root = self.stream.root
        key = tuple(lookup(record, root.column(k).source) for k in root.primary_key)
        for name, value in zip(root.primary_key, key, strict=True):
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise RecordShapeError(
                    f"table {root.name!r}: primary key {name!r} is {_kind(value)}, not a string or integer",
                    method=response.method,
                    log_id=response.log_id,
                )
        return key

    def _emit(self, records: list[Mapping[str, Any]], log_id: str) -> None:
        self.progress.count_records(len(records))
        rows: Rows = {}
        for binding in self.stream.tables:
            if binding.fan_out_method:
                continue
            table = binding.table
            out = rows.setdefault(table.name, [])
            for record in records:
                if binding.records is None:
                    out.append(self._rows.row(table, record, log_id=log_id))
                else:
                    out.extend(self._rows.nested(table, record, binding.records, log_id=log_id))
        self._put(rows)
        for binding in self.stream.tables:
            if binding.fan_out_method:
                for record in records:
                    self._submit(self._fan_out, binding, record)

    def _fan_out(self, binding: TableBinding, parent: Mapping[str, Any]) -> None:
        def children(response: ApiResponse) -> ApiResponse:
            if not isinstance(response.data, list):
                raise self._shape_error(response, f"data is {_kind(response.data)}, not a list")
            return response

        response = self._fetch(
            {binding.fan_out_param: lookup(parent, binding.fan_out_key)}, children, binding.fan_out_method
        )
        rows = self._fan_out_rows[binding.fan_out_method]
        self._put(
            {
                binding.table.name: [
                    rows.row(binding.table, c, parent, log_id=response.log_id) for c in response.data
                ]
            }
        )

    # -- page/size streams (orders, after-sales) ---------------------------------------------
    def _page_params(self, start: int, end: int, page: int, size: int) -> dict[str, Any]:
        spec = self.stream.window
        return {
            spec.start_param: format_time(start, spec.format),
            spec.end_param: format_time(end, spec.format),
            "page": page,
            "size": size,
        }

    def _parse_page(self, response: ApiResponse, *, start: int, end: int, size: int, offset: int = 0) -> Page:
        """Check a page against its request: a list, a count, and records inside ``[start, end)``, sorted.

        A page holding fewer records than its own total promises is an incomplete read, not the end.
        """
        data = self._data(response)
        records = self._record_list(response, data)
        total = data.get("total")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise self._shape_error(response, f"total is {_kind(total)}, not a count")
        if len(records) > min(size, max(0, total - offset)):
            raise self._shape_error(
                response,
                f"{len(records)} records on a size-{size} page at offset {offset}, but total is {total}",
            )
        field, fmt = self.stream.cursor_field, self.stream.window.format
        times = [self._time(r, field, fmt, response) for r in records]
        if any(not start <= t < end for t in times):
            raise self._shape_error(
                response, f"a record's {field} lies outside the requested [{start}, {end})"
            )
        if any(a > b for a, b in zip(times, times[1:], strict=False)):
            raise self._shape_error(response, f"records are not in ascending {field} order")
        expected = min(size, total - offset)
        if len(records) < expected:
            raise DouyinIncompleteReadError(
                f"the page at offset {offset} of [{start}, {end}) holds {len(records)} records where its "
                f"total of {total} promises {expected}",
                method=response.method,
                log_id=response.log_id,
            )
        keys = [self._key(r, response) for r in records]
        if len(set(keys)) < len(keys):
            # A repeated record takes the place of one the page should hold.
            raise self._shape_error(response, "the page holds the same record twice")
        return Page(records, keys, times, total, response)

    def _page_reader(self, start: int, end: int, size: int, offset: int = 0) -> Callable[[ApiResponse], Page]:
        return functools.partial(self._parse_page, start=start, end=end, size=size, offset=offset)

    def _plan_page_slices(self, window: Window) -> None:
        paging = self.stream.paging
        total = self._probe_total = self.probe(window)
        # Enough slices that every worker stays busy to the end (records cluster in time, so
        # equal-time slices are unequal in size), but never slices under ~5 pages. The probe only
        # plans: even a window it calls empty is read, and the slices' own totals are checked against it.
        spread = min(4 * self.max_workers, math.ceil(total / (5 * paging.page_size)))
        parts = min(self.max_slices, max(1, math.ceil(total / self.slice_records), spread))
        slices = window.split(parts)
        log.info(
            "Stream %s window %s..%s holds ~%d records; reading %d slices",
            self.stream.name,
            *window.isoformat(),
            total,
            len(slices),
        )
        self.progress.add_windows(len(slices))
        for piece in slices:
            self._submit(self._read_page_slice, piece)

    def _read_page_slice(self, window: Window) -> None:
        """Keyset-walk one slice, checking every total against what the previous page left.

        Records only ever leave a range while it is read (an update moves them past the window's
        end), so a total above what the previous page left means records were skipped or invented.
        """
        size = self.stream.paging.page_size
        first = self.stream.paging.first_page
        cursor = window.start
        emitted_at_cursor: set[tuple] = set()
        left: int | None = None
        while cursor < window.end:
            page = self._fetch(
                self._page_params(cursor, window.end, first, size),
                self._page_reader(cursor, window.end, size),
            )
            if left is None:
                self._count_slice_total(page.total)
            elif page.total > left:
                raise DouyinIncompleteReadError(
                    f"[{cursor}, {window.end}) holds {page.total} records, but only {left} were left "
                    "after the previous page",
                    method=self.stream.method,
                    log_id=page.log_id,
                )
            fresh = [r for r, k in zip(page.records, page.keys, strict=True) if k not in emitted_at_cursor]
            if fresh:
                self._emit(fresh, page.log_id)
            if len(page.records) < size:
                break
            last = page.times[-1]
            if last == cursor:
                self._read_dense_second(cursor, emitted_at_cursor)
                cursor, emitted_at_cursor, left = cursor + 1, set(), page.total - size
                continue
            emitted_at_cursor = {k for k, t in zip(page.keys, page.times, strict=True) if t == last}
            left = page.total - (size - len(emitted_at_cursor))
            cursor = last
        self.progress.window_done()

    def _count_slice_total(self, total: int) -> None:
        with self._pending_lock:
            self._slice_totals += total

    def _reconcile_window(self) -> None:
        """Every planned slice was read, and no slice held more records than the probe counted."""
        progress = self.progress
        if progress.windows_done != progress.windows_total:
            raise StreamReadError(
                f"the read ended with {progress.windows_done} of {progress.windows_total} slices done",
                method=self.stream.method,
            )
        if self._probe_total is not None and self._slice_totals > self._probe_total:
            raise DouyinIncompleteReadError(
                f"the window's slices held {self._slice_totals} records, but its probe counted "
                f"{self._probe_total}; the API's totals contradict each other",
                method=self.stream.method,
            )

    def _read_dense_second(self, second: int, already: set[tuple]) -> None:
        """More than a page of records share one second: bisect it by the tiebreak field.

        Records the tiebreak cannot reach (created before the API's search horizon) are
        detected by comparing with the second's total and read by offset passes.
        """
        tiebreak = self.stream.tiebreak
        if tiebreak is None:
            self._read_second_by_offset(second, already)
            return
        paging = self.stream.paging
        horizon = math.ceil(time.time() - (tiebreak.max_age - HISTORY_MARGIN).total_seconds())
        found: set[tuple] = set()
        parts = [(min(horizon, second), second + 1)]
        while parts:
            low, high = parts.pop()
            params = self._page_params(second, second + 1, paging.first_page, paging.page_size)
            page = self._fetch(
                {**params, tiebreak.start_param: low, tiebreak.end_param: high},
                self._page_reader(second, second + 1, paging.page_size),
            )
            if len(page.records) < paging.page_size:
                fresh = [r for r, k in zip(page.records, page.keys, strict=True) if k not in already]
                already.update(page.keys)
                found.update(page.keys)
                if fresh:
                    self._emit(fresh, page.log_id)
            elif high - low <= 1:
                found |= self._read_second_by_offset(second, already, tiebreak_range=(low, high))
            else:
                times = sorted(self._time(r, tiebreak.field, "epoch", page.response) for r in page.records)
                middle = min(max(times[len(times) // 2], low + 1), high - 1)
                parts += [(low, middle), (middle, high)]
        probe = self._fetch(
            self._page_params(second, second + 1, paging.first_page, 1),
            self._page_reader(second, second + 1, 1),
        )
        if len(found) < probe.total:
            self._read_second_by_offset(second, already)

    def _read_second_by_offset(
        self, second: int, already: set[tuple], tiebreak_range: tuple[int, int] | None = None
    ) -> set[tuple]:
        """Last resort for records identical in every filterable time: offset passes until stable.

        Returns the keys of the stable pass, so a caller bisecting the second can count them.
        """
        paging = self.stream.paging
        extra = {}
        if tiebreak_range is not None:
            extra = {
                self.stream.tiebreak.start_param: tiebreak_range[0],
                self.stream.tiebreak.end_param: tiebreak_range[1],
            }
        for _ in range(DENSE_SECOND_PASSES):
            seen: set[tuple] = set()
            totals: list[int] = []
            page_number = paging.first_page
            while True:
                offset = (page_number - paging.first_page) * paging.page_size
                if paging.max_results and offset + paging.page_size > paging.max_results:
                    raise StreamReadError(
                        f"more than {paging.max_results} records share second {second}; the API cannot "
                        "page that deep",
                        method=self.stream.method,
                    )
                page = self._fetch(
                    {**self._page_params(second, second + 1, page_number, paging.page_size), **extra},
                    self._page_reader(second, second + 1, paging.page_size, offset),
                )
                totals.append(page.total)
                fresh = [
                    r
                    for r, k in zip(page.records, page.keys, strict=True)
                    if k not in already and k not in seen
                ]
                seen.update(page.keys)
                if fresh:
                    self._emit(fresh, page.log_id)
                if len(page.records) < paging.page_size:
                    break
                page_number += 1
            already |= seen
            if len(set(totals)) == 1 and len(seen) >= totals[0]:
                return seen
            log.info("Stream %s: second %d changed while paging; reading it again", self.stream.name, second)
        raise StreamReadError(
            f"records inside second {second} kept changing over {DENSE_SECOND_PASSES} passes; "
            "retry the window later",
            method=self.stream.method,
        )

    # -- finance cursor streams (settlements, account flows) ----------------------------------
    def _parse_finance_page(self, response: ApiResponse, window: Window) -> Page:
        """Records plus the next ``(start_index, start_time)`` as the cursor, None once ``is_end`` is 1."""
        data = self._data(response)
        records = self._record_list(response, data)
        fmt = self.stream.window.format
        for record in records:
            if not window.start <= self._time(record, self.stream.cursor_field, fmt, response) < window.end:
                raise self._shape_error(
                    response, f"a record's {self.stream.cursor_field} lies outside the requested window"
                )
        is_end = data.get("is_end")
        if isinstance(is_end, bool) or is_end not in (0, 1, "0", "1"):
            raise self._shape_error(response, f"is_end is {_kind(is_end)}, not 0 or 1")
        page = Page(records, [], [], len(records), response)
        if str(is_end) == "1":
            return page
        index, start = data.get("next_start_index"), data.get("next_start_time")
        if isinstance(index, bool) or not isinstance(index, (int, str)) or not str(index).isdigit():
            raise self._shape_error(response, f"next_start_index is {_kind(index)}, not a cursor")
        at = _parse_time(start, fmt)
        if at is None or not window.start <= at <= window.end:
            raise self._shape_error(response, "next_start_time is not a time inside the requested window")
        return replace(page, cursor=(index, start))

    def _plan_start_index(self, window: Window) -> None:
        # Submitted from inside a job: a chunk that finishes before the next is submitted must
        # not look like the end of the read.
        chunks = window.chunks(self.stream.window.max_span)
        self.progress.add_windows(len(chunks))
        for chunk in chunks:
            self._submit(self._read_start_index, chunk)

    def _read_start_index(self, window: Window) -> None:
        spec = self.stream.window
        params: dict[str, Any] = {
            spec.start_param: format_time(window.start, spec.format),
            spec.end_param: format_time(window.end, spec.format),
            "size": self.stream.paging.page_size,
        }
        seen_cursors: set[tuple] = set()
        parse = functools.partial(self._parse_finance_page, window=window)
        while True:
            page = self._fetch(params, parse)
            if page.records:
                self._emit(page.records, page.log_id)
            cursor = page.cursor
            if cursor is None:
                break
            if cursor in seen_cursors:
                raise StreamReadError(
                    f"the same cursor came back twice: {cursor}",
                    method=self.stream.method,
                    log_id=page.log_id,
                )
            seen_cursors.add(cursor)
            params = {**params, "start_index": cursor[0], spec.start_param: cursor[1]}
        self.progress.window_done()

    # -- product.listV2 cursor mode -----------------------------------------------------------
    def _read_product_cursor(self) -> None:
        """Walk the cursor until an empty page; the catalogue read must not come up short of its total."""
        paging = self.stream.paging
        params: dict[str, Any] = {"use_cursor": True, "page": paging.first_page, "size": paging.page_size}
        keys: set[tuple] = set()
        smallest_total: int | None = None
        while True:
            page = self._fetch(
                params, functools.partial(self._parse_product_page, previous=params.get("cursor_id"))
            )
            smallest_total = page.total if smallest_total is None else min(smallest_total, page.total)
            if not page.records:
                break
            keys.update(page.keys)
            self._emit(page.records, page.log_id)
            params = {**params, "cursor_id": page.cursor}
        if len(keys) < smallest_total:
            raise DouyinIncompleteReadError(
                f"the cursor ended after {len(keys)} distinct records, but the API counted {smallest_total}",
                method=self.stream.method,
                log_id=page.log_id,
            )
        self.progress.window_done()

    def _parse_product_page(self, response: ApiResponse, previous: str | None) -> Page:
        data = self._data(response)
        records = self._record_list(response, data)
        total = data.get("total")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise self._shape_error(response, f"total is {_kind(total)}, not a count")
        cursor_id = data.get("cursor_id")
        if records and (not isinstance(cursor_id, str) or not cursor_id or cursor_id == previous):
            raise self._shape_error(response, "a page of records without a new cursor_id")
        keys = [self._key(r, response) for r in records]
        return Page(records, keys, [], total, response, cursor_id)


def _kind(value: Any) -> str:
    return "missing or null" if value is None else type(value).__name__


def _parse_time(value: Any, fmt: TimeFormat) -> int | None:
    """``value`` as epoch seconds, or None when it is not a time of format ``fmt``."""
    if fmt == "epoch":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, fmt)
    except ValueError:
        return None
