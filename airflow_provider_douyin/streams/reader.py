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
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_douyin.streams.catalog import Stream, TableBinding
from airflow_provider_douyin.streams.records import lookup, nested_rows, to_row
from airflow_provider_douyin.streams.windows import HISTORY_MARGIN, Window, format_time, parse_time

log = logging.getLogger(__name__)

ApiCall = Callable[[str, Mapping[str, Any]], Any]
InnerCodeCheck = Callable[[Any, str], None]
Rows = dict[str, list[dict[str, Any]]]

DENSE_SECOND_PASSES = 5
PROGRESS_EVERY_S = 10.0


class StreamReadError(RuntimeError):
    """The API's answers cannot be read without risking a lost record."""


@dataclass
class ReadProgress:
    started: float = field(default_factory=time.monotonic)
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    windows_total: int = 0
    windows_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

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

    :param call: ``call(method, params) -> data`` (``DouyinShopHook.call`` or the client's).
    :param check_inner_code: raises on a finance ``data.code`` other than "100000".
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
                    chunks = window.chunks(self.stream.window.max_span)
                    self.progress.add_windows(len(chunks))
                    for chunk in chunks:
                        self._submit(self._read_start_index, chunk)
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

    def _request(self, params: Mapping[str, Any], method: str | None = None) -> Any:
        if self._stop.is_set():
            raise StreamReadError("read cancelled")
        self.progress.count_request()
        method = method or self.stream.method
        data = self._call(
            method, {**self.stream.static_params, **params} if method == self.stream.method else params
        )
        if self.stream.inner_code and method == self.stream.method and self._check_inner_code:
            self._check_inner_code(data, method)
        return data

    def _emit(self, records: list[Mapping[str, Any]]) -> None:
        rows: Rows = {}
        for binding in self.stream.tables:
            if binding.fan_out_method:
                continue
            table = binding.table
            out = rows.setdefault(table.name, [])
            for record in records:
                if binding.records is None:
                    out.append(to_row(table, record))
                else:
                    out.extend(nested_rows(table, record, binding.records))
        self._put(rows)
        for binding in self.stream.tables:
            if binding.fan_out_method:
                for record in records:
                    self._submit(self._fan_out, binding, record)

    def _fan_out(self, binding: TableBinding, parent: Mapping[str, Any]) -> None:
        data = self._request(
            {binding.fan_out_param: lookup(parent, binding.fan_out_key)}, binding.fan_out_method
        )
        children = data if isinstance(data, list) else []
        self._put({binding.table.name: [to_row(binding.table, c, parent=parent) for c in children]})

    # -- page/size streams (orders, after-sales) ---------------------------------------------
    def _page_params(self, start: int, end: int, page: int, size: int) -> dict[str, Any]:
        spec = self.stream.window
        return {
            spec.start_param: format_time(start, spec.format),
            spec.end_param: format_time(end, spec.format),
            "page": page,
            "size": size,
        }

    def _records(self, data: Any) -> list[Mapping[str, Any]]:
        records = lookup(data, self.stream.paging.records) if isinstance(data, Mapping) else None
        return list(records or [])

    def _cursor(self, record: Mapping[str, Any]) -> int:
        return parse_time(lookup(record, self.stream.cursor_field), self.stream.window.format)

    def _key(self, record: Mapping[str, Any]) -> tuple:
        root = self.stream.root
        return tuple(lookup(record, root.column(k).source) for k in root.primary_key)

    def _plan_page_slices(self, window: Window) -> None:
        probe = self._request(self._page_params(window.start, window.end, self.stream.paging.first_page, 1))
        total = int(probe.get("total") or 0) if isinstance(probe, Mapping) else 0
        # Enough slices that every worker stays busy to the end (records cluster in time, so
        # equal-time slices are unequal in size), but never slices under ~5 pages.
        page_size = self.stream.paging.page_size
        spread = min(4 * self.max_workers, math.ceil(total / (5 * page_size)))
        parts = min(self.max_slices, max(1, math.ceil(total / self.slice_records), spread))
        slices = window.split(parts) if total else []
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
        size = self.stream.paging.page_size
        first = self.stream.paging.first_page
        cursor = window.start
        emitted_at_cursor: set[tuple] = set()
        while cursor < window.end:
            records = self._records(self._request(self._page_params(cursor, window.end, first, size)))
            fresh = [r for r in records if self._key(r) not in emitted_at_cursor]
            if fresh:
                self._emit(fresh)
            if len(records) < size:
                break
            last = self._cursor(records[-1])
            if last < cursor:
                raise StreamReadError(
                    f"{self.stream.method} returned records out of {self.stream.cursor_field} order"
                )
            if last == cursor:
                self._read_dense_second(cursor, emitted_at_cursor)
                cursor, emitted_at_cursor = cursor + 1, set()
                continue
            emitted_at_cursor = {self._key(r) for r in records if self._cursor(r) == last}
            cursor = last
        self.progress.window_done()

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
            records = self._records(
                self._request({**params, tiebreak.start_param: low, tiebreak.end_param: high})
            )
            if len(records) < paging.page_size:
                keys = {self._key(r) for r in records}
                fresh = [r for r in records if self._key(r) not in already]
                already |= keys
                found |= keys
                if fresh:
                    self._emit(fresh)
            elif high - low <= 1:
                found |= self._read_second_by_offset(second, already, tiebreak_range=(low, high))
            else:
                times = sorted(parse_time(lookup(r, tiebreak.field), "epoch") for r in records)
                middle = min(max(times[len(times) // 2], low + 1), high - 1)
                parts += [(low, middle), (middle, high)]
        probe = self._request(self._page_params(second, second + 1, paging.first_page, 1))
        if len(found) < int(probe.get("total") or 0):
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
            page = paging.first_page
            while True:
                if (
                    paging.max_results
                    and (page - paging.first_page + 1) * paging.page_size > paging.max_results
                ):
                    raise StreamReadError(
                        f"{self.stream.method}: more than {paging.max_results} records share second "
                        f"{second}; the API cannot page that deep"
                    )
                data = self._request(
                    {**self._page_params(second, second + 1, page, paging.page_size), **extra}
                )
                totals.append(int(data.get("total") or 0))
                records = self._records(data)
                fresh = [r for r in records if self._key(r) not in already and self._key(r) not in seen]
                seen.update(self._key(r) for r in records)
                if fresh:
                    self._emit(fresh)
                if len(records) < paging.page_size:
                    break
                page += 1
            already |= seen
            if len(set(totals)) == 1 and len(seen) >= totals[0]:
                return seen
            log.info("Stream %s: second %d changed while paging; reading it again", self.stream.name, second)
        raise StreamReadError(
            f"{self.stream.method}: records inside second {second} kept changing over "
            f"{DENSE_SECOND_PASSES} passes; retry the window later"
        )

    # -- finance cursor streams (settlements, account flows) ----------------------------------
    def _read_start_index(self, window: Window) -> None:
        spec = self.stream.window
        params: dict[str, Any] = {
            spec.start_param: format_time(window.start, spec.format),
            spec.end_param: format_time(window.end, spec.format),
            "size": self.stream.paging.page_size,
        }
        seen_cursors: set[tuple] = set()
        while True:
            data = self._request(params)
            records = self._records(data)
            if records:
                self._emit(records)
            if str(data.get("is_end", "1")) == "1":
                break
            cursor = (data.get("next_start_index"), data.get("next_start_time"))
            if cursor in seen_cursors:
                raise StreamReadError(f"{self.stream.method} returned the same cursor twice: {cursor}")
            seen_cursors.add(cursor)
            params = {**params, "start_index": cursor[0], spec.start_param: cursor[1]}
        self.progress.window_done()

    # -- product.listV2 cursor mode -----------------------------------------------------------
    def _read_product_cursor(self) -> None:
        paging = self.stream.paging
        params: dict[str, Any] = {"use_cursor": True, "page": paging.first_page, "size": paging.page_size}
        while True:
            data = self._request(params)
            records = self._records(data)
            if not records:
                break
            self._emit(records)
            cursor_id = data.get("cursor_id") if isinstance(data, Mapping) else None
            if not cursor_id or cursor_id == params.get("cursor_id"):
                break
            params = {**params, "cursor_id": cursor_id}
        self.progress.window_done()
