"""Reconcile a landed window with the API: which keys are missing, extra or stale in the target.

One cheap request (a one-record search) asks the API how many records the window holds, and
one ``COUNT(*)`` asks the target how many rows it holds there. Counts that agree on a large
window are accepted; a window small enough to check key by key (at most ``key_check_below``
records) is listed; a large window whose counts differ is halved, and each half checked the same
way, down to ``slice_span`` (an hour by default), so only where the counts disagree is listed. A
stream whose API cannot count (the 抖音来客 order query) is listed slice by slice. A listing
reads the keys, versions and every scalar column on both sides and compares them:

* **missing**: the API lists the record and the target has no row for its key;
* **stale**: the target's row differs from the API's record (older version, altered status, ...);
* **extra**: the target holds a row in the listed part that the API does not know at all.

Records move: an update after the sync read the window gives the record an ``update_time``
past the window, so the search no longer lists it there and the target keeps the version it
landed. Every disagreement about a row the target holds is therefore settled by the record's
detail call (``order.orderDetail``, ``afterSale.Detail``, the 抖音来客 order query filtered by
``order_id``), which returns its current version whatever the search shows: when that version
lies at or after the window's end the record has moved on and is no alarm (the window it now
belongs to lands and checks it); in a later part of this window, that part judges it; when it
equals the target's row the search was behind; otherwise the row is stale, or extra when the API
does not know the record. A key the API lists that the target lacks needs no detail call: the
search just showed it inside the window.

Airflow-free: the operators and the tests run exactly this code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from airflow_provider_douyin.client.errors import DouyinConfigError, DouyinError
from airflow_provider_douyin.client.open_platform import LIFE_ORDER_QUERY
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.catalog import Stream
from airflow_provider_douyin.streams.reader import ApiCall, StreamReader
from airflow_provider_douyin.streams.records import RowBuilder, lookup
from airflow_provider_douyin.streams.replies import data_object, shape_error
from airflow_provider_douyin.streams.schema import Table
from airflow_provider_douyin.streams.windows import Window

log = get_logger(__name__)

Kind = Literal["missing", "extra", "stale"]
KINDS: tuple[Kind, ...] = ("missing", "extra", "stale")
LISTED_KEYS = 1_000
"""Keys kept per kind in a result (the counts stay exact)."""
MESSAGE_KEYS = 20
"""Keys named per kind in a failure message."""


class DouyinReconciliationError(DouyinError):
    """A reconciliation found rows missing, extra or stale in the target; the message names them."""

    def _describe(self) -> str:
        return self.msg


NOT_FOUND = object()
"""What a :class:`DetailCall` reads from a reply that says the record does not exist."""


@dataclass(frozen=True)
class DetailCall:
    """The call that returns one record's current version, shaped like a record of the stream's list."""

    method: str
    param: str
    record: Callable[[Mapping[str, Any]], Any]
    """``data`` of the reply -> the record, or ``NOT_FOUND`` (anything else: a malformed reply)."""
    not_found: frozenset[str] = frozenset()
    """Sub-codes meaning "no such record"."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Further parameters of every detail request."""


def _only_record(records: Any) -> Any:
    """A search by id: its one record, ``NOT_FOUND`` when empty (``None``, malformed, otherwise)."""
    if isinstance(records, list) and len(records) <= 1:
        return records[0] if records else NOT_FOUND
    return None


DETAIL_CALLS: dict[str, DetailCall] = {
    "orders": DetailCall(
        "order.orderDetail",
        "shop_order_id",
        lambda data: data.get("shop_order_detail"),
        frozenset({"isv.parameter-invalid:20014", "isv.parameter-invalid:20001"}),
    ),
    "after_sales": DetailCall(
        "afterSale.Detail",
        "after_sale_id",
        lambda data: (
            {
                "aftersale_info": lookup(data, "process_info.after_sale_info"),
                "order_info": data.get("order_info"),
            }
            if isinstance(lookup(data, "process_info.after_sale_info"), Mapping)
            else None
        ),
        frozenset({"isv.business-failed:12000", "isv.business-failed:12001"}),
    ),
    # The 抖音来客 order query filtered by order_id; it returns nothing unless page_size >= 10.
    "life_orders": DetailCall(
        LIFE_ORDER_QUERY,
        "order_id",
        lambda data: _only_record(data.get("orders")),
        params={"page_num": 1, "page_size": 10},
    ),
}
"""The streams reconciliation supports, with the detail call that settles a disputed record."""


def reconcilable(stream: Stream) -> DetailCall:
    """The stream's detail call; a stream without one cannot be reconciled."""
    detail = DETAIL_CALLS.get(stream.name)
    if detail is None or stream.window is None:
        raise DouyinConfigError(
            f"stream {stream.name!r} cannot be reconciled; supported: {sorted(DETAIL_CALLS)}"
        )
    return detail


