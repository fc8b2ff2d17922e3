"""Handlers of the goodlife (抖音来客) queries.

Each handler receives the merchant named by ``account_id`` and the query parameters (all
strings, as a GET sends them) and returns the ``data`` member of the reply, or raises
``OpenError``. Time ranges are start-inclusive and end-exclusive, in epoch seconds.
Cursors are opaque to clients; inside they are keysets over a stable order, so a cursor
stays exact while pages shuffle, drift or grow.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..store import Selection
from .envelope import PARAM_INVALID, USE_CURSOR, OpenError
from .merchant import Merchant
from .records import buyer_open_id, order_dict, product_dict, refund_dict, verify_record_dict

if TYPE_CHECKING:
    from .platform import OpenPlatform

FAR_FUTURE = 1 << 40
RESULT_CAP = 10_000
"""Offset paging of the order query and any product query stop at 10,000 results."""


def _opt_int(params: dict[str, str], name: str) -> int | None:
    value = params.get(name, "").strip()
    if value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise OpenError(PARAM_INVALID, f"{name}格式错误") from exc


def _int(params: dict[str, str], name: str, default: int) -> int:
    value = _opt_int(params, name)
    return default if value is None else value


def _bounded_int(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    value = _int(params, name, default)
    if not lo <= value <= hi:
        raise OpenError(PARAM_INVALID, f"{name}取值范围为{lo}-{hi}")
    return value


def _range(params: dict[str, str], start: str, end: str) -> tuple[int, int] | None:
    lo, hi = _opt_int(params, start), _opt_int(params, end)
    if lo is None and hi is None:
        return None
    return (lo or 0, FAR_FUTURE if hi is None else hi)


def _encode(*parts: int) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list[int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = [int(x) for x in text.split(":")]
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise OpenError(PARAM_INVALID, "cursor无效") from exc
    if len(parts) != count:
        raise OpenError(PARAM_INVALID, "cursor无效")
    return parts


def _first_after(selection: Selection, before: Callable[[int], bool]) -> int:
    """The first position whose row is not ``before`` the cursor (the order is monotone)."""
    lo, hi = 0, len(selection)
    while lo < hi:
        mid = (lo + hi) // 2
        if before(selection.slice(mid, mid + 1)[0]):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _scrambled(platform: OpenPlatform, length: int) -> Callable[[int], int]:
    """A fresh permutation of result positions for every request (the shuffle knob)."""
    if length < 2:
        return lambda pos: pos
    rng = platform.injector.rng
    with platform.injector.rng_lock:
        step = rng.randrange(1, length)
        while math.gcd(step, length) != 1:
            step = rng.randrange(1, length)
        offset = rng.randrange(length)
    return lambda pos: (step * pos + offset) % length


# --------------------------------------------------------------------------- orders
def order_query(
    platform: OpenPlatform, merchant: Merchant, params: dict[str, str], now: float
) -> dict[str, Any]:
    size = _int(params, "page_size", 0)
    if size != 0 and not 10 <= size <= 200:
        raise OpenError(PARAM_INVALID, "page_size取值范围为10-200")
    page_num = _int(params, "page_num", 1)
    if page_num < 1:
        raise OpenError(PARAM_INVALID, "page_num从1开始")
    cursor_mode = "cursor" in params
    ranges = {
        col: r
        for col, r in (
            ("create", _range(params, "create_order_start_time", "create_order_end_time")),
            ("update", _range(params, "update_order_start_time", "update_order_end_time")),
        )
        if r is not None
    }
    members = _order_members(merchant, params)
    if (status := _opt_int(params, "order_status")) is not None:
        members["status"] = frozenset([status])
    table = merchant.orders

    def search() -> Selection:
        return table.search(now, ranges, members, "create", False)

    selection = search()
    lag = platform.faults.visibility_lag_s
    if platform.injector.drift(selection, lambda i: merchant.touch_order(i, int(now), lag)):
        selection = search()
    total = len(selection)
    page = {"page_num": page_num, "page_size": size, "total": total}
    if size == 0:
        return {"orders": [], "page": page}
    creates = table.cols["create"]
    if cursor_mode:
        cursor = params["cursor"].strip()
        start = 0
        if cursor:
            c_create, c_idx = _decode(cursor, 2)
            start = _first_after(selection, lambda i: (creates[i], i) >= (c_create, c_idx))
        indexes = selection.slice(start, start + size)
        data: dict[str, Any] = {"page": page, "has_more": start + len(indexes) < total}
        last = indexes[-1] if indexes else None
        data["search_after"] = {"CursorValue": _encode(creates[last], last) if last is not None else cursor}
    else:
        if page_num * size > RESULT_CAP:
            raise OpenError(USE_CURSOR)
        positions = range((page_num - 1) * size, min(page_num * size, total))
        if platform.faults.order_shuffle:
            where = _scrambled(platform, total)
            indexes = [selection.slice(p, p + 1)[0] for p in map(where, positions)]
        else:
            indexes = selection.slice(positions.start, positions.stop)
        data = {"page": page}
    if platform.faults.order_shuffle:
        with platform.injector.rng_lock:
            platform.injector.rng.shuffle(indexes)
    data["orders"] = [order_dict(merchant, i, table.visible_row(i, now)) for i in indexes]
    return data


def _order_members(merchant: Merchant, params: dict[str, str]) -> dict[str, frozenset[int]]:
    """Row sets named by ``order_id``, ``ext_order_id`` (never set in the sandbox) and ``open_id``."""
    wanted: frozenset[int] | None = None
    if order_id := params.get("order_id", "").strip():
        idx = merchant.order_index(order_id)
        wanted = frozenset() if idx is None else frozenset([idx])
    if params.get("ext_order_id", "").strip():
        wanted = frozenset()
    if open_id := params.get("open_id", "").strip():
        buyers = frozenset(i for i in range(len(merchant.orders)) if buyer_open_id(merchant, i) == open_id)
        wanted = buyers if wanted is None else wanted & buyers
    return {} if wanted is None else {"_idx": wanted}


# --------------------------------------------------------------------------- products
def product_online_query(
    platform: OpenPlatform, merchant: Merchant, params: dict[str, str], now: float
) -> dict[str, Any]:
    count = _bounded_int(params, "count", 20, 1, 50)
    status = _opt_int(params, "status")
    if status is not None and status not in (1, 2, 3):
        raise OpenError(PARAM_INVALID, "status取值为1、2或3")
    position, served = _decode(params["cursor"], 2) if params.get("cursor", "").strip() else (0, 0)
    if served >= RESULT_CAP:
        raise OpenError(USE_CURSOR, "最多查询10000条结果，请使用Cursor参数查询")
    statuses = merchant.p_status
    found: list[int] = []
    p = position
    wanted = min(count, RESULT_CAP - served)
    while p < len(statuses) and len(found) <= wanted:
        if status is None or statuses[p] == status:
            found.append(p)
        p += 1
    has_more = len(found) > wanted
    page = found[:wanted]
    next_position = page[-1] + 1 if page else position
    return {
        "products": [product_dict(merchant, q) for q in page],
        "has_more": has_more,
        "next_cursor": _encode(next_position, served + len(page)),
    }


def product_online_get(
    platform: OpenPlatform, merchant: Merchant, params: dict[str, str], now: float
) -> dict[str, Any]:
    ids = [x.strip() for x in params.get("product_ids", "").split(",") if x.strip()]
    out_ids = [x.strip() for x in params.get("out_ids", "").split(",") if x.strip()]
    if not ids and not out_ids:
        raise OpenError(PARAM_INVALID, "product_ids和out_ids不能同时为空")
    if len(ids) > 10 or len(out_ids) > 10:
        raise OpenError(PARAM_INVALID, "一次最多查询10个商品")
    products = range(len(merchant.p_create))
    chosen = [
        p
        for p in products
        if merchant.product_id(p) in ids or f"DEAL{merchant.merchant_no:02d}{p:07d}" in out_ids
    ]
    return {"product_onlines": [product_dict(merchant, p) for p in chosen]}


# --------------------------------------------------------------------------- events
def _event_page(
    table: Any,
    time_col: str,
    window: tuple[int, int],
    members: dict[str, frozenset[int]],
    params: dict[str, str],
    size: int,
    now: float,
) -> tuple[list[tuple[int, Any]], dict[str, Any]]:
    """A cursor page over an append-only event table in ``(time, row)`` order: its rows, and
    the reply's ``has_more`` and ``cursor``.

    Rows are appended in time order, so the row index alone is the keyset.
    """
    selection = table.search(now, {time_col: window}, members, time_col, True)
    cursor = params.get("cursor", "").strip()
    start = 0
    if cursor:
        (after,) = _decode(cursor, 1)
        start = _first_after(selection, lambda i: i <= after)
    indexes = selection.slice(start, start + size)
    next_cursor = _encode(indexes[-1]) if indexes else cursor
    rows = [(i, table.visible_row(i, now)) for i in indexes]
    return rows, {"has_more": start + len(indexes) < len(selection), "cursor": next_cursor}


def _required_window(params: dict[str, str], start: str, end: str, now: float) -> tuple[int, int]:
    lo, hi = _opt_int(params, start), _opt_int(params, end)
    if lo is None:
        raise OpenError(PARAM_INVALID, f"{start}不能为空")
    return lo, int(now) + 1 if hi is None else hi


def verify_record_query(
    platform: OpenPlatform, merchant: Merchant, params: dict[str, str], now: float
) -> dict[str, Any]:
    size = _bounded_int(params, "size", 20, 1, 100)
    window = _required_window(params, "start_time", "end_time", now)
    members: dict[str, frozenset[int]] = {}
    if poi_text := params.get("poi_ids", "").strip():
        by_id = {merchant.poi_id(i): i for i in range(merchant.poi_count)}
        members["poi"] = frozenset(by_id.get(p.strip(), -1) for p in poi_text.split(","))
    rows, more = _event_page(merchant.verifications, "verify", window, members, params, size, now)
    return {"records": [verify_record_dict(merchant, i, row) for i, row in rows], **more}


def after_sale_query(
    platform: OpenPlatform, merchant: Merchant, params: dict[str, str], now: float
) -> dict[str, Any]:
    size = _bounded_int(params, "page_size", 20, 1, 100)
    window = _required_window(params, "refund_done_start_time", "refund_done_end_time", now)
    members: dict[str, frozenset[int]] = {}
    if order_id := params.get("order_id", "").strip():
        idx = merchant.order_index(order_id)
        members["order_idx"] = frozenset([-1 if idx is None else idx])
    rows, more = _event_page(merchant.refunds, "done", window, members, params, size, now)
    return {"after_sale_orders": [refund_dict(merchant, i, row) for i, row in rows], **more}


QueryHandler = Callable[["OpenPlatform", Merchant, dict[str, str], float], dict[str, Any]]

QUERIES: dict[str, QueryHandler] = {
    "/goodlife/v1/trade/order/query/": order_query,
    "/goodlife/v1/hermes/trade/order/query/": order_query,
    "/goodlife/v1/goods/product/online/query/": product_online_query,
    "/goodlife/v1/goods/product/online/get/": product_online_get,
    "/goodlife/v1/fulfilment/certificate/verify_record/query/": verify_record_query,
    "/goodlife/v1/akte/after_sale/order/query/": after_sale_query,
}
