"""One sandbox shop's state: generated history, record ids and the live mutations.

Mutable order and after-sale state lives in columnar ``Table``s; everything that never
changes after an order is created (items, amounts, address, carrier) is re-derived from
``mix(seed, shop, idx)`` whenever a record is materialised, so it costs no memory. The
API-shaped views of a record version are in ``shop_records``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .constants import (
    AFTERSALE_ID_BASE,
    DAY,
    ORDER_ID_BASE,
    ORDER_SHOP_SPAN,
    day_start,
)
from .hashing import mix
from .live_sessions import (
    ALLIANCE_AUTHOR_BASE,
    ALLIANCE_AUTHORS,
    C_BIZ_ALLIANCE,
    C_BIZ_SELF,
    self_author,
    session_at,
)
from .product_catalog import build_catalog
from .store import EventLog, Table

ORDER_COLUMNS = (
    ("create", "q"), ("pay", "q"), ("ship", "q"), ("finish", "q"), ("cancel", "q"), ("update", "q"),
    ("status", "B"), ("rev", "H"), ("as_idx", "i"), ("as_type", "B"), ("as_status", "B"), ("as_refund", "B"),
)  # fmt: skip
AFTERSALE_COLUMNS = (
    ("apply", "q"), ("update", "q"), ("done", "q"), ("order_idx", "i"),
    ("type", "B"), ("status", "B"), ("refund", "B"), ("rev", "H"),
)  # fmt: skip

AS_PENDING, AS_SUCCESS, AS_REFUSED = 6, 12, 27
REFUND_PENDING, REFUND_DONE, REFUND_FAILED = 1, 3, 4
TYPE_RETURN_REFUND, TYPE_SHIPPED_REFUND, TYPE_UNSHIPPED_REFUND = 0, 1, 2

SETTLE_NORMAL, SETTLE_REFUND = 0, 1
FLOW_PAY, FLOW_REFUND, FLOW_SETTLE = 0, 1, 2


VIDEO_ID_BASE = 7_200_000_000_000_000_000
"""Short-video ids (``video_id``, a string in the API) are 19 digits too."""


@dataclass(frozen=True)
class Item:
    sku_index: int
    num: int
    price: int
    promo: int
    """The shop's discount (店铺券), fen."""

    @property
    def sum_amount(self) -> int:
        return self.price * self.num

    @property
    def pay_amount(self) -> int:
        return self.sum_amount - self.promo


@dataclass(frozen=True)
class Attribution:
    """Where a sku order was sold: a live room, a short video, or the shop page (direct)."""

    room_id: int
    room_id_str: str
    author_id: int
    author_name: str
    c_biz: int
    video_id: str

    @property
    def is_alliance(self) -> bool:
        """精选联盟: a 达人 sold it, so the shop pays commission on it."""
        return self.c_biz == C_BIZ_ALLIANCE

    @property
    def colonel_rate(self) -> int:
        """Percent a 团长 (colonel) takes on top: authors with an even id come through one."""
        return 1 if self.is_alliance and self.author_id % 2 == 0 else 0


