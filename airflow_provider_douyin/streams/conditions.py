"""What the Douyin sensors wait for: one function per condition, over the client's ``call``.

A sensor poking on a worker and its trigger on the triggerer evaluate the very same function
with the same plain JSON parameters, so the two modes cannot disagree. Each check builds its
requests from the stream declarations (``catalog``) and reads through ``StreamReader``, so an
answer is trusted exactly as far as a sync would trust it: a malformed reply fails, it never
counts as "nothing yet". Nothing here imports Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from airflow_provider_douyin.client.errors import DouyinError
from airflow_provider_douyin.streams.catalog import Stream, get_stream
from airflow_provider_douyin.streams.reader import ApiCall, StreamReader
from airflow_provider_douyin.streams.windows import SHANGHAI, Window

FULL_READ_EVERY_S = 2 * 3600.0
"""How often the low-stock check walks the whole catalogue even when it saw no change (see ``low_stock``)."""
CHANGE_OVERLAP_S = 120.0
"""Each low-stock poke looks this far behind the previous one: a change becomes searchable a little
after it happens (the transfer operators keep the same two minutes as their ``safety_lag``), and the
gateway's clock is not ours."""
PRODUCT_IDS_PER_REQUEST = 100
"""``product.listV2`` takes at most 100 ``product_id`` values."""


class DouyinConditionFailed(DouyinError):
    """A sensor's trigger stopped on an API error; the message carries code, sub_code and log_id."""

    def _describe(self) -> str:
        return self.msg  # already the API error's own description, redacted


@dataclass(frozen=True)
class CheckResult:
    done: bool
    payload: Any = None
    reason: str = ""
    carry: dict[str, Any] = field(default_factory=dict)
    """JSON parameters for the check's next evaluation: what a stateful check learnt this time."""


def _with_filters(stream: Stream, **filters: Any) -> Stream:
    """The declared stream with extra request filters sent on every page."""
    return replace(stream, static_params={**stream.static_params, **filters})


def orders_exist(
    call: ApiCall,
    *,
    start: int,
    end: int,
    order_statuses: list[int] | None = None,
    time_field: str = "update_time",
    min_count: int = 1,
) -> CheckResult:
    """At least ``min_count`` orders changed (or were created) in ``[start, end)``, in some statuses."""
    stream = get_stream("orders")
    if time_field == "create_time":
        # The stream's tiebreak declares the create-time filter; records are then checked by it.
        tiebreak = stream.pager.tiebreak
        window = replace(stream.window, start_param=tiebreak.start_param, end_param=tiebreak.end_param)
        stream = replace(stream, window=window, cursor_field=tiebreak.field)
    elif time_field != "update_time":
        raise ValueError("time_field must be 'update_time' or 'create_time'")
    if order_statuses:
        stream = _with_filters(
            stream, combine_status=[{"order_status": ",".join(str(s) for s in order_statuses)}]
        )
    count = StreamReader(call, stream, max_workers=1).probe(Window(start, end))
    return CheckResult(
        count >= min_count,
        {"orders": count, "window_start": start, "window_end": end},
        f"{count} matching orders, waiting for {min_count}",
    )


def settlement_ready(call: ApiCall, *, day: str, not_before_s: float = 15 * 3600) -> CheckResult:
    """Day ``day``'s settlement bill (Asia/Shanghai) is out; Doudian publishes it T+1, after 15:00.

    Before ``not_before_s`` past the next midnight it asks nothing: the bill cannot be there yet.
    """
    bill_day = date.fromisoformat(day)
    midnight = datetime.combine(bill_day, datetime.min.time(), SHANGHAI)
    ask_from = midnight + timedelta(days=1, seconds=not_before_s)
    if time.time() < ask_from.timestamp():
        return CheckResult(
            False, reason=f"settlement for {day} is not published before {ask_from.isoformat()}"
        )
    reader = StreamReader(call, get_stream("settlements"), max_workers=1)
    window = Window.from_datetimes(midnight, midnight + timedelta(days=1))
    if reader.probe(window):
        return CheckResult(True, {"settlement_date": day})
    return CheckResult(False, reason=f"settlement for {day} not published yet")


