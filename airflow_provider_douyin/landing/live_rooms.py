"""Live-room sales (直播间销售), derived exactly from the landed orders in the target database.

Doudian has no generally open "live room list" or "room sales" API: each sku order says which
live room (``room_id``) and author sold it. After the orders stream lands a window, the rooms
that window touched are recomputed in SQL from the landed tables, so the figures always equal
what the order tables hold, on SQLite, PostgreSQL and MySQL/MariaDB alike.

Tables (names carry the operator's ``table_prefix``):

``live_rooms``
    One row per (``shop_id``, ``room_id``) with at least one counted sku order.
``live_room_products``
    One row per (``shop_id``, ``room_id``, ``product_id``) with at least one counted sku order.

Counting rules:

* A sku order is **counted** when its shop order is paid (``pay_time > 0``) and the sku order is
  not cancelled (``order_status != 4``); a refunded-before-shipping single-item order is cancelled.
* ``gmv`` = Σ ``pay_amount`` of counted sku orders (fen); ``orders`` = distinct shop orders;
  ``sku_orders`` = their count; ``items`` = Σ ``item_num``; ``buyers`` = distinct ``doudian_open_id``
  of their shop orders; ``first_pay_time``/``last_pay_time`` = the earliest/latest of their shop
  orders' ``pay_time``; ``alliance_gmv``/``alliance_sku_orders`` = the same for 精选联盟 orders
  (``c_biz = 2``); ``author_id``/``author_name`` = the room's author (the greatest if they differ).
* ``refund_amount`` = Σ ``refund_amount`` (goods, fen, without refunded postage) of the succeeded
  after-sales (``refund_status = 3``) of the room's paid sku orders, cancelled ones included. It is
  reported beside ``gmv``, never subtracted from it, and needs the ``after_sales`` stream landed
  with the same prefix (landing after-sales recomputes the rooms they belong to).
* A room whose last counted sku order is cancelled loses its row.

Each recomputation is ``DELETE`` + ``INSERT … SELECT … GROUP BY`` for a set of room ids, in one
transaction, so a rerun of any window changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_douyin.client.errors import DouyinError
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.landing.sql import SqlLanding, create_table
from airflow_provider_douyin.streams.catalog import AFTER_SALES_TABLE, ORDER_ITEMS_TABLE, ORDERS_TABLE
from airflow_provider_douyin.streams.schema import Column

if TYPE_CHECKING:
    from airflow_provider_douyin.landing.dialects import LandingDialect

log = get_logger(__name__)

CANCELLED = 4
"""``order_status`` of a cancelled (sku) order."""
C_BIZ_ALLIANCE = 2
"""``c_biz`` of a 精选联盟 (alliance) sale, on which the shop pays a 达人 commission."""
REFUND_SUCCEEDED = 3
"""``refund_status`` of an after-sale whose refund went through."""
ROOMS_PER_STATEMENT = 500
LOCK_WAIT_S = 600


@dataclass(frozen=True)
class DerivedTable:
    """A table computed from landed tables: rebuilt per key set, never upserted from API rows."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _ints(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, "int") for n in names)


LIVE_ROOMS_TABLE = DerivedTable(
    name="live_rooms",
    columns=(
        *_ints("shop_id", "room_id", "author_id"),
        Column("author_name", "str"),
        *_ints("first_pay_time", "last_pay_time", "gmv", "orders", "sku_orders", "items", "buyers"),
        *_ints("refund_amount", "alliance_gmv", "alliance_sku_orders"),
    ),
    primary_key=("shop_id", "room_id"),
)
LIVE_ROOM_PRODUCTS_TABLE = DerivedTable(
    name="live_room_products",
    columns=_ints("shop_id", "room_id", "product_id", "gmv", "sku_orders", "items", "buyers"),
    primary_key=("shop_id", "room_id", "product_id"),
)
SOURCE_TABLES = (ORDERS_TABLE, ORDER_ITEMS_TABLE, AFTER_SALES_TABLE)


def derives_live_rooms(table_names: Iterable[str]) -> bool:
    """Whether landing these tables can change a room's figures (sku orders or after-sales)."""
    return bool({ORDER_ITEMS_TABLE.name, AFTER_SALES_TABLE.name} & set(table_names))


def _chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(values)
    while chunk := list(islice(it, size)):
        yield chunk


