"""The Doudian push messages (消息推送) a change of a sandbox shop's records causes: ``(tag, data)``.

Fields follow Doudian's message docs (https://op.jinritemai.com/docs/message-docs/30/110 and its
neighbours): ``p_id`` is the shop order id and ``s_ids`` / ``s_id`` the sku-order ids, as JSON
numbers (they exceed 2^53, as in production); times are epoch seconds. Every value is read from
the same record the API serves (``order_dict``, ``aftersale_dict``), so a receiver can compare
a message with ``order.orderDetail`` or the truth.

Which changes send what (an order status the docs give no message for sends none):

* order created → 100; paid (1 → 105) → 101; shipped (2 → 3) → 102; completed (3 → 5) → 103;
  cancelled (→ 4, unpaid or refunded in full) → 106; seller remark edited → 113;
  confirmed (105 → 2) → nothing.
* after-sale opened → 200; refunded → 206; refused → 204 (205 for a return).
* product edited (``POST /sandbox/stock`` with ``touch_product``) → 400.
"""

from __future__ import annotations

from typing import Any

from .product_catalog import Product
from .shop_data import AS_PENDING, AS_REFUSED, AS_SUCCESS, TYPE_RETURN_REFUND, Shop
from .shop_records import aftersale_dict, order_dict

PushMessage = tuple[str, dict[str, Any]]
"""``(tag, data)``: ``data`` is serialised into the message's ``data`` string."""

PRODUCT_EDITED = 1
"""``event`` of a 400 message; the docs name the field but not its values."""


def _order_base(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "biz": order["biz"],
        "order_status": order["order_status"],
        "order_type": order["order_type"],
        "p_id": int(order["order_id"]),
        "s_ids": [int(s["order_id"]) for s in order["sku_order_list"]],
        "shop_id": order["shop_id"],
    }


def order_messages(shop: Shop, idx: int, before: Any, after: Any) -> list[PushMessage]:
    """Messages for one new version of an order (``before`` is ``None`` for a new order)."""
    order = order_dict(shop, idx, after)
    base = _order_base(order)
    if before is None:
        return [("100", {**base, "create_time": order["create_time"]})]
    messages: list[PushMessage] = []
    if after.rev != before.rev:
        remark = {"p_id": base["p_id"], "remark": order["seller_words"], "shop_id": base["shop_id"],
                  "star": order["seller_remark_stars"], "update_time": order["update_time"]}  # fmt: skip
        messages.append(("113", remark))
    if after.status == before.status:
        return messages
    if after.status == 105:
        paid = {
            "pay_amount": order["pay_amount"],
            "pay_time": order["pay_time"],
            "pay_type": order["pay_type"],
        }
        messages.append(("101", {**base, **paid}))
    elif after.status == 3:
        logistics = order["logistics_info"][0]
        shipped = {"express_company_id": logistics["company"], "logistics_code": logistics["tracking_no"]}
        messages.append(("102", {**base, "logistics_msg": shipped, "update_time": order["update_time"]}))
    elif after.status == 5:
        messages.append(("103", {**base, "complete_time": after.finish}))
    elif after.status == 4:
        messages.append(
            ("106", {**base, "cancel_reason": order["cancel_reason"], "cancel_time": after.cancel})
        )
    return messages


def aftersale_messages(shop: Shop, as_idx: int, before: Any, after: Any) -> list[PushMessage]:
    """Messages for one new version of an after-sale; a version that only touched it sends none."""
    record = aftersale_dict(shop, as_idx, after)
    info = record["aftersale_info"]
    data: dict[str, Any] = {
        "aftersale_id": int(info["aftersale_id"]),
        "aftersale_status": info["aftersale_status"],
        "aftersale_type": info["aftersale_type"],
        "p_id": int(record["order_info"]["shop_order_id"]),
        "s_id": int(info["related_id"]),
        "reason_code": 0,
        "refund_amount": info["refund_amount"],
        "refund_post_amount": info["refund_post_amount"],
        "shop_id": shop.shop_id,
        "update_time": info["update_time"],
    }
    if before is None:
        return [("200", {**data, "apply_time": info["apply_time"]})]
    if before.status != AS_PENDING or after.status == AS_PENDING:
        return []
    if after.status == AS_SUCCESS:
        return [("206", {**data, "success_time": after.done})]
    if after.status == AS_REFUSED:
        return [("205" if after.type == TYPE_RETURN_REFUND else "204", {**data, "refuse_time": after.done})]
    return []


def product_message(shop: Shop, product: Product) -> PushMessage:
    """The 400 message of a product edit."""
    return "400", {
        "check_reject_reason": "",
        "event": PRODUCT_EDITED,
        "out_product_id": 0,
        "product_id": product.product_id,
        "shop_id": shop.shop_id,
        "update_time": product.update_time,
    }