def low_stock(
    call: ApiCall,
    *,
    threshold: int,
    changes_since: float | None = None,
    full_read_at: float | None = None,
    full_read_every_s: float = FULL_READ_EVERY_S,
    overlap_s: float = CHANGE_OVERLAP_S,
) -> CheckResult:
    """Some SKU's ``stock_num`` is below ``threshold``; the payload lists those SKUs.

    The first evaluation walks the catalogue (``product.listV2`` + ``sku.list`` per product). While
    nothing is low, the result carries ``changes_since`` forward: at that time no SKU was below the
    threshold, so a later evaluation only reads the stock of products that may have changed since:
    the products ``product.listV2`` reports updated (a product edit), and the products of orders
    ``order.searchList`` reports updated (orders placed, paid or cancelled move stock). A quiet poke
    costs two requests; a poke after N products changed or sold about N more.

    Doudian does not document whether a stock edit alone (the seller's backend, ``sku.syncStock``, a
    warehouse sync) moves the product's ``update_time``, so the whole catalogue is read again once
    ``full_read_every_s`` has passed since the last full read.
    """
    started = time.time()
    full = changes_since is None or full_read_at is None or started - full_read_at >= full_read_every_s
    if full:
        skus = _skus(call, get_stream("products"))
        full_read_at = started
    else:
        skus = _changed_skus(call, since=int(changes_since - overlap_s), until=int(started) + 1)
    low = sorted(
        (_sku_summary(s) for s in skus if s["stock_num"] is not None and s["stock_num"] < threshold),
        key=lambda s: (s["stock_num"], s["sku_id"]),
    )
    read = "whole catalogue" if full else "changed products"
    return CheckResult(
        bool(low),
        low,
        f"no SKU below {threshold} ({len(skus)} SKUs read, {read})",
        {"changes_since": started, "full_read_at": full_read_at},
    )


def _skus(call: ApiCall, products: Stream) -> list[dict[str, Any]]:
    """Every SKU row of the products the declared ``product.listV2`` read returns, with stock."""
    reader = StreamReader(call, products, max_workers=4)
    return [sku for batch in reader.read(None) for sku in batch.get("skus", ())]


def _changed_skus(call: ApiCall, *, since: int, until: int) -> list[dict[str, Any]]:
    products = get_stream("products")
    # update_start_time is exclusive: products updated at `since` or later.
    skus = _skus(call, _with_filters(products, update_start_time=since - 1))
    seen = {s["product_id"] for s in skus}
    sold = sorted(_products_in_orders(call, Window(since, until)) - seen)
    for chunk in _chunks(sold, PRODUCT_IDS_PER_REQUEST):
        skus += _skus(call, _with_filters(products, product_id=chunk))
    return skus


def _products_in_orders(call: ApiCall, window: Window) -> set[int]:
    """Products of the orders updated in ``window``; a quiet window costs one probe."""
    reader = StreamReader(call, get_stream("orders"), max_workers=2)
    if not reader.probe(window):
        return set()
    return {
        item["product_id"]
        for batch in reader.read(window)
        for item in batch.get("order_items", ())
        if item["product_id"] is not None
    }


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    return (values[i : i + size] for i in range(0, len(values), size))


def _sku_summary(sku: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sku_id": str(sku["id"]),
        "product_id": str(sku["product_id"]),
        "code": sku["code"],
        "stock_num": sku["stock_num"],
    }


CHECKS: dict[str, Callable[..., CheckResult]] = {
    "orders_exist": orders_exist,
    "settlement_ready": settlement_ready,
    "low_stock": low_stock,
}


def evaluate(check: str, call: ApiCall, params: Mapping[str, Any]) -> CheckResult:
    """Evaluate the check named ``check`` once with ``params`` (plain JSON, as a trigger carries them)."""
    try:
        function = CHECKS[check]
    except KeyError:
        raise ValueError(f"unknown Douyin check {check!r}; choose one of {sorted(CHECKS)}") from None
    return function(call, **params)