class LiveRoomSales:
    """Collects the rooms a sync touches, then recomputes them (:meth:`refresh`) on its connection.

    :param hook: the ``DbApiHook`` the stream lands through.
    :param table_prefix: the prefix of the landed tables, also given to the derived ones.
    """

    def __init__(self, hook: Any, *, table_prefix: str = "douyin_") -> None:
        self.hook = hook
        self.prefix = table_prefix
        self._rooms: set[int] = set()
        self._sku_orders: set[str] = set()
        """Sku orders of landed after-sales, whose rooms are looked up in the landed items."""

    def collect(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Note the rooms of one landed flush: its sku orders' rooms and its after-sales' sku orders."""
        self._rooms.update(r["room_id"] for r in rows.get(ORDER_ITEMS_TABLE.name, ()) if r.get("room_id"))
        self._sku_orders.update(
            r["related_id"] for r in rows.get(AFTER_SALES_TABLE.name, ()) if r.get("related_id")
        )

    def refresh(self, conn: Any, cur: Any, dialect: LandingDialect) -> int:
        """Recompute every collected room on ``conn`` (manual commit); returns how many room ids."""
        self.ensure_tables(conn, cur, dialect)
        sql = _Statements(dialect, self.prefix)
        rooms = set(self._rooms)
        for chunk in _chunks(sorted(self._sku_orders), ROOMS_PER_STATEMENT):
            cur.execute(sql.rooms_of_sku_orders(len(chunk)), dialect.placeholders.params(chunk))
            rooms.update(r[0] for r in cur.fetchall() if r[0])
        conn.commit()
        with sql.exclusive(conn, cur):
            for chunk in _chunks(sorted(rooms), ROOMS_PER_STATEMENT):
                params = dialect.placeholders.params(chunk)
                try:
                    for statement in sql.begin():
                        cur.execute(statement)
                    for statement in sql.recompute(len(chunk)):
                        cur.execute(statement, params)
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise
        log.info("Recomputed %d live room(s) in %slive_rooms", len(rooms), self.prefix)
        self._rooms.clear()
        self._sku_orders.clear()
        return len(rooms)

    def ensure_tables(self, conn: Any, cur: Any, dialect: LandingDialect) -> None:
        """The derived tables, and the landed ones their SQL reads (created empty if not landed yet)."""
        for table in SOURCE_TABLES:
            SqlLanding(self.hook, table, table_prefix=self.prefix).ensure_table_on(conn, cur, dialect)
        for derived in (LIVE_ROOMS_TABLE, LIVE_ROOM_PRODUCTS_TABLE):
            target = dialect.qualified(self.prefix + derived.name, None)
            create_table(conn, cur, dialect.create_table_sql(target, derived.columns, derived.primary_key))


class _Statements:
    """The recomputation SQL for one dialect and prefix; room ids are bound as parameters."""

    def __init__(self, dialect: LandingDialect, prefix: str) -> None:
        self.dialect = dialect
        self.lock_name = f"{prefix}{LIVE_ROOMS_TABLE.name}"

        def table(name: str) -> str:
            return dialect.qualified(prefix + name, None, with_params=True)

        self.orders, self.items = table(ORDERS_TABLE.name), table(ORDER_ITEMS_TABLE.name)
        self.after_sales = table(AFTER_SALES_TABLE.name)
        self.rooms, self.products = table(LIVE_ROOMS_TABLE.name), table(LIVE_ROOM_PRODUCTS_TABLE.name)

    def q(self, identifier: str) -> str:
        return self.dialect.quote(identifier, with_params=True)

    def _in(self, count: int) -> str:
        return f"({', '.join(self.dialect.placeholders.markers(count))})"

    # Two recomputations run at once when a DAG's orders and after-sales tasks run in parallel.
    # Without serialising them, PostgreSQL's DELETE misses rows the other transaction inserts
    # meanwhile (its INSERT then hits the primary key), and InnoDB's DELETE gap locks make the two
    # INSERTs deadlock. SQLite already admits one writer at a time.
    def begin(self) -> list[str]:
        """Run first in each recomputation transaction."""
        if self.dialect.name == "postgresql":
            # Self-conflicting, but readers of the derived tables are not blocked; held until commit.
            return [f"LOCK TABLE {self.rooms}, {self.products} IN SHARE ROW EXCLUSIVE MODE"]
        if self.dialect.name == "mysql":
            # Read the landed tables without share-locking them, so a concurrent load is not blocked.
            return ["SET TRANSACTION ISOLATION LEVEL READ COMMITTED"]
        return []

    @contextmanager
    def exclusive(self, conn: Any, cur: Any) -> Iterator[None]:
        """MySQL/MariaDB: hold a named lock (per database and prefix) around all recomputations."""
        if self.dialect.name != "mysql":
            yield
            return
        name = self.dialect.placeholders.params([self.lock_name])
        marker = self.dialect.placeholders.marker(0)
        cur.execute(f"SELECT GET_LOCK(LEFT(CONCAT(DATABASE(), ':', {marker}), 64), {LOCK_WAIT_S})", name)
        (got,) = cur.fetchone()
        conn.commit()
        if got != 1:
            raise DouyinError(f"live rooms: waited {LOCK_WAIT_S}s for another task's recomputation")
        try:
            yield
        finally:
            cur.execute(f"SELECT RELEASE_LOCK(LEFT(CONCAT(DATABASE(), ':', {marker}), 64))", name)
            cur.fetchall()
            conn.commit()

    def rooms_of_sku_orders(self, count: int) -> str:
        q = self.q
        return (
            f"SELECT DISTINCT {q('room_id')} FROM {self.items} "
            f"WHERE {q('order_id')} IN {self._in(count)} AND {q('room_id')} <> 0"
        )

    def recompute(self, count: int) -> list[str]:
        """DELETE both tables' rows of the rooms, then INSERT them again from the landed orders."""
        q = self.q

        def i(column: str) -> str:
            return f"i.{q(column)}"

        def o(column: str) -> str:
            return f"o.{q(column)}"

        counted = f"{i('order_status')} <> {CANCELLED}"
        alliance = f"{counted} AND {i('c_biz')} = {C_BIZ_ALLIANCE}"

        def when(condition: str, value: str, otherwise: str = "") -> str:
            return f"CASE WHEN {condition} THEN {value}{f' ELSE {otherwise}' if otherwise else ''} END"

        rooms_in = self._in(count)
        source = f"FROM {self.items} i JOIN {self.orders} o ON {o('order_id')} = {i('parent_order_id')}"
        paid = f"WHERE {i('room_id')} IN {rooms_in} AND {o('pay_time')} > 0 AND {o('shop_id')} IS NOT NULL"
        refunds = (
            f"(SELECT {q('related_id')} AS sku_order_id, SUM({q('refund_amount')}) AS refunded "
            f"FROM {self.after_sales} WHERE {q('refund_status')} = {REFUND_SUCCEEDED} "
            f"GROUP BY {q('related_id')})"
        )
        room_values = (
            o("shop_id"),
            i("room_id"),
            f"MAX({when(counted, i('author_id'))})",
            f"MAX({when(counted, i('author_name'))})",
            f"MIN({when(counted, o('pay_time'))})",
            f"MAX({when(counted, o('pay_time'))})",
            f"SUM({when(counted, i('pay_amount'), '0')})",
            f"COUNT(DISTINCT {when(counted, i('parent_order_id'))})",
            f"SUM({when(counted, '1', '0')})",
            f"SUM({when(counted, i('item_num'), '0')})",
            f"COUNT(DISTINCT {when(counted, o('doudian_open_id'))})",
            "COALESCE(SUM(r.refunded), 0)",
            f"SUM({when(alliance, i('pay_amount'), '0')})",
            f"SUM({when(alliance, '1', '0')})",
        )
        insert_rooms = (
            f"INSERT INTO {self.rooms} ({', '.join(q(c) for c in LIVE_ROOMS_TABLE.column_names)}) "
            f"SELECT {', '.join(room_values)} "
            f"{source} LEFT JOIN {refunds} r ON r.sku_order_id = {i('order_id')} {paid} "
            f"GROUP BY {o('shop_id')}, {i('room_id')} HAVING SUM({when(counted, '1', '0')}) > 0"
        )
        product_values = (
            o("shop_id"),
            i("room_id"),
            i("product_id"),
            f"SUM({i('pay_amount')})",
            "COUNT(*)",
            f"SUM({i('item_num')})",
            f"COUNT(DISTINCT {o('doudian_open_id')})",
        )
        insert_products = (
            f"INSERT INTO {self.products} ({', '.join(q(c) for c in LIVE_ROOM_PRODUCTS_TABLE.column_names)}) "
            f"SELECT {', '.join(product_values)} {source} {paid} AND {counted} "
            f"AND {i('product_id')} IS NOT NULL GROUP BY {o('shop_id')}, {i('room_id')}, {i('product_id')}"
        )
        return [
            f"DELETE FROM {self.rooms} WHERE {q('room_id')} IN {rooms_in}",
            f"DELETE FROM {self.products} WHERE {q('room_id')} IN {rooms_in}",
            insert_rooms,
            insert_products,
        ]