class ReconcileTarget(Protocol):
    """The landed rows of one table, read by version (the stream's window field) or by key."""

    @property
    def name(self) -> str:
        """The landed table, named in reports."""
        ...

    def count(self, window: Window) -> int:
        """Rows whose version lies in ``window``."""
        ...

    def rows_in(self, window: Window) -> dict[str, dict[str, Any]]:
        """Rows whose version lies in ``window``, by key."""
        ...

    def rows_for(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The rows of these keys that exist, by key."""
        ...


@dataclass(frozen=True)
class Mismatch:
    key: str
    kind: Kind
    why: str
    """Which columns differ, or what the API said: for the message, never a personal value."""

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "kind": self.kind, "why": self.why}


@dataclass
class ReconcileResult:
    """What one reconciliation found; :meth:`as_dict` is its JSON form (XCom, Variable, asset event)."""

    stream: str
    table: str
    window: Window
    api_count: int = 0
    target_count: int = 0
    slices: int = 0
    slices_listed: int = 0
    keys_compared: int = 0
    detail_calls: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    """Keys whose record was updated past the window after the target landed it: no alarm."""
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def keys(self, kind: Kind) -> list[str]:
        return [m.key for m in self.mismatches if m.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        start, end = self.window.isoformat()
        keys = {kind: self.keys(kind) for kind in KINDS}
        return {
            "stream": self.stream,
            "table": self.table,
            "window_start": start,
            "window_end": end,
            "checked_at": self.checked_at.isoformat(),
            "ok": self.ok,
            "api_count": self.api_count,
            "target_count": self.target_count,
            "slices": self.slices,
            "slices_listed": self.slices_listed,
            "keys_compared": self.keys_compared,
            "detail_calls": self.detail_calls,
            "counts": {kind: len(found) for kind, found in keys.items()},
            **{kind: found[:LISTED_KEYS] for kind, found in keys.items()},
            "why": [m.as_dict() for m in self.mismatches[:LISTED_KEYS]],
            "moved": len(self.moved),
            "truncated": any(len(found) > LISTED_KEYS for found in keys.values()),
        }

    def message(self) -> str:
        """One paragraph for a task log or an alert: the counts, then the first keys of each kind."""
        start, end = self.window.isoformat()
        head = (
            f"Reconciliation of {self.stream} [{start}, {end}) against {self.table}: "
            f"API {self.api_count} records, target {self.target_count} rows"
        )
        if self.ok:
            return f"{head}; no mismatch ({len(self.moved)} records moved to a later window)"
        parts = []
        for kind in KINDS:
            found = [m for m in self.mismatches if m.kind == kind]
            if not found:
                continue
            whys = {m.why for m in found}
            shared = f" ({found[0].why})" if len(found) > 1 and len(whys) == 1 and found[0].why else ""
            named = ", ".join(
                f"{m.key} ({m.why})" if m.why and not shared else m.key for m in found[:MESSAGE_KEYS]
            )
            more = f" and {len(found) - MESSAGE_KEYS} more" if len(found) > MESSAGE_KEYS else ""
            parts.append(f"{len(found)} {kind}{shared}: {named}{more}")
        count = len(self.mismatches)
        return f"{head}; {count} mismatch{'es' if count > 1 else ''}: " + "; ".join(parts)


def _scalar_columns(table: Table) -> list[tuple[str, str]]:
    """The columns compared: every scalar one (JSON text may be re-serialised by the database)."""
    return [(c.name, c.type) for c in table.columns if c.type != "json"]


def _normal(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):  # text written into a number column: differs from any int
            return str(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def _differences(
    table: Table, api: Mapping[str, Any], target: Mapping[str, Any], *, sent_only: bool = False
) -> list[str]:
    """Columns whose values differ; ``sent_only`` skips those the API record does not carry (a
    detail reply need not carry every field of the list the row was landed from)."""
    return [
        name
        for name, kind in _scalar_columns(table)
        if not (sent_only and api.get(name) is None)
        and _normal(api.get(name), kind) != _normal(target.get(name), kind)
    ]


def _describe(table: Table, differing: list[str], api: Mapping[str, Any], target: Mapping[str, Any]) -> str:
    version = table.version_column
    if version in differing:
        return f"{version}: target {target.get(version)}, API {api.get(version)}"
    return "differs in " + ", ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")


class Reconciler:
    """Reconcile one stream's root table with the API: counts first, keys where they are needed.

    :param call: ``call(method, params) -> ApiResponse``, as for the reader.
    :param slice_span: a window whose counts differ is halved down to this span, then listed.
    :param key_check_below: a window with at most this many records (API and target) is compared
        key by key even when the counts agree (a missing row and an extra one cancel out in a
        count); it also bounds how many keys one listing holds in memory.
    """

    def __init__(
        self,
        call: ApiCall,
        stream: Stream,
        target: ReconcileTarget,
        *,
        slice_span: timedelta = timedelta(hours=1),
        key_check_below: int = 10_000,
        max_workers: int = 4,
    ) -> None:
        self.detail = reconcilable(stream)
        self.call = call
        self.stream = stream
        self.table = stream.root
        self.target = target
        self.slice_span = slice_span
        self.key_check_below = key_check_below
        self.max_workers = max_workers
        self._rows = RowBuilder(self.detail.method)
        self._judged: set[str] = set()
        """Keys already settled: a record disputed in two slices is reported once."""

    def run(self, window: Window) -> ReconcileResult:
        result = ReconcileResult(self.stream.name, self.target.name, window)
        api_count = self._count(window)
        result.target_count = self.target.count(window)
        if api_count is None:
            # The API cannot count a window (the 抖音来客 cursor queries): list it slice by slice.
            for piece in window.chunks(self.slice_span):
                result.slices += 1
                result.api_count += self._compare(piece, window, result)
        else:
            result.api_count = api_count
            self._check(window, window, api_count, result.target_count, result)
        result.mismatches.sort(key=lambda m: (KINDS.index(m.kind), m.key))
        if result.ok:
            log.info("%s", result.message())
        else:
            log.warning("%s", result.message())
        return result

    def _count(self, piece: Window) -> int | None:
        # A reader per count: a reader bounds its requests by the records it yields.
        return self.stream.pager.count(StreamReader(self.call, self.stream, max_workers=1), piece)

    def _check(
        self, piece: Window, window: Window, api_count: int, target_count: int, result: ReconcileResult
    ) -> None:
        """Accept ``piece`` on its counts, list it, or halve it and check both halves (earlier first).

        Counts that agree on more than ``key_check_below`` records are accepted; a piece that small
        on both sides, or no longer than ``slice_span``, is listed; a larger one whose counts differ
        is halved, so the listing is confined to where the counts disagree.
        """
        result.slices += 1
        if api_count == target_count and (api_count == 0 or api_count > self.key_check_below):
            return
        if (
            max(api_count, target_count) <= self.key_check_below
            or piece.seconds <= self.slice_span.total_seconds()
        ):
            self._compare(piece, window, result)
            return
        for half in piece.split(2):
            self._check(half, window, self._count(half), self.target.count(half), result)

    def _api_rows(self, piece: Window) -> dict[str, dict[str, Any]]:
        reader = StreamReader(self.call, self.stream, max_workers=self.max_workers)
        key = self.table.primary_key[0]
        return {str(row[key]): row for batch in reader.read(piece) for row in batch.get(self.table.name, ())}

    def _compare(self, piece: Window, window: Window, result: ReconcileResult) -> int:
        """Compare one slice key by key; returns how many records the API listed in it."""
        result.slices_listed += 1
        api = self._api_rows(piece)
        landed = self.target.rows_in(piece)
        elsewhere = self.target.rows_for(k for k in api if k not in landed)
        result.keys_compared += len(api.keys() | landed.keys())
        disputed: list[str] = []
        for key, row in api.items():
            if key in self._judged:
                continue
            held = landed.get(key) or elsewhere.get(key)
            if held is None:
                self._judged.add(key)
                result.mismatches.append(Mismatch(key, "missing", ""))
            elif _differences(self.table, row, held):
                disputed.append(key)
        disputed += [key for key in landed if key not in api]
        for key in disputed:
            if key not in self._judged:
                self._settle(key, landed.get(key) or elsewhere[key], piece, window, result)
        return len(api)

    def _settle(
        self, key: str, held: Mapping[str, Any], piece: Window, window: Window, result: ReconcileResult
    ) -> None:
        """Ask the record's detail call who is right about ``key``.

        A record whose current version lies in a later slice of this window is left to that slice,
        which lists it; one past the window has moved on and is no alarm.
        """
        result.detail_calls += 1
        current = self._current(key)
        if current is None:
            self._judged.add(key)
            result.mismatches.append(Mismatch(key, "extra", f"{self.detail.method} does not know it"))
            return
        version = current[self.table.version_column]
        if version >= piece.end:
            if version >= window.end:
                self._judged.add(key)
                result.moved.append(key)
            return
        self._judged.add(key)
        differing = _differences(self.table, current, held, sent_only=True)
        if differing:
            result.mismatches.append(Mismatch(key, "stale", _describe(self.table, differing, current, held)))

    def _current(self, key: str) -> dict[str, Any] | None:
        try:
            response: ApiResponse = self.call(
                self.detail.method, {**self.detail.params, self.detail.param: key}
            )
        except DouyinError as err:
            if err.sub_code in self.detail.not_found:
                return None
            raise
        record = self.detail.record(data_object(response))
        if record is NOT_FOUND:
            return None
        if not isinstance(record, Mapping):
            raise shape_error(response, "the detail reply holds no record")
        row = self._rows.row(self.table, record, log_id=response.log_id)
        if not isinstance(row[self.table.version_column], int):
            raise shape_error(response, f"the detail reply's record has no {self.table.version_column}")
        return row


def reconcile(
    call: ApiCall, stream: Stream, window: Window, target: ReconcileTarget, **options: Any
) -> ReconcileResult:
    """Reconcile ``stream``'s landed root table with the API over ``window`` (see :class:`Reconciler`)."""
    return Reconciler(call, stream, target, **options).run(window)