class Shop:
    """State of one shop. Callers serialise access with the server's data lock."""

    def __init__(self, seed: int, shop_no: int, shop_id: int, orders: int, days: int, products: int,
                 start: int) -> None:  # fmt: skip
        self.seed, self.shop_no, self.shop_id = seed, shop_no, shop_id
        self.shop_name = f"抖店沙盒旗舰店{shop_no}号"
        self.products, self.skus = build_catalog(seed, shop_no, products, start)
        self.product_by_id = {p.product_id: i for i, p in enumerate(self.products)}
        self.sku_by_id = {s.sku_id: i for i, s in enumerate(self.skus)}
        self.sku_by_code = {s.code: i for i, s in enumerate(self.skus)}
        self.orders = Table(ORDER_COLUMNS, "create")
        self.after_sales = Table(AFTERSALE_COLUMNS, "apply")
        self.settlements = EventLog()
        self.flows = EventLog()
        self._generate(orders, days, start)

    # ----------------------------------------------------------------- identities
    def order_id(self, idx: int) -> int:
        return ORDER_ID_BASE + self.shop_no * ORDER_SHOP_SPAN + idx * 4

    def order_index(self, order_id: str) -> int | None:
        """Shop-order index of an id of this shop, or ``None``."""
        if not order_id.isdigit():
            return None
        rest = int(order_id) - ORDER_ID_BASE - self.shop_no * ORDER_SHOP_SPAN
        if rest < 0 or rest % 4 or rest // 4 >= len(self.orders):
            return None
        return rest // 4

    def sku_order_ids(self, idx: int, count: int) -> list[int]:
        """A single-item order's sub-order id equals the parent id, as in order.searchList."""
        parent = self.order_id(idx)
        return [parent] if count == 1 else [parent + 1 + j for j in range(count)]

    def aftersale_id(self, as_idx: int) -> str:
        return str(AFTERSALE_ID_BASE + self.shop_no * ORDER_SHOP_SPAN + as_idx)

    def aftersale_index(self, aftersale_id: str) -> int | None:
        if not aftersale_id.isdigit():
            return None
        rest = int(aftersale_id) - AFTERSALE_ID_BASE - self.shop_no * ORDER_SHOP_SPAN
        return rest if 0 <= rest < len(self.after_sales) else None

    def order_hash(self, idx: int) -> int:
        """The seed every immutable attribute of order ``idx`` is derived from."""
        return mix(self.seed, self.shop_no, idx, 0x0D)

    def attribution(self, idx: int) -> Attribution:
        """Fixed when the order is placed: 85% of the orders placed while a session is on air
        come from its room; of all other orders 30% come from short videos (by a 达人, alliance, or
        by the shop's own account) and the rest straight from the shop page. Room ids are 19
        digits; video and direct orders send ``room_id`` 0 with ``room_id_str`` "0" or ""."""
        h = mix(self.order_hash(idx), 0xA7)
        create = self.orders.cols["create"][idx]
        session = session_at(self.seed, self.shop_no, create)
        if session is not None and h % 100 < 85:
            return Attribution(session.room_id, str(session.room_id), session.author_id,
                               session.author_name, session.c_biz, "")  # fmt: skip
        if (h >> 8) % 100 < 30:
            video = str(VIDEO_ID_BASE + mix(h, 0x71) % 10**17)
            if (h >> 16) % 2:
                pick = (h >> 20) % len(ALLIANCE_AUTHORS)
                author = (ALLIANCE_AUTHOR_BASE + pick, ALLIANCE_AUTHORS[pick], C_BIZ_ALLIANCE)
            else:
                author = (*self_author(self.shop_no), C_BIZ_SELF)
            return Attribution(0, "0", author[0], author[1], author[2], video)
        return Attribution(0, "", 0, "", C_BIZ_SELF, "")

    def items(self, idx: int) -> list[Item]:
        h = self.order_hash(idx)
        roll = h % 10
        count = 1 if roll < 7 else 2 if roll < 9 else 3
        result = []
        for j in range(count):
            hj = mix(h, j)
            sku_index = hj % len(self.skus)
            num_roll = (hj >> 20) % 10
            num = 1 + (num_roll >= 7) + (num_roll == 9)
            price = self.skus[sku_index].price
            promo = price * num // 10 if (hj >> 40) % 4 == 0 else 0
            result.append(Item(sku_index, num, price, promo))
        return result

    def post_amount(self, idx: int) -> int:
        return 800 if (self.order_hash(idx) >> 8) % 5 == 0 else 0

    def settle_at(self, when: int, idx: int) -> int:
        """T+1: the settlement of an event on day D happens early on day D+1."""
        return day_start(when) + DAY + 3600 + mix(self.seed, idx, 0x5E) % 18000

    # ----------------------------------------------------------------- generation
    def _generate(self, count: int, days: int, start: int) -> None:
        rng = random.Random(mix(self.seed, self.shop_no, 0x0DE5))
        span = days * DAY
        creates = sorted(start - span + rng.randrange(span) for _ in range(count))
        cols = self.orders.cols
        cols["create"].extend(creates)  # attribution() reads an order's create time
        after_sales: list[tuple[int, ...]] = []
        settle_events: list[int] = []
        flow_events: list[int] = []
        pack = EventLog.pack
        for idx, create in enumerate(creates):
            pay = ship = finish = cancel = 0
            status, last = 1, create
            items = None
            aftersale: list[int] | None = None  # apply, done, type, status, refund
            if rng.random() < 0.06:
                if create + 1800 <= start:
                    status, cancel = 4, create + 1800
                    last = cancel
            elif (paid := create + rng.randrange(5, 900)) <= start:
                items = self.items(idx)
                pay, status, last = paid, 105, paid
                flow_events.append(pack(pay, idx, FLOW_PAY))
                confirmed = pay + rng.randrange(30, 600)
                ship_at = pay + rng.randrange(2 * 3600, 48 * 3600)
                if confirmed <= start:
                    status, last = 2, confirmed
                    if rng.random() < 0.04 and (apply := pay + rng.randrange(600, 4 * 3600)) <= start:
                        done = apply + rng.randrange(3600, 12 * 3600)
                        aftersale = self._resolve_generated(rng, apply, done, start, TYPE_UNSHIPPED_REFUND)
                        last = max(last, aftersale[0], aftersale[1])
                        ship_at = max(ship_at, done + 600) if done <= start else start + 1
                        if aftersale[3] == AS_SUCCESS:
                            flow_events.append(pack(done, idx, FLOW_REFUND))
                            if len(items) == 1:
                                status, cancel, last = 4, done, done
                if status == 2 and ship_at <= start:
                    status, ship, last = 3, ship_at, max(last, ship_at)
                    finish_at = ship + rng.randrange(3 * DAY, 10 * DAY)
                    if finish_at <= start:
                        status, finish, last = 5, finish_at, max(last, finish_at)
                        settled = self.settle_at(finish, idx)
                        settle_events.append(pack(settled, idx, SETTLE_NORMAL))
                        flow_events.append(pack(settled, idx, FLOW_SETTLE))
                    if (
                        aftersale is None
                        and rng.random() < 0.06
                        and (apply := ship + rng.randrange(DAY, 9 * DAY)) <= start
                    ):
                        kind = TYPE_RETURN_REFUND if rng.random() < 0.5 else TYPE_SHIPPED_REFUND
                        done = apply + rng.randrange(DAY, 3 * DAY)
                        aftersale = self._resolve_generated(rng, apply, done, start, kind)
                        last = max(last, aftersale[0], aftersale[1])
                        if aftersale[3] == AS_SUCCESS:
                            flow_events.append(pack(done, idx, FLOW_REFUND))
                            if finish and self.settle_at(finish, idx) <= done:
                                settle_events.append(pack(self.settle_at(done, idx), idx, SETTLE_REFUND))
            if items is not None:
                for item in items:
                    self.products[self.skus[item.sku_index].product_index].sell_num += item.num
            if aftersale is not None:
                apply, done, kind, as_status, refund = aftersale
                after_sales.append((apply, max(apply, done), done, idx, kind, as_status, refund, 0))
            for name, value in (
                ("pay", pay), ("ship", ship), ("finish", finish), ("cancel", cancel),
                ("update", last), ("status", status), ("rev", 0), ("as_idx", -1), ("as_type", 0),
                ("as_status", 0), ("as_refund", 0),
            ):  # fmt: skip
                cols[name].append(value)
        after_sales.sort()
        for as_idx, (_, _, _, idx, kind, as_status, refund, _) in enumerate(after_sales):
            cols["as_idx"][idx], cols["as_type"][idx] = as_idx, kind
            cols["as_status"][idx], cols["as_refund"][idx] = as_status, refund
        self.orders.reindex()
        self.after_sales.load(after_sales)
        self.settlements.load(settle_events)
        self.flows.load(flow_events)

    @staticmethod
    def _resolve_generated(rng: random.Random, apply: int, done: int, start: int, kind: int) -> list[int]:
        """An after-sale opened at ``apply``: pending if ``done`` is still in the future."""
        if done > start:
            return [apply, 0, kind, AS_PENDING, REFUND_PENDING]
        if rng.random() < 0.85:
            return [apply, done, kind, AS_SUCCESS, REFUND_DONE]
        return [apply, done, kind, AS_REFUSED, REFUND_FAILED]

    # ----------------------------------------------------------------- mutations
    def add_order(self, now: int, lag: float, *, paid: bool = False) -> int:
        """A new order placed now; ``paid``: the buyer pays at once (so it counts as a sale)."""
        values = dict.fromkeys(self.orders.names, 0)
        values.update(create=now, update=now, status=1, as_idx=-1)
        idx = self.orders.append(values, lag)
        if paid:
            self.orders.update(idx, {"update": now, **self._pay(idx, now)}, lag)
        return idx

    def _pay(self, idx: int, now: int) -> dict[str, int]:
        """The buyer pays: stock and sales move, the payment is booked; returns the order's change."""
        for item in self.items(idx):
            sku = self.skus[item.sku_index]
            sku.stock_num = max(0, sku.stock_num - item.num)
            self.products[sku.product_index].sell_num += item.num
        self.flows.add(now, idx, FLOW_PAY)
        return {"status": 105, "pay": now}

    def refund_room_orders(self, count: int, now: int, lag: float, rng: random.Random) -> list[int]:
        """Refund ``count`` paid live-room orders now (after-sale opened and granted at once).

        Unshipped ones are refunded before shipping, which cancels a single-item order, so a
        room loses a sale; shipped ones are returned and refunded, so a room gains a refund.
        """
        if count <= 0:
            return []
        candidates = [
            idx for idx, row in self.orders.rows()
            if row.pay and row.status in (105, 2, 3, 5) and row.as_idx < 0 and self.attribution(idx).room_id
        ]  # fmt: skip
        chosen = rng.sample(candidates, min(count, len(candidates)))
        for idx in chosen:
            status = self.orders.cols["status"][idx]
            kind = TYPE_UNSHIPPED_REFUND if status in (105, 2) else TYPE_RETURN_REFUND
            self._open_aftersale(idx, now, lag, kind)
            self._resolve_aftersale(self.orders.row(idx), idx, now, lag, success=True)
        return chosen

    def touch_order(self, idx: int, now: int, lag: float) -> None:
        """A seller remark edit: a new version with update_time = now and nothing else."""
        self.orders.update(idx, {"update": now, "rev": self.orders.cols["rev"][idx] + 1}, lag)

    def touch_aftersale(self, as_idx: int, now: int, lag: float) -> None:
        self.after_sales.update(as_idx, {"update": now, "rev": self.after_sales.cols["rev"][as_idx] + 1}, lag)

    def advance(self, idx: int, now: int, lag: float, rng: random.Random) -> bool:
        """Move one order a step along its life cycle; ``False`` if it is in a final state."""
        row = self.orders.row(idx)
        change: dict[str, int] = {"update": now}
        if row.as_status == AS_PENDING:
            return self._resolve_aftersale(row, idx, now, lag, success=rng.random() < 0.85)
        if row.status == 1:
            if rng.random() < 0.9:
                change.update(self._pay(idx, now))
            else:
                change.update(status=4, cancel=now)
        elif row.status == 105:
            change.update(status=2)
        elif row.status == 2 and row.as_idx < 0 and rng.random() < 0.1:
            return self._open_aftersale(idx, now, lag, TYPE_UNSHIPPED_REFUND)
        elif row.status == 2:
            change.update(status=3, ship=now)
        elif row.status in (3, 5) and row.as_idx < 0 and (row.status == 5 or rng.random() < 0.15):
            kind = TYPE_RETURN_REFUND if rng.random() < 0.5 else TYPE_SHIPPED_REFUND
            return self._open_aftersale(idx, now, lag, kind)
        elif row.status == 3:
            change.update(status=5, finish=now)
            settled = self.settle_at(now, idx)
            self.settlements.add(settled, idx, SETTLE_NORMAL)
            self.flows.add(settled, idx, FLOW_SETTLE)
        else:
            return False
        self.orders.update(idx, change, lag)
        return True

    def _open_aftersale(self, idx: int, now: int, lag: float, kind: int) -> bool:
        as_idx = self.after_sales.append(
            {"apply": now, "update": now, "done": 0, "order_idx": idx, "type": kind,
             "status": AS_PENDING, "refund": REFUND_PENDING, "rev": 0}, lag)  # fmt: skip
        self.orders.update(idx, {"update": now, "as_idx": as_idx, "as_type": kind, "as_status": AS_PENDING,
                                 "as_refund": REFUND_PENDING}, lag)  # fmt: skip
        return True

    def _resolve_aftersale(self, row: Any, idx: int, now: int, lag: float, *, success: bool) -> bool:
        as_status, refund = (AS_SUCCESS, REFUND_DONE) if success else (AS_REFUSED, REFUND_FAILED)
        self.after_sales.update(
            row.as_idx, {"update": now, "done": now, "status": as_status, "refund": refund}, lag
        )
        change = {"update": now, "as_status": as_status, "as_refund": refund}
        if success:
            self.flows.add(now, idx, FLOW_REFUND)
            if row.as_type == TYPE_UNSHIPPED_REFUND and len(self.items(idx)) == 1:
                change.update(status=4, cancel=now)
            if row.status == 5 and self.settle_at(row.finish, idx) <= now:
                self.settlements.add(self.settle_at(now, idx), idx, SETTLE_REFUND)
        self.orders.update(idx, change, lag)
        return True


def settle_cutoff(now: float, delay: float) -> int:
    """Rows settled before this instant are published (T+1 after ``delay``)."""
    return day_start(now - delay)
