"""One 抖音来客 merchant: generated history, live mutations, and the compact state behind them.

Mutable state lives in ``array`` columns (``Table`` from the shop store, which also gives
the version history behind visibility lag). An order row holds the state of its up to three
vouchers (certificates), so a lagged version of an order shows the vouchers as they were.
Everything that never changes (buyer, amounts, names) is re-derived from ``mix(seed, ...)``
when a record is materialised, so 100k orders cost a few MB.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from ..constants import DAY
from ..hashing import mix
from ..store import Table
from .constants import (
    AFTER_SALE_ID_BASE,
    CERTIFICATE_ID_BASE,
    MERCHANT_SPAN,
    ORDER_ID_BASE,
    POI_ID_BASE,
    PRODUCT_ID_BASE,
    PRODUCT_SPAN,
    SKU_ID_BASE,
    VERIFY_ID_BASE,
)
from .vocabulary import BRANDS, CATEGORIES

# Order statuses (order_status).
UNPAID, PAID, COMPLETED, CANCELLED, REFUNDED = 1, 101, 201, 301, 401
# Voucher statuses (certificate item_status).
ITEM_UNPAID, ITEM_UNUSED, ITEM_VERIFIED, ITEM_CANCELLED, ITEM_REFUNDED = 1, 101, 201, 301, 401
# Product online_status.
ONLINE, OFFLINE, BANNED = 1, 2, 3
MAX_ITEMS = 3
SLOTS = tuple(range(MAX_ITEMS))

ORDER_COLUMNS = (
    ("create", "q"),
    ("pay", "q"),
    ("update", "q"),
    ("status", "H"),
    ("rev", "H"),
    ("product", "I"),
    ("count", "B"),
    ("poi", "H"),
    ("s0", "H"),
    ("s1", "H"),
    ("s2", "H"),
    ("t0", "q"),
    ("t1", "q"),
    ("t2", "q"),
)
VERIFY_COLUMNS = (("verify", "q"), ("update", "q"), ("order_idx", "I"), ("slot", "B"), ("poi", "H"))
REFUND_COLUMNS = (("done", "q"), ("update", "q"), ("apply", "q"), ("order_idx", "I"), ("slot", "B"))


def order_status(paid: bool, cancelled: bool, items: Sequence[int]) -> int:
    """The order status that follows from payment and the states of its vouchers."""
    if cancelled:
        return CANCELLED
    if not paid:
        return UNPAID
    if ITEM_UNUSED in items:
        return PAID
    return COMPLETED if ITEM_VERIFIED in items else REFUNDED


@dataclass(frozen=True)
class Amounts:
    """Fen amounts of an order; ``original - discount = pay`` and ``items`` sum to ``pay``."""

    unit: int
    original: int
    discount: int
    pay: int
    items: tuple[int, ...]


class Merchant:
    """State of one merchant. Callers serialise access with the platform's data lock."""

    def __init__(
        self, seed: int, merchant_no: int, account_id: int, orders: int, products: int, days: int, start: int
    ) -> None:
        self.seed, self.merchant_no, self.account_id = seed, merchant_no, account_id
        self.poi_count = 2 + mix(seed, merchant_no, 0x901) % 5
        self.brand, self.categories = BRANDS[(seed + merchant_no - 1) % len(BRANDS)]
        self.orders = Table(ORDER_COLUMNS, "create")
        self.verifications = Table(VERIFY_COLUMNS, "verify")
        self.refunds = Table(REFUND_COLUMNS, "done")
        self.p_create = array("q")
        self.p_update = array("q")
        self.p_status = array("B")
        self.p_stock = array("i")
        self._generate_products(products, days, start)
        self._generate_orders(orders, days, start)

    # ----------------------------------------------------------------- identities
    def _span(self) -> int:
        return self.merchant_no * MERCHANT_SPAN

    def order_id(self, idx: int) -> str:
        return str(ORDER_ID_BASE + self._span() + idx)

    def order_index(self, order_id: str) -> int | None:
        if not order_id.isdigit():
            return None
        rest = int(order_id) - ORDER_ID_BASE - self._span()
        return rest if 0 <= rest < len(self.orders) else None

    def certificate_id(self, idx: int, slot: int) -> str:
        return str(CERTIFICATE_ID_BASE + self._span() + idx * 4 + slot)

    def order_item_id(self, idx: int, slot: int) -> str:
        return f"{self.order_id(idx)}{slot + 1:02d}"

    def verify_id(self, v_idx: int) -> str:
        return str(VERIFY_ID_BASE + self._span() + v_idx)

    def after_sale_id(self, r_idx: int) -> str:
        return str(AFTER_SALE_ID_BASE + self._span() + r_idx)

    def poi_id(self, poi: int) -> str:
        return str(POI_ID_BASE + self.merchant_no * 1000 + poi)

    def product_id(self, p: int) -> str:
        return str(PRODUCT_ID_BASE + self.merchant_no * PRODUCT_SPAN + p)

    def sku_id(self, p: int) -> str:
        return str(SKU_ID_BASE + self.merchant_no * PRODUCT_SPAN + p)

    def product_category(self, p: int) -> tuple[int, str, tuple[str, ...], tuple[int, int]]:
        return CATEGORIES[self.categories[mix(self.seed, self.merchant_no, p, 0xCA) % len(self.categories)]]

    def product_price(self, p: int) -> tuple[int, int]:
        """(actual_amount, origin_amount) in fen; prices never change, so orders can derive theirs."""
        low, high = self.product_category(p)[3]
        actual = (low + mix(self.seed, self.merchant_no, p, 0x9C) % (high - low)) // 100 * 100 + 90
        return actual, actual * 3 // 2 // 100 * 100

    def order_hash(self, idx: int) -> int:
        return mix(self.seed, self.merchant_no, idx, 0x0D)

    def amounts(self, idx: int, product: int, count: int) -> Amounts:
        unit = self.product_price(product)[0]
        original = unit * count
        discount = original // 10 if self.order_hash(idx) % 5 == 0 else 0
        pay = original - discount
        share = pay // count
        items = (pay - share * (count - 1),) + (share,) * (count - 1)
        return Amounts(unit, original, discount, pay, items)

    # ----------------------------------------------------------------- generation
    def _generate_products(self, count: int, days: int, start: int) -> None:
        rng = random.Random(mix(self.seed, self.merchant_no, 0x9A0D))
        for _ in range(count):
            create = start - (days + 10) * DAY - rng.randrange(180 * DAY)
            self.p_create.append(create)
            self.p_update.append(create + rng.randrange(start - create))
            self.p_status.append(rng.choices((ONLINE, OFFLINE, BANNED), weights=(85, 12, 3))[0])
            self.p_stock.append(rng.randrange(50, 5000))

    def _generate_orders(self, count: int, days: int, start: int) -> None:
        rng = random.Random(mix(self.seed, self.merchant_no, 0x0DE5))
        span = days * DAY
        creates = sorted(start - span + rng.randrange(span) for _ in range(count))
        rows: list[tuple[int, ...]] = []
        verifies: list[tuple[int, int, int, int, int]] = []
        refunds: list[tuple[int, int, int, int, int]] = []
        products = len(self.p_create)
        for idx, create in enumerate(creates):
            product = rng.randrange(products)
            items = 1 if rng.random() < 0.7 else 2 if rng.random() < 0.67 else 3
            poi = rng.randrange(self.poi_count)
            states = [ITEM_UNPAID] * MAX_ITEMS
            times = [0] * MAX_ITEMS
            pay, last, cancelled = 0, create, False
            if rng.random() < 0.05:
                if create + 900 <= start:
                    cancelled, last = True, create + 900
                    states[:items] = [ITEM_CANCELLED] * items
            elif (paid := create + rng.randrange(5, 600)) <= start:
                pay = last = paid
                for slot in range(items):
                    roll = rng.random()
                    states[slot] = ITEM_UNUSED
                    if roll < 0.6:
                        at = pay + rng.randrange(1800, 20 * DAY)
                        if at <= start:
                            states[slot], times[slot] = ITEM_VERIFIED, at
                            verifies.append((at, 0, idx, slot, (poi + (roll < 0.1)) % self.poi_count))
                    elif roll < 0.68:
                        at = pay + rng.randrange(600, 10 * DAY)
                        if at <= start:
                            states[slot], times[slot] = ITEM_REFUNDED, at
                            refunds.append((at, 0, max(pay, at - rng.randrange(60, 7200)), idx, slot))
                    last = max(last, times[slot])
            status = order_status(pay > 0, cancelled, states[:items])
            rows.append((create, pay, last, status, 0, product, items, poi, *states, *times))
        self.orders.load(rows)
        self.verifications.load([(t, t, idx, slot, poi) for t, _, idx, slot, poi in sorted(verifies)])
        self.refunds.load([(t, t, apply, idx, slot) for t, _, apply, idx, slot in sorted(refunds)])

    # ----------------------------------------------------------------- mutations
    def add_order(self, now: int, lag: float, rng: random.Random) -> int:
        items = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
        values = dict.fromkeys(self.orders.names, 0)
        values.update(
            create=now,
            update=now,
            status=UNPAID,
            product=rng.randrange(len(self.p_create)),
            count=items,
            poi=rng.randrange(self.poi_count),
            s0=ITEM_UNPAID,
            s1=ITEM_UNPAID,
            s2=ITEM_UNPAID,
        )
        return self.orders.append(values, lag)

    def touch_order(self, idx: int, now: int, lag: float) -> None:
        """A contact-detail edit: a new version with update_order_time = now and nothing else."""
        self.orders.update(idx, {"update": now, "rev": self.orders.cols["rev"][idx] + 1}, lag)

    def advance(self, idx: int, now: int, lag: float, rng: random.Random) -> bool:
        """Move an order one step: pay or cancel it, or verify or refund one unused voucher.
        ``False`` if the order is in a final state."""
        row = self.orders.row(idx)
        states = [getattr(row, f"s{slot}") for slot in SLOTS]
        change: dict[str, int] = {"update": now}
        if row.status == UNPAID:
            paid = rng.random() < 0.9
            new_state = ITEM_UNUSED if paid else ITEM_CANCELLED
            states[: row.count] = [new_state] * row.count
            change.update({f"s{slot}": states[slot] for slot in range(row.count)})
            change["pay"] = now if paid else 0
            change["status"] = order_status(paid, not paid, states[: row.count])
        elif row.status == PAID:
            slot = states.index(ITEM_UNUSED)
            if rng.random() < 0.8:
                states[slot] = ITEM_VERIFIED
                self.verifications.append(
                    {"verify": now, "update": now, "order_idx": idx, "slot": slot, "poi": row.poi}, lag
                )
            else:
                states[slot] = ITEM_REFUNDED
                apply = max(row.pay, now - rng.randrange(60, 3600))
                self.refunds.append(
                    {"done": now, "update": now, "apply": apply, "order_idx": idx, "slot": slot}, lag
                )
            change.update({f"s{slot}": states[slot], f"t{slot}": now})
            change["status"] = order_status(True, False, states[: row.count])
        else:
            return False
        self.orders.update(idx, change, lag)
        return True

    def update_product(self, p: int, now: int, rng: random.Random) -> None:
        """Take a deal off or on line, or restock it."""
        if rng.random() < 0.5 and self.p_status[p] != BANNED:
            self.p_status[p] = OFFLINE if self.p_status[p] == ONLINE else ONLINE
        else:
            self.p_stock[p] = rng.randrange(50, 5000)
        self.p_update[p] = now
