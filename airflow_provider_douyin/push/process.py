"""From stored messages to fresh rows: a push is a hint to re-read the authoritative record.

For each message the record it names is read again (``order.orderDetail``, ``afterSale.Detail``,
``product.detail``; a 抖音来客 order through the order query) and upserted through the same landing
tables and version guard as the streams, so a stale, replayed or reordered push can never replace
a newer row. Messages about one record in one batch cost one read. A failed read counts an
attempt: the message is handed out again after a backoff, and parked with its reason after the
last attempt. Nothing is dropped silently; the hourly syncs remain the backstop for lost pushes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_douyin.client.errors import DouyinError
from airflow_provider_douyin.client.open_platform import LIFE_ORDER_QUERY
from airflow_provider_douyin.push.protocol import webhook_order_id
from airflow_provider_douyin.push.store import PARKED, PENDING, PushStore, StoredMessage
from airflow_provider_douyin.streams.catalog import (
    AFTER_SALES_TABLE,
    LIFE_CERTIFICATES_TABLE,
    LIFE_ORDERS_TABLE,
    ORDER_ITEMS_TABLE,
    ORDERS_TABLE,
    PRODUCTS_TABLE,
)
from airflow_provider_douyin.streams.records import RowBuilder
from airflow_provider_douyin.streams.schema import Table
from airflow_provider_douyin.streams.windows import parse_time

log = logging.getLogger(__name__)

Rows = dict[str, list[dict[str, Any]]]
Call = Callable[[str, Mapping[str, Any]], Any]

TABLES: dict[str, tuple[Table, ...]] = {
    "order": (ORDERS_TABLE, ORDER_ITEMS_TABLE),
    "after_sale": (AFTER_SALES_TABLE,),
    "product": (PRODUCTS_TABLE,),
    "life_order": (LIFE_ORDERS_TABLE, LIFE_CERTIFICATES_TABLE),
}
"""The landed tables each kind of message refreshes (the streams' own tables)."""


class PushRecordError(DouyinError):
    """The record a message names could not be read into rows (the reason a message is parked with)."""


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        return None
    return str(value).strip()


def record_keys(message: StoredMessage) -> list[tuple[str, str]]:
    """The records a message names, ``(kind, id)``; raises :class:`PushRecordError` when it names none.

    An after-sale message also names its order (``p_id``): opening or settling an after-sale changes
    the order's sku orders, and Doudian sends no order message for that.
    """
    payload = message.message.payload()
    if message.kind == "life_order":
        key = webhook_order_id(message.message)
    else:
        field_name = {"order": "p_id", "after_sale": "aftersale_id", "product": "product_id"}.get(
            message.kind or ""
        )
        key = _id(payload.get(field_name or ""))
    if key is None:
        raise PushRecordError(f"{message.kind} message {message.msg_id} names no record id")
    keys = [(message.kind or "", key)]
    if message.kind == "after_sale" and (order_id := _id(payload.get("p_id"))):
        keys.append(("order", order_id))
    return keys


def _object(data: Any, *path: str) -> Mapping[str, Any]:
    """``data[path…]`` as an object; anything else is a malformed reply, never "no rows"."""
    for key in path:
        data = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping):
        raise PushRecordError(f"reply has no object at {'.'.join(path) or 'data'}")
    return data


class DoudianRecords:
    """Reads the record a Doudian message names, through the shop client's ``call``."""

    def __init__(self, call: Call) -> None:
        self.call = call

    def __call__(self, kind: str, key: str) -> Rows:
        build = RowBuilder(kind)
        if kind == "order":
            order = _object(self.call("order.orderDetail", {"shop_order_id": key}), "shop_order_detail")
            return {
                ORDERS_TABLE.name: [build.row(ORDERS_TABLE, order)],
                ORDER_ITEMS_TABLE.name: list(build.nested(ORDER_ITEMS_TABLE, order, "sku_order_list")),
            }
        if kind == "after_sale":
            data = self.call("afterSale.Detail", {"after_sale_id": key})
            record = {
                "aftersale_info": _object(data, "process_info", "after_sale_info"),
                "order_info": _object(data, "order_info"),
            }
            return {AFTER_SALES_TABLE.name: [build.row(AFTER_SALES_TABLE, record)]}
        if kind == "product":
            product = dict(_object(self.call("product.detail", {"product_id": key})))
            # product.detail sends its times as "yyyy-MM-dd HH:mm:ss" (Asia/Shanghai); listV2, whose
            # table this is, sends epoch seconds.
            for name in ("create_time", "update_time"):
                if isinstance(product.get(name), str):
                    try:
                        product[name] = parse_time(product[name], "shanghai_datetime")
                    except ValueError as exc:
                        raise PushRecordError(f"product.detail {name} is not a time: {exc}") from None
            return {PRODUCTS_TABLE.name: [build.row(PRODUCTS_TABLE, product)]}
        raise PushRecordError(f"no Doudian read for {kind} messages")


