"""API-shaped views of a merchant's state: goodlife orders with their certificates, online
products, verify records and after-sale (refund) orders. Amounts are integer fen; ids that
are int64 in Douyin's docs are strings here, as the goodlife samples send them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..hashing import mix
from .merchant import (
    ITEM_REFUNDED,
    ITEM_UNPAID,
    ITEM_VERIFIED,
    SLOTS,
    Merchant,
)
from .vocabulary import CITIES, DISTRICTS, NAME_PREFIXES, REFUND_REASONS, SURNAMES

ORDER_TYPE_GROUP_BUY = 11


def poi_name(merchant: Merchant, poi: int) -> str:
    return f"{merchant.brand}（{DISTRICTS[(poi + merchant.merchant_no) % len(DISTRICTS)]}）"


def product_name(merchant: Merchant, p: int) -> str:
    names = merchant.product_category(p)[2]
    h = mix(merchant.seed, merchant.merchant_no, p, 0x4E)
    return f"{NAME_PREFIXES[h % len(NAME_PREFIXES)]}{merchant.brand}{names[(h >> 8) % len(names)]}"


def buyer_open_id(merchant: Merchant, idx: int) -> str:
    """Buyers repeat across orders: about one in five orders is by a returning buyer."""
    buyer = merchant.order_hash(idx) % max(10, len(merchant.orders) * 4 // 5)
    return f"_000{mix(merchant.seed, merchant.merchant_no, buyer, 0x0B):016x}{mix(buyer, 0x0C) % 16**12:012x}"


def order_dict(merchant: Merchant, idx: int, row: Any) -> dict[str, Any]:
    """A goodlife order-query element for one version of an order."""
    h = merchant.order_hash(idx)
    amounts = merchant.amounts(idx, row.product, row.count)
    certificates = [
        certificate_dict(merchant, idx, row, slot, amounts.items[slot]) for slot in SLOTS[: row.count]
    ]
    return {
        "order_id": merchant.order_id(idx),
        "order_status": row.status,
        "order_type": ORDER_TYPE_GROUP_BUY,
        "account_id": str(merchant.account_id),
        "poi_id": merchant.poi_id(row.poi),
        "open_id": buyer_open_id(merchant, idx),
        "sku_id": merchant.sku_id(row.product),
        "product_id": merchant.product_id(row.product),
        "sku_name": product_name(merchant, row.product),
        "count": row.count,
        "original_amount": amounts.original,
        "discount_amount": amounts.discount,
        "pay_amount": amounts.pay,
        "create_order_time": row.create,
        "update_order_time": row.update,
        "pay_time": row.pay,
        "certificate": certificates,
        "contacts": [
            {
                "name": f"{SURNAMES[h % len(SURNAMES)]}**",
                "phone": f"1{3 + (h >> 8) % 7}{(h >> 12) % 10}****{(h >> 16) % 10000:04d}",
            }
        ],
        "remark": f"第{row.rev}次修改联系人" if row.rev else "",
    }


def certificate_dict(merchant: Merchant, idx: int, row: Any, slot: int, pay: int) -> dict[str, Any]:
    """One voucher (order item) of an order; ``certificate_id`` is empty until payment."""
    state, when = getattr(row, f"s{slot}"), getattr(row, f"t{slot}")
    refunded = state == ITEM_REFUNDED
    return {
        "certificate_id": "" if state == ITEM_UNPAID or not row.pay else merchant.certificate_id(idx, slot),
        "order_item_id": merchant.order_item_id(idx, slot),
        "order_id": merchant.order_id(idx),
        "item_status": state,
        "item_update_time": when or row.pay or row.create,
        "pay_amount": pay,
        "verify_time": when if state == ITEM_VERIFIED else 0,
        "refund_amount": pay if refunded else 0,
        "refund_time": when if refunded else 0,
    }


def product_dict(merchant: Merchant, p: int) -> dict[str, Any]:
    """A product online-query element (single-SKU deals, so ``sku`` is always present)."""
    category_id, category_name, _, _ = merchant.product_category(p)
    actual, origin = merchant.product_price(p)
    create, update = merchant.p_create[p], merchant.p_update[p]
    h = mix(merchant.seed, merchant.merchant_no, p, 0x70)
    name = product_name(merchant, p)
    pois = [
        merchant.poi_id(i) for i in range(merchant.poi_count) if i == h % merchant.poi_count or (h >> i) & 1
    ]
    return {
        "product": {
            "product_id": merchant.product_id(p),
            "product_name": name,
            "out_id": f"DEAL{merchant.merchant_no:02d}{p:07d}",
            "category_id": category_id,
            "category_full_name": category_name,
            "product_type": 1,
            "biz_line": 1,
            "account_name": merchant.brand,
            "sold_start_time": create,
            "sold_end_time": create + 365 * 86400,
            "create_time": create,
            "update_time": update,
            "pois": [{"poi_id": poi} for poi in pois],
        },
        "sku": {
            "sku_id": merchant.sku_id(p),
            "sku_name": name,
            "actual_amount": actual,
            "origin_amount": origin,
            "stock": {"limit_type": 1, "stock_qty": merchant.p_stock[p]},
            "status": 1,
            "create_time": create,
            "update_time": update,
        },
        "online_status": merchant.p_status[p],
        "commission_info": {"commission_rate": 0 if h % 3 else 500},
    }


def verify_record_dict(merchant: Merchant, v_idx: int, row: Any) -> dict[str, Any]:
    idx, slot = row.order_idx, row.slot
    order = merchant.orders.row(idx)
    amounts = merchant.amounts(idx, order.product, order.count)
    return {
        "verify_id": merchant.verify_id(v_idx),
        "certificate_id": merchant.certificate_id(idx, slot),
        "order_id": merchant.order_id(idx),
        "order_item_id": merchant.order_item_id(idx, slot),
        "account_id": str(merchant.account_id),
        "poi_id": merchant.poi_id(row.poi),
        "verify_time": row.verify,
        "verify_type": 1,
        "status": 1,
        "sku_id": merchant.sku_id(order.product),
        "product_id": merchant.product_id(order.product),
        "sku_name": product_name(merchant, order.product),
        "original_amount": amounts.unit,
        "pay_amount": amounts.items[slot],
    }


def refund_dict(merchant: Merchant, r_idx: int, row: Any) -> dict[str, Any]:
    idx, slot = row.order_idx, row.slot
    order = merchant.orders.row(idx)
    amounts = merchant.amounts(idx, order.product, order.count)
    return {
        "after_sale_id": merchant.after_sale_id(r_idx),
        "order_id": merchant.order_id(idx),
        "order_item_id": merchant.order_item_id(idx, slot),
        "certificate_id": merchant.certificate_id(idx, slot),
        "account_id": str(merchant.account_id),
        "refund_status": 2,
        "refund_amount": amounts.items[slot],
        "apply_time": row.apply,
        "refund_done_time": row.done,
        "update_time": row.update,
        "reason": REFUND_REASONS[mix(merchant.seed, idx, slot) % len(REFUND_REASONS)],
        "city": CITIES[merchant.merchant_no % len(CITIES)],
    }


TRUTH_TABLES = ("life_orders", "life_certificates", "life_products", "life_verify_records", "life_refunds")


def truth(merchant: Merchant, table: str) -> Iterator[dict[str, Any]]:
    """Latest version of every record of ``table``: what a perfect sync would hold."""
    if table in ("life_orders", "life_certificates"):
        for idx, row in merchant.orders.rows():
            order = order_dict(merchant, idx, row)
            if table == "life_orders":
                yield order
            else:
                yield from order["certificate"]
    elif table == "life_products":
        yield from (product_dict(merchant, p) for p in range(len(merchant.p_create)))
    elif table == "life_verify_records":
        yield from (verify_record_dict(merchant, v_idx, row) for v_idx, row in merchant.verifications.rows())
    elif table == "life_refunds":
        yield from (refund_dict(merchant, r_idx, row) for r_idx, row in merchant.refunds.rows())
    else:
        raise KeyError(table)
