"""Read a declared stream for a window, concurrently, without losing records to paging drift.

The paging itself belongs to the stream's pager (``pagers``): it builds each request, checks each
reply and decides what to ask next, one walk at a time. This module runs those walks.

Concurrency: a window is cut into the spans one request may cover (finance: 7 days), and each
span the pager can count into slices sized from a one-record probe of its total; the pieces are
walked by a thread pool paced by the client's shared rate limiter. Pages flow through a bounded
queue to the caller, so memory stays flat however large the window is. A keyset window of
``LONG_WINDOW_S`` or more is cut into one slice per worker at once, without its opening page.

Work stealing (keyset walks): a window is cut into one slice per worker, and a worker that finishes
while no piece waits is counted as hungry. The next walk to finish a full page while holding at
least two pages and half as many records as the fullest walk hands the upper half of its remaining
time range to it, if that walk would otherwise finish alone: it holds over ``STEAL_ABOVE_SHARE``
times the average of the walks under way, or fewer than ``STEAL_BELOW_WORKERS`` of the workers have
a walk left. Otherwise the walks under way keep the rate busy, and another walk would only add a
request (the short page every walk ends on). The cut lies above every record the walk has read, so
no record is read twice and none is skipped; the new piece's records were counted in its parent's
total, so it reports none.

Trust: every reply is checked by the pager before a record of it counts. A malformed reply, or a
page shorter than its own total promises, is read again (``PAGE_READS`` times in all) and then
fails typed (``DouyinResponseShapeError``, ``DouyinIncompleteReadError``), never as "no more
rows". A stream's ``inner_code`` check runs on every reply of its method. Totals are reconciled:
records only leave a range while it is read (an update moves them past the window's end), so
slices holding more than their window's probe counted fail with the numbers.

Work is bounded: a read stops once its requests to the stream's method exceed
``REQUEST_BASE + REQUESTS_PER_WINDOW * windows + REQUESTS_PER_PAGE * ceil(records / page_size)``
(windows = slices and finance spans planned, records = records yielded), so replies that
never advance cost a bounded number of requests, never an endless loop.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_douyin.client.errors import DouyinIncompleteReadError, DouyinResponseShapeError
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.catalog import Stream, TableBinding
from airflow_provider_douyin.streams.garbage import fewer_collections
from airflow_provider_douyin.streams.pagers import DoudianKeysetPager
from airflow_provider_douyin.streams.records import RowBuilder, lookup
from airflow_provider_douyin.streams.replies import Page, StreamReadError, kind, shape_error
from airflow_provider_douyin.streams.windows import Window

log = get_logger(__name__)

ApiCall = Callable[[str, Mapping[str, Any]], ApiResponse]
"""``call(method, params) -> ApiResponse``: the client's ``request``, so errors can name the log_id."""
Rows = dict[str, list[dict[str, Any]]]
_T = TypeVar("_T")

PROGRESS_EVERY_S = 10.0
PAGE_READS = 3
"""Reads of one page before a malformed or short answer fails the read."""
STEAL_ABOVE_SHARE = 1.5
STEAL_BELOW_WORKERS = 0.75
"""When a hungry worker is fed (see the module docstring)."""
LONG_WINDOW_S = 7 * 86_400
"""A keyset window at least this long (a backfill, a first sync) is cut into one slice per worker at
once, without an opening page: that page holds every worker back one round trip (2-3% of a
30,000-order read at QPS 50), while a sparse long window costs at most one request per worker."""
REQUEST_BASE = 20
REQUESTS_PER_WINDOW = 10
REQUESTS_PER_PAGE = 10
"""The request bound (module docstring): generous for crowded seconds, whose bisection and offset
passes re-read pages, yet proportional to what the read yields."""


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


class _Walk:
    """The range one keyset walk reads: the pager reads ``end`` before every page, and a thief may
    lower it between pages (:meth:`StreamReader._after_page`)."""

    def __init__(self, window: Window, *, reports_total: bool) -> None:
        self.start = window.start
        self.end = window.end
        self.reports_total = reports_total
        """Whether its first total counts against the window's opening: a stolen range's records were
        counted in its parent's total, and a long window has no opening."""
        self.left = 0
        """Records the walk's range still held after its last page."""


