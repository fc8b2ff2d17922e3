"""One sandbox shop: generated history, live mutations and the API-shaped views of it.

Mutable order and after-sale state lives in columnar ``Table``s; everything that never
changes after an order is created (items, amounts, address, carrier) is re-derived from
``mix(seed, shop, idx)`` whenever a record is materialised, so it costs no memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .catalog import ADDRESSES, BUYER_WORDS, CARRIERS, Product, Sku, build_catalog, mix
from .constants import (
    AFTERSALE_ID_BASE,
    DAY,
    ORDER_ID_BASE,
    ORDER_SHOP_SPAN,
    day_start,
    fmt_time,
)
from .store import TIME_BASE, EventLog, Table

ORDER_COLUMNS = (
    ("create", "q"), ("pay", "q"), ("ship", "q"), ("finish", "q"), ("cancel", "q"), ("update", "q"),
    ("status", "B"), ("rev", "H"), ("as_idx", "i"), ("as_type", "B"), ("as_status", "B"), ("as_refund", "B"),
)  # fmt: skip
AFTERSALE_COLUMNS = (
    ("apply", "q"), ("update", "q"), ("done", "q"), ("order_idx", "i"),
    ("type", "B"), ("status", "B"), ("refund", "B"), ("rev", "H"),
)  # fmt: skip

STATUS_DESC = {1: "待支付", 105: "已支付", 2: "待发货", 3: "已发货", 4: "已取消", 5: "已完成"}
AFTERSALE_STATUS_DESC = {6: "售后申请", 12: "售后成功", 27: "拒绝售后申请"}
AS_PENDING, AS_SUCCESS, AS_REFUSED = 6, 12, 27
REFUND_PENDING, REFUND_DONE, REFUND_FAILED = 1, 3, 4
TYPE_RETURN_REFUND, TYPE_SHIPPED_REFUND, TYPE_UNSHIPPED_REFUND = 0, 1, 2

SETTLE_NORMAL, SETTLE_REFUND = 0, 1
FLOW_PAY, FLOW_REFUND, FLOW_SETTLE = 0, 1, 2
REQUEST_NO_BASE = 7_120_000_000_000_000_000
TRADE_NO_BASE = 8_100_000_000_000_000_000


@dataclass(frozen=True)
class Item:
    sku_index: int
    num: int
    price: int
    promo: int

    @property
    def sum_amount(self) -> int:
        return self.price * self.num

    @property
    def pay_amount(self) -> int:
        return self.sum_amount - self.promo


class Shop:
    """State and views of one shop. Callers serialise access with the server's data lock."""

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
        """A single-item order's sub-order id equals the parent id (§4.1)."""
        parent = self.order_id(idx)
        return [parent] if count == 1 else [parent + 1 + j for j in range(count)]

    def aftersale_id(self, as_idx: int) -> str:
        return str(AFTERSALE_ID_BASE + self.shop_no * ORDER_SHOP_SPAN + as_idx)

    def aftersale_index(self, aftersale_id: str) -> int | None:
        if not aftersale_id.isdigit():
            return None
        rest = int(aftersale_id) - AFTERSALE_ID_BASE - self.shop_no * ORDER_SHOP_SPAN
        return rest if 0 <= rest < len(self.after_sales) else None

    def _hash(self, idx: int) -> int:
        return mix(self.seed, self.shop_no, idx, 0x0D)

    def items(self, idx: int) -> list[Item]:
        h = self._hash(idx)
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
        return 800 if (self._hash(idx) >> 8) % 5 == 0 else 0

    def has_commission(self, idx: int) -> bool:
        """Orders sold through an influencer (精选联盟) pay a 10% commission."""
        return (self._hash(idx) >> 24) % 5 == 0

    def settle_at(self, when: int, idx: int) -> int:
        """T+1: the settlement of an event on day D happens early on day D+1."""
        return day_start(when) + DAY + 3600 + mix(self.seed, idx, 0x5E) % 18000

    # ----------------------------------------------------------------- generation
    def _generate(self, count: int, days: int, start: int) -> None:
        rng = random.Random(mix(self.seed, self.shop_no, 0x0DE5))
        span = days * DAY
        creates = sorted(start - span + rng.randrange(span) for _ in range(count))
        cols = self.orders.cols
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
                ("create", create), ("pay", pay), ("ship", ship), ("finish", finish), ("cancel", cancel),
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
    def add_order(self, now: int, lag: float) -> int:
        values = dict.fromkeys(self.orders.names, 0)
        values.update(create=now, update=now, status=1, as_idx=-1)
        return self.orders.append(values, lag)

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
            return self._resolve_aftersale(row, idx, now, lag, rng)
        if row.status == 1:
            if rng.random() < 0.9:
                change.update(status=105, pay=now)
                for item in self.items(idx):
                    sku = self.skus[item.sku_index]
                    sku.stock_num = max(0, sku.stock_num - item.num)
                    self.products[sku.product_index].sell_num += item.num
                self.flows.add(now, idx, FLOW_PAY)
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

    def _resolve_aftersale(self, row: Any, idx: int, now: int, lag: float, rng: random.Random) -> bool:
        success = rng.random() < 0.85
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

    # ----------------------------------------------------------------- views
    def order_dict(self, idx: int, row: Any) -> dict[str, Any]:
        """A ShopOrder (§4.1) for one version of an order."""
        h = self._hash(idx)
        items = self.items(idx)
        oid = self.order_id(idx)
        sub_ids = self.sku_order_ids(idx, len(items))
        post = self.post_amount(idx)
        order_amount = sum(i.sum_amount for i in items) + post
        promotion = sum(i.promo for i in items)
        province, city, town, street, detail = ADDRESSES[(h >> 16) % len(ADDRESSES)]
        sku_orders = [
            self._sku_order_dict(row, idx, j, item, sub_ids[j], oid) for j, item in enumerate(items)
        ]
        logistics = []
        if row.ship:
            company, company_name, prefix = CARRIERS[(h >> 28) % len(CARRIERS)]
            logistics.append({
                "tracking_no": f"{prefix}{mix(h, 0x7A) % 10**12:012d}",
                "company": company,
                "company_name": company_name,
                "ship_time": row.ship,
                "delivery_id": "",
                "product_info": [
                    {"sku_order_id": str(sub_ids[j]), "product_id": s["product_id"],
                     "product_name": s["product_name"], "product_count": s["item_num"], "sku_id": s["sku_id"]}
                    for j, s in enumerate(sku_orders)
                ],
            })  # fmt: skip
        return {
            "order_id": str(oid),
            "shop_id": self.shop_id,
            "shop_name": self.shop_name,
            "order_status": row.status,
            "order_status_desc": STATUS_DESC[row.status],
            "main_status": row.status,
            "main_status_desc": STATUS_DESC[row.status],
            "order_level": 2,
            "order_type": 0,
            "trade_type": 0,
            "biz": 2,
            "b_type": 2 if (h >> 32) % 4 else 3,
            "sub_b_type": 3,
            "pay_type": 1 + (h >> 36) % 2 if row.pay else 0,
            "channel_payment_no": f"PAY{mix(h, 0xC4) % 10**16:016d}" if row.pay else "",
            "create_time": row.create,
            "update_time": row.update,
            "pay_time": row.pay,
            "finish_time": row.finish,
            "ship_time": row.ship,
            "exp_ship_time": row.pay + 48 * 3600 if row.pay else 0,
            "order_expire_time": 1800,
            "cancel_reason": "超时未支付" if row.cancel and not row.pay else "",
            "order_amount": order_amount,
            "pay_amount": order_amount - promotion,
            "post_amount": post,
            "post_insurance_amount": 0,
            "modify_amount": 0,
            "modify_post_amount": 0,
            "promotion_amount": promotion,
            "promotion_shop_amount": promotion,
            "promotion_platform_amount": 0,
            "promotion_talent_amount": 0,
            "promotion_pay_amount": 0,
            "total_promotion_amount": promotion,
            "buyer_words": BUYER_WORDS[(h >> 20) % len(BUYER_WORDS)],
            "seller_words": f"第{row.rev}次备注：已核对收货信息" if row.rev else "",
            "seller_remark_stars": 0,
            "doudian_open_id": f"1@#{mix(h, 0x0B) % 36**20:x}==",
            "post_addr": {
                "province": {"id": province[0], "name": province[1]},
                "city": {"id": city[0], "name": city[1]},
                "town": {"id": town[0], "name": town[1]},
                "street": {"id": street[0], "name": street[1]},
                "detail": detail,
            },
            "mask_post_receiver": "张**",
            "mask_post_tel": f"1**********{(h >> 44) % 10}",
            "encrypt_post_receiver": f"#{mix(h, 0x0E) % 10**12:x}#{mix(h, 0x0F) % 10**14:x}#*CgkIARCtHC#1##",
            "encrypt_post_tel": f"${mix(h, 0x1E) % 10**12:x}$*CgkIARCtHCABKAESPgo8$1$$",
            "logistics_info": logistics,
            "sku_order_list": sku_orders,
        }

    def _sku_order_dict(
        self, row: Any, idx: int, j: int, item: Item, sub_id: int, parent: int
    ) -> dict[str, Any]:
        sku = self.skus[item.sku_index]
        product = self.products[sku.product_index]
        cat = product.category
        refunded = j == 0 and row.as_type == TYPE_UNSHIPPED_REFUND and row.as_status == AS_SUCCESS
        status = 4 if refunded else row.status
        has_aftersale = j == 0 and row.as_idx >= 0
        return {
            "order_id": str(sub_id),
            "parent_order_id": str(parent),
            "order_level": 3,
            "product_id": product.product_id,
            "product_id_str": str(product.product_id),
            "sku_id": sku.sku_id,
            "out_sku_id": str(sku.out_sku_id) if sku.out_sku_id else "",
            "code": sku.code,
            "product_name": product.name,
            "product_pic": _image(product.product_id),
            "spec": [{"name": n, "value": v} for n, v in sku.spec],
            "item_num": item.num,
            "origin_amount": item.price,
            "sum_amount": item.sum_amount,
            "pay_amount": item.pay_amount,
            "promotion_amount": item.promo,
            "order_status": status,
            "order_status_desc": STATUS_DESC[status],
            "main_status": status,
            "main_status_desc": STATUS_DESC[status],
            "after_sale_info": {
                "after_sale_status": row.as_status if has_aftersale else 0,
                "after_sale_type": row.as_type if has_aftersale else 0,
                "refund_status": row.as_refund if has_aftersale else 0,
            },
            "create_time": row.create,
            "update_time": row.update,
            "pay_time": row.pay,
            "finish_time": row.finish,
            "first_cid": cat.cids[0],
            "second_cid": cat.cids[1],
            "third_cid": cat.cids[2],
            "fourth_cid": 0,
            "author_id": 0,
            "room_id": 0,
            "trade_type": 0,
            "inventory_list": [],
        }

    def _refund_amounts(self, idx: int, kind: int) -> tuple[int, int]:
        """(refund_amount, refund_post_amount) of the order's after-sale on its first item."""
        post = self.post_amount(idx) if kind == TYPE_UNSHIPPED_REFUND else 0
        return self.items(idx)[0].pay_amount, post

    def aftersale_dict(self, as_idx: int, row: Any) -> dict[str, Any]:
        """An afterSale.List item (§4.7) for one version of an after-sale."""
        idx = row.order_idx
        order = self.orders.row(idx)
        items = self.items(idx)
        sub_ids = self.sku_order_ids(idx, len(items))
        refund_amount, refund_post = self._refund_amounts(idx, row.type)
        item = items[0]
        sku = self.skus[item.sku_index]
        product = self.products[sku.product_index]
        return {
            "aftersale_info": {
                "aftersale_id": self.aftersale_id(as_idx),
                "aftersale_order_type": 1,
                "aftersale_type": row.type,
                "aftersale_status": row.status,
                "aftersale_status_desc": AFTERSALE_STATUS_DESC[row.status],
                "related_id": str(sub_ids[0]),
                "apply_time": row.apply,
                "create_time": row.apply,
                "update_time": row.update,
                "status_deadline": row.apply + 2 * DAY if row.status == AS_PENDING else 0,
                "aftersale_status_to_final_time": row.done,
                "refund_amount": refund_amount,
                "refund_post_amount": refund_post,
                "aftersale_num": item.num,
                "refund_status": row.refund,
                "refund_type": 1,
                "arbitrate_status": 0,
                "return_logistics_code": "",
                "reason_second_labels": [],
            },
            "order_info": {
                "shop_order_id": str(self.order_id(idx)),
                "related_order_info": [{
                    "sku_order_id": str(sub_ids[0]),
                    "order_status": order.status,
                    "pay_amount": item.pay_amount,
                    "post_amount": self.post_amount(idx),
                    "item_num": item.num,
                    "create_time": order.create,
                    "product_name": product.name,
                    "product_id": product.product_id,
                    "product_image": _image(product.product_id),
                    "sku_id": sku.sku_id,
                    "shop_sku_code": sku.code,
                    "sku_spec": [{"name": n, "value": v} for n, v in sku.spec],
                    "aftersale_item_num": item.num,
                    "aftersale_pay_amount": refund_amount,
                }],
            },
        }  # fmt: skip

    def product_dict(self, product: Product) -> dict[str, Any]:
        """A product.listV2 element (§4.3)."""
        cat = product.category
        return {
            "product_id": product.product_id,
            "product_id_str": str(product.product_id),
            "name": product.name,
            "img": _image(product.product_id),
            "status": product.status,
            "check_status": product.check_status,
            "product_type": 0,
            "create_time": product.create_time,
            "update_time": product.update_time,
            "outer_product_id": product.outer_product_id,
            "out_product_id": 0,
            "spec_id": product.spec_id,
            "is_package_product": False,
            "sell_num": product.sell_num,
            "market_price": max(self.skus[s].price for s in product.sku_indexes) * 2,
            "discount_price": min(self.skus[s].price for s in product.sku_indexes),
            "category_detail": {
                "first_cid": cat.cids[0], "second_cid": cat.cids[1], "third_cid": cat.cids[2],
                "fourth_cid": 0, "first_cname": cat.cnames[0], "second_cname": cat.cnames[1],
                "third_cname": cat.cnames[2], "fourth_cname": "",
            },
        }  # fmt: skip

    def product_detail_dict(self, product: Product) -> dict[str, Any]:
        """product.detail data (§4.4): string times and ``spec_prices``."""
        base = self.product_dict(product)
        specs: dict[str, list[dict[str, Any]]] = {}
        spec_prices = []
        for s in product.sku_indexes:
            sku = self.skus[s]
            for (name, value), detail_id in zip(sku.spec, sku.spec_detail_ids, strict=True):
                values = specs.setdefault(name, [])
                if all(v["name"] != value for v in values):
                    values.append({"id": detail_id, "name": value})
            spec_prices.append({
                "sku_id": sku.sku_id, "price": sku.price, "stock_num": sku.stock_num, "code": sku.code,
                "outer_sku_id": str(sku.out_sku_id) if sku.out_sku_id else "",
                "spec_detail_ids": list(sku.spec_detail_ids), "sku_type": 0, "stock_num_map": {},
                "lock_stock_num": 0,
            })  # fmt: skip
        base.update(
            create_time=fmt_time(product.create_time),
            update_time=fmt_time(product.update_time),
            draft_status=0,
            pic=[base["img"]],
            description=f"<p>{product.name}</p><p>正品保障，7天无理由退换</p>",
            spec_prices=spec_prices,
            specs=[{"id": product.spec_id, "name": n, "spec_details": v} for n, v in specs.items()],
            presell_type=0,
            freight_id=0,
            reduce_type=1,
        )
        return base

    def sku_dict(self, sku: Sku) -> dict[str, Any]:
        """A sku.list element (§4.5)."""
        product = self.products[sku.product_index]
        names = [v for _, v in sku.spec] + ["", "", ""]
        ids = list(sku.spec_detail_ids) + [0, 0, 0]
        return {
            "id": sku.sku_id,
            "product_id": product.product_id,
            "product_id_str": str(product.product_id),
            "out_sku_id": sku.out_sku_id,
            "code": sku.code,
            "price": sku.price,
            "settlement_price": 0,
            "spec_id": product.spec_id,
            "stock_num": sku.stock_num,
            "prehold_stock_num": 0,
            "prom_stock_num": 0,
            "step_stock_num": 0,
            "prehold_step_stock_num": 0,
            "prom_step_stock_num": 0,
            "normal_stock_num": sku.stock_num,
            "channel_stock_num": 0,
            "sku_type": 0,
            "stock_map": {},
            "prehold_stock_map": {},
            "spec_detail_id1": ids[0], "spec_detail_id2": ids[1], "spec_detail_id3": ids[2],
            "spec_detail_name1": names[0], "spec_detail_name2": names[1], "spec_detail_name3": names[2],
            "sell_properties": [{"value_spec_detail_id": i, "value_name": v}
                                for i, (_, v) in zip(sku.spec_detail_ids, sku.spec, strict=True)],
            "create_time": sku.create_time,
        }  # fmt: skip

    def settlement_rows(self, settle_time: int, idx: int, kind: int) -> list[dict[str, Any]]:
        """Rows of one settlement request: one per sku-order, or one refund row."""
        order = self.orders.row(idx)
        items = self.items(idx)
        sub_ids = self.sku_order_ids(idx, len(items))
        commission_rate = 10 if self.has_commission(idx) else 0
        aftersale = self.after_sales.row(order.as_idx) if order.as_idx >= 0 else None
        common = {
            "settle_time": fmt_time(settle_time),
            "request_no": str(REQUEST_NO_BASE + self.shop_no * ORDER_SHOP_SPAN + idx * 2 + kind),
            "shop_order_id": str(self.order_id(idx)),
            "order_time": fmt_time(order.create),
            "pay_type_desc": "聚合账户",
            "flow_type_desc": "精选联盟" if commission_rate else "小店自卖",
            "order_type": "普通订单",
            "platform_coupon": 0, "author_coupon": 0, "zt_pay_promotion": 0, "zr_pay_promotion": 0,
            "good_learn_channel_fee": 0, "colonel_service_fee": 0, "channel_promotion_fee": 0,
            "other_sharing_amount": 0, "packing_amount": 0,
        }  # fmt: skip
        if kind == SETTLE_REFUND:
            refund = sum(self._refund_amounts(idx, aftersale.type)) if aftersale else 0
            item = items[0]
            return [{
                **common, "order_id": str(sub_ids[0]), "product_id": self._product_id_str(item),
                "goods_count": item.num, "trade_type": 1, "is_contains_refund_before_settle": 0,
                "settle_amount": -refund, "total_amount": 0, "total_goods_amount": 0, "post_amount": 0,
                "shop_coupon": 0, "refund_before_settle": 0, "real_pay_amount": 0, "total_income": -refund,
                "platform_service_fee": 0, "commission": 0, "total_outcome": 0, "remark": "结算后退款",
            }]  # fmt: skip
        refunded_before = (
            aftersale is not None and aftersale.status == AS_SUCCESS and aftersale.done < settle_time
        )
        rows = []
        for j, item in enumerate(items):
            post = self.post_amount(idx) if j == 0 else 0
            total = item.pay_amount + post
            before = sum(self._refund_amounts(idx, aftersale.type)) if refunded_before and j == 0 else 0
            income = total - before
            fee = (income * 5 + 50) // 100
            commission = (income * commission_rate + 50) // 100
            rows.append({
                **common, "order_id": str(sub_ids[j]), "product_id": self._product_id_str(item),
                "goods_count": item.num, "trade_type": 0, "is_contains_refund_before_settle": int(before > 0),
                "settle_amount": income - fee - commission, "total_amount": total,
                "total_goods_amount": item.sum_amount, "post_amount": post, "shop_coupon": item.promo,
                "refund_before_settle": before, "real_pay_amount": total, "total_income": income,
                "platform_service_fee": fee, "commission": commission, "total_outcome": fee + commission,
                "remark": "",
            })  # fmt: skip
        return rows

    def flow_rows(self, bill_time: int, idx: int, kind: int) -> list[dict[str, Any]]:
        """The fund-flow row of one account event (§4.9)."""
        order = self.orders.row(idx)
        items = self.items(idx)
        item = items[0]
        sub_ids = self.sku_order_ids(idx, len(items))
        refund = 0
        as_no = ""
        fees = 0
        if kind == FLOW_PAY:
            amount, flow, tag, desc = order_pay(items, self.post_amount(idx)), 0, 0, "订单支付"
        elif kind == FLOW_REFUND:
            aftersale = self.after_sales.row(order.as_idx)
            refund = sum(self._refund_amounts(idx, aftersale.type))
            amount, flow, tag, desc, as_no = refund, 1, 19, "已退款", self.aftersale_id(order.as_idx)
        else:
            fees = sum(r["total_outcome"] for r in self.settlement_rows(bill_time, idx, SETTLE_NORMAL))
            amount, flow, tag, desc = fees, 1, 3, "订单结算扣除平台服务费及佣金"
        commission = self.has_commission(idx)
        return [
            {
                "bill_time": fmt_time(bill_time),
                "fund_flow": flow,
                "fund_flow_desc": "出账" if flow else "入账",
                "account_amount": amount,
                "account_bill_desc": desc,
                "account_bill_desc_tag": tag,
                "biz_type": 2 if commission else 4,
                "biz_type_desc": "精选联盟" if commission else "小店自卖",
                "order_id": str(sub_ids[0]),
                "shop_order_id": str(self.order_id(idx)),
                "after_sale_service_no": as_no,
                "business_order_create_time": fmt_time(order.create),
                "product_id": self._product_id_str(item),
                "pay_amount": order_pay(items, self.post_amount(idx)),
                "promotion_amount": 0,
                "refund_amount": refund,
                "platform_service_fee": fees,
                "commission": 0,
                "post_amount": self.post_amount(idx),
                "account_trade_no": str(TRADE_NO_BASE + self.shop_no * ORDER_SHOP_SPAN + idx * 4 + kind),
                "account_type": 4,
                "account_type_desc": "聚合账户",
                "order_type": 0,
                "order_type_desc": "普通订单",
                "remark": "",
                "shop_id": str(self.shop_id),
            }
        ]

    def _product_id_str(self, item: Item) -> str:
        return str(self.products[self.skus[item.sku_index].product_index].product_id)

    def settle_cutoff(self, now: float, delay: float) -> int:
        """Rows settled before this instant are published (T+1 after ``delay``)."""
        return day_start(now - delay)

    # ----------------------------------------------------------------- truth
    def truth(self, table: str, now: float, settle_delay: float) -> Iterator[dict[str, Any]]:
        """Latest version of every record of ``table`` (see the control API)."""
        if table == "orders":
            for idx in range(len(self.orders)):
                yield self.order_dict(idx, self.orders.row(idx))
        elif table == "after_sales":
            for as_idx in range(len(self.after_sales)):
                yield self.aftersale_dict(as_idx, self.after_sales.row(as_idx))
        elif table == "products":
            yield from (self.product_dict(p) for p in self.products)
        elif table == "skus":
            yield from (self.sku_dict(s) for s in self.skus)
        elif table == "settlements":
            for event in self.settlements.between(TIME_BASE, self.settle_cutoff(now, settle_delay)):
                yield from self.settlement_rows(*event)
        elif table == "account_flows":
            for event in self.flows.between(TIME_BASE, int(now) + 1):
                yield from self.flow_rows(*event)
        else:
            raise KeyError(table)


TRUTH_TABLES = ("orders", "products", "skus", "after_sales", "settlements", "account_flows")


def order_pay(items: list[Item], post: int) -> int:
    return sum(i.pay_amount for i in items) + post


def _image(product_id: int) -> str:
    return f"https://p3-aio.ecombdimg.com/obj/ecom-shop-material/sandbox_{product_id}.jpeg"