class OpenRecords:
    """Reads the 抖音来客 order a webhook names, through the Open Platform client's ``call``."""

    def __init__(self, call: Call, account_id: str | None) -> None:
        self.call = call
        self.account_id = account_id

    def __call__(self, kind: str, key: str) -> Rows:
        if kind != "life_order":
            raise PushRecordError(f"no Open Platform read for {kind} messages")
        params = {"order_id": key, "page_num": 1, "page_size": 10}
        if self.account_id:
            params["account_id"] = self.account_id
        orders = self.call(LIFE_ORDER_QUERY, params)
        found = [o for o in (orders.get("orders") if isinstance(orders, Mapping) else None) or () if
                 isinstance(o, Mapping) and str(o.get("order_id")) == key]  # fmt: skip
        if not found:
            raise PushRecordError(f"order query returned no order {key}")
        build = RowBuilder(LIFE_ORDER_QUERY)
        return {
            LIFE_ORDERS_TABLE.name: [build.row(LIFE_ORDERS_TABLE, found[0])],
            LIFE_CERTIFICATES_TABLE.name: list(
                build.nested(LIFE_CERTIFICATES_TABLE, found[0], "certificate")
            ),
        }


Reader = Callable[[str, str], Rows]
"""``(kind, record id)`` → rows per table."""
SinkFactory = Callable[[Sequence[Table]], AbstractContextManager[Any]]
"""Opens a stream sink (``landing.sinks.SqlStreamSink``) on the given tables: ``write`` + ``finish``."""


@dataclass
class ProcessResult:
    done: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {
            "done": len(self.done),
            "retrying": len(self.retrying),
            "parked": len(self.parked),
            "rows": dict(self.rows),
        }


def process_messages(
    store: PushStore,
    ids: Iterable[int],
    read: Reader,
    sink: SinkFactory,
    *,
    max_attempts: int = 5,
    backoff_s: float = 60.0,
) -> ProcessResult:
    """Refresh the records that the pending messages ``ids`` (one connection's) name, and settle them.

    Rows of one kind land in one transaction; messages are marked done only after every write has
    committed, so a crash in between leaves them pending, to be handed out again. A message is done
    when every record it names was read; otherwise it counts one failed attempt.
    """
    result = ProcessResult()
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for message in store.load(ids):
        if message.status != PENDING:
            continue  # settled by an earlier, overlapping run
        try:
            for key in record_keys(message):
                groups[key].append(message.id)
        except PushRecordError as exc:  # retrying cannot give a message an id: park it now
            store.fail([message.id], str(exc), max_attempts=1, backoff_s=backoff_s)
            result.parked.append(message.id)
    failed: dict[int, str] = {}
    by_kind: dict[str, Rows] = {}
    for (kind, key), message_ids in groups.items():
        try:
            rows = read(kind, key)
        except Exception as exc:  # any failure to read is retried, then parked with its reason
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("Could not read %s %s for %d message(s): %s", kind, key, len(message_ids), reason)
            failed.update(dict.fromkeys(message_ids, reason))
            continue
        collected = by_kind.setdefault(kind, {})
        for table, table_rows in rows.items():
            collected.setdefault(table, []).extend(table_rows)
    for kind, rows in by_kind.items():
        with sink(TABLES[kind]) as target:
            target.write(rows)
            target.finish()
        for table, table_rows in rows.items():
            result.rows[table] += len(table_rows)
    for reason in set(failed.values()):
        store.fail(
            [i for i, r in failed.items() if r == reason],
            reason,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
        )
    settled = {m.id: m.status for m in store.load(failed)}
    result.parked.extend(i for i in failed if settled.get(i) == PARKED)
    result.retrying.extend(i for i in failed if settled.get(i) == PENDING)
    done = sorted({i for message_ids in groups.values() for i in message_ids} - failed.keys())
    store.finish(done)
    result.done.extend(done)
    return result