class _WalkPages:
    """What the pager walks one :class:`_Walk` with: the reader's, plus the walk's bookkeeping."""

    def __init__(self, reader: StreamReader, walk: _Walk) -> None:
        self.stream = reader.stream
        self._reader = reader
        self._walk = walk

    def fetch(self, params: Mapping[str, Any], check: Callable[[ApiResponse], Page]) -> Page:
        page = self._reader.fetch(params, check)
        self._reader._after_page(self._walk, page)
        return page

    def emit(self, records: list[Mapping[str, Any]], log_id: str, *, clean: bool = False) -> None:
        self._reader.emit(records, log_id, clean=clean)

    def report_total(self, total: int) -> None:
        if self._walk.reports_total:
            self._reader.report_total(total)
        if total == 0:
            self._reader.found_empty_range()


class StreamReader:
    """Yield ``{table_name: rows}`` batches for one stream and window.

    It is also what the stream's pager walks with (``pagers.Pages``): :meth:`fetch`,
    :meth:`emit` and :meth:`report_total`.

    :param call: ``call(method, params) -> ApiResponse`` (``DoudianShopClient.request``).
    :param max_workers: concurrent requests; the rate limiter, not this, sets the pace.
    :param slice_records: at most this many records per slice of a stream whose walks cannot hand
        over a range (the others are cut into one slice per worker).
    """

    def __init__(
        self,
        call: ApiCall,
        stream: Stream,
        *,
        max_workers: int = 8,
        slice_records: int = 2_000,
        max_slices: int = 512,
        queue_batches: int = 32,
    ) -> None:
        self._call = call
        self.stream = stream
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
        self._empty_ranges = 0
        self._stealing = isinstance(stream.pager, DoudianKeysetPager)
        self._walks: set[_Walk] = set()
        self._waiting_walks = 0
        self._hungry = 0

    # -- public -------------------------------------------------------------------------------
    def read(self, window: Window | None) -> Iterator[Rows]:
        if self.stream.window is not None and window is None:
            raise ValueError(f"stream {self.stream.name!r} needs a window")
        last_log = time.monotonic()
        with (
            fewer_collections(),
            ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"douyin-{self.stream.name}") as pool,
        ):
            self._pool = pool
            try:
                # Planned inside a job: a piece that finishes before the next is submitted must
                # not look like the end of the read.
                self._submit(self._plan, window if self.stream.window is not None else None)
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
                        self._reconcile_window(window)
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

    # -- what a pager walks with (pagers.Pages) ------------------------------------------------
    def fetch(
        self, params: Mapping[str, Any], check: Callable[[ApiResponse], _T], method: str | None = None
    ) -> _T:
        """Request the stream's method (or a companion ``method`` a pager fans out to) and check the
        reply, reading again while it is malformed or short."""
        return self._fetch(params, check, method or self.stream.method)

    def emit(self, records: list[Mapping[str, Any]], log_id: str, *, clean: bool = False) -> None:
        """Turn checked records into rows for every table, and fan out their per-record calls."""
        self.progress.count_records(len(records))
        rows: Rows = {}
        for binding in self.stream.tables:
            if binding.fan_out_method:
                continue
            table = binding.table
            out = rows.setdefault(table.name, [])
            for record in records:
                if binding.records is None:
                    out.append(self._rows.row(table, record, log_id=log_id, clean=clean))
                else:
                    out.extend(self._rows.nested(table, record, binding.records, log_id=log_id, clean=clean))
        self._put(rows)
        for binding in self.stream.tables:
            if binding.fan_out_method:
                for record in records:
                    self._submit(self._fan_out, binding, record)

    def report_total(self, total: int) -> None:
        """A slice's first total; all of them together may not exceed what the window's probe counted."""
        with self._pending_lock:
            self._slice_totals += total

    def found_empty_range(self) -> None:
        """A keyset walk's first page said its range holds nothing (:meth:`_recount`)."""
        with self._pending_lock:
            self._empty_ranges += 1

    # -- planning -----------------------------------------------------------------------------
    def _plan(self, window: Window | None) -> None:
        """Cut the read into pieces walked at once: spans one request may cover, then slices."""
        if window is None:
            pieces: list[tuple[Window | None, bool]] = [(None, True)]
        else:
            pieces = [
                piece for span in window.chunks(self.stream.window.max_span) for piece in self._slices(span)
            ]
        self.progress.add_windows(len(pieces))
        for piece, reports_total in pieces:
            self._submit_walk(piece, reports_total=reports_total)

    def _slices(self, span: Window) -> list[tuple[Window, bool]]:
        """The span's slices, each with whether its walk reports its first total to the span's opening."""
        if self._stealing and span.seconds >= LONG_WINDOW_S:
            slices = span.split(self.max_workers)
            log.info(
                "Stream %s window %s..%s is long: reading it in %d slices at once",
                self.stream.name,
                *span.isoformat(),
                len(slices),
            )
            return [(piece, False) for piece in slices]
        return [(piece, True) for piece in self._opened_slices(span)]

    def _opened_slices(self, window: Window) -> list[Window]:
        opening = self.stream.pager.open(self, window)
        if opening is None:
            return [window]
        with self._pending_lock:
            self._probe_total = (self._probe_total or 0) + opening.total
            self._slice_totals += opening.emitted
        if opening.rest >= window.end:
            return []
        rest = Window(opening.rest, window.end)
        left = opening.total - opening.emitted
        # A slice per worker (records cluster in time, so equal-time slices are unequal in size, and
        # idle workers then steal from the largest), never slices under ~5 pages: every slice ends
        # on a short page. Pagers that cannot hand over a range get four per worker, and slices of
        # at most ``slice_records``. The first page only plans the rest: even a window it calls
        # empty is read, and the slices' own totals are checked against it.
        five_pages = math.ceil(left / (5 * self.stream.pager.page_size))
        if self._stealing:
            parts = min(self.max_workers, five_pages)
        else:
            parts = max(math.ceil(left / self.slice_records), min(4 * self.max_workers, five_pages))
        parts = min(self.max_slices, max(1, parts))
        slices = rest.split(parts)
        log.info(
            "Stream %s window %s..%s holds ~%d records; reading %d more in %d slices",
            self.stream.name,
            *window.isoformat(),
            opening.total,
            left,
            len(slices),
        )
        return slices

    def _submit_walk(self, piece: Window | None, *, reports_total: bool) -> None:
        with self._pending_lock:
            self._waiting_walks += 1
        self._submit(self._walk, piece, reports_total)

    def _walk(self, piece: Window | None, reports_total: bool) -> None:
        with self._pending_lock:
            self._waiting_walks -= 1
        if piece is None or not self._stealing:
            self.stream.pager.walk(self, piece)
            self.progress.window_done()
            return
        walk = _Walk(piece, reports_total=reports_total)
        with self._pending_lock:
            self._walks.add(walk)
        try:
            self.stream.pager.walk(_WalkPages(self, walk), walk)
        finally:
            with self._pending_lock:
                self._walks.discard(walk)
        self.progress.window_done()
        self._ask_for_work()

    def _ask_for_work(self) -> None:
        """This worker is free and no piece waits: the next walk that can spare half will feed it."""
        with self._pending_lock:
            if not self._waiting_walks and not self._stop.is_set():
                self._hungry += 1

    def _after_page(self, walk: _Walk, page: Page) -> None:
        """Between two pages of ``walk``: hand the upper half of its range to a hungry worker.

        Only after a full page (a short page ends the walk: nothing above it is left), and cut above
        the page's last record, so what the walk has read stays below the cut; only if the walk would
        otherwise finish alone (module docstring).
        """
        size = self.stream.pager.page_size
        with self._pending_lock:
            walk.left = max(0, page.total - len(page.records))
            if not self._hungry or len(page.records) < size or walk.left < 2 * size:
                return
            lefts = [w.left for w in self._walks]
            if walk.left * 2 < max(lefts):
                return  # a fuller walk will feed the worker at its next page
            few = len(lefts) < STEAL_BELOW_WORKERS * self.max_workers
            if not few and walk.left * len(lefts) <= STEAL_ABOVE_SHARE * sum(lefts):
                return
            cut = (page.times[-1] + 1 + walk.end) // 2
            if not page.times[-1] < cut < walk.end:
                return
            self._hungry -= 1
            stolen, walk.end = Window(cut, walk.end), cut
            walk.left //= 2
        self.progress.add_windows(1)
        self._submit_walk(stolen, reports_total=False)

    def _reconcile_window(self, window: Window | None) -> None:
        """Every planned slice was read, no slice held more records than the probe counted, and none
        of what the window still holds was missed (:meth:`_recount`)."""
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
        if window is not None and self._stealing:
            self._recount(window)

    def _recount(self, window: Window) -> None:
        """Count the window again when the read came up short of its opening, or, without one, when a
        walk's first page called its range empty: a reply that wrongly says "nothing here" ends a walk
        consistently, and only a count can tell.

        Records only leave a window while it is read (an update moves them past its end, and nothing
        enters it), so every record it holds at the end was held all along and read by some walk: a
        window now holding more records than the read emitted lost some.
        """
        fell_short = self._probe_total is not None and self._slice_totals < self._probe_total
        if not (fell_short or (self._probe_total is None and self._empty_ranges)):
            return
        held = self.probe(window)
        if held > self.progress.records:
            raise DouyinIncompleteReadError(
                f"the window holds {held} records, but the read emitted only {self.progress.records}; "
                "a reply called a range with records empty or short",
                method=self.stream.method,
            )

    def probe(self, window: Window) -> int:
        """How many records ``window`` holds, from one small request checked like any page.

        Streams with a total answer it; the finance cursor streams report none, so for them it is 1
        when the window holds any record, else 0.
        """
        return self.stream.pager.probe(self, window)

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

    # -- requests -----------------------------------------------------------------------------
    def _request(self, params: Mapping[str, Any], method: str) -> ApiResponse:
        if self._stop.is_set():
            raise StreamReadError("read cancelled", method=self.stream.method)
        paged = method == self.stream.method
        requests = self.progress.count_request(paged=paged)
        if paged:
            self._check_budget(requests)
            params = {**self.stream.static_params, **params}
        response = self._call(method, params)
        if paged and self.stream.inner_code is not None:
            self.stream.inner_code(response.data, method, log_id=response.log_id)
        return response

    def _check_budget(self, requests: int) -> None:
        """Stop a read whose requests outgrow the records it yields (see the module docstring)."""
        progress = self.progress
        pages = math.ceil(progress.records / self.stream.pager.page_size)
        allowed = REQUEST_BASE + REQUESTS_PER_WINDOW * progress.windows_total + REQUESTS_PER_PAGE * pages
        if requests > allowed:
            raise StreamReadError(
                f"{requests} requests yielded only {progress.records} records (at most {allowed} allowed); "
                "the API's answers do not make progress",
                method=self.stream.method,
            )

    def _fetch(self, params: Mapping[str, Any], check: Callable[[ApiResponse], _T], method: str) -> _T:
        """Request and check one page, asking again while the answer is malformed or short."""
        for read in range(1, PAGE_READS + 1):
            response = self._request(params, method)
            try:
                return check(response)
            except (DouyinResponseShapeError, DouyinIncompleteReadError) as err:
                if read == PAGE_READS:
                    raise
                log.warning("%s; reading the page again (%d/%d)", err, read + 1, PAGE_READS)
        raise AssertionError("unreachable")

    def _fan_out(self, binding: TableBinding, parent: Mapping[str, Any]) -> None:
        def children(response: ApiResponse) -> ApiResponse:
            if not isinstance(response.data, list):
                raise shape_error(response, f"data is {kind(response.data)}, not a list")
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
