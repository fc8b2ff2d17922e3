"""The 抖音来客 webhooks a change of a merchant's records causes: ``(event, msg_id, content)``.

Events and content follow the life-service message docs:
``life_trade_order_notify`` (https://developer.open-douyin.com/docs/resource/zh-CN/local-life/develop/OpenAPI/general-capabilities/order.query/trade.order.notify)
with ``action`` ``pay_success``, and ``life_trade_certificate_notify``
(…/order.query/trade.certificate.notify) with ``verify`` or ``refund_success``. The docs say the
Msg-Id is the same for the same entity and action, so it is built from those two. An order that is
created unpaid, cancelled, or only touched, and a deal that changes, send nothing: the docs give no
message for them.
"""

from __future__ import annotations

from typing import Any

from .merchant import PAID, UNPAID, Merchant
from .records import order_dict

Webhook = tuple[str, str, dict[str, Any]]
"""``(event, msg_id, content)``: ``content`` is serialised into the body's ``content`` string."""

ORDER_EVENT = "life_trade_order_notify"
CERTIFICATE_EVENT = "life_trade_certificate_notify"


def order_webhooks(merchant: Merchant, idx: int, before: Any, after: Any) -> list[Webhook]:
    """``pay_success`` when an unpaid order is paid; nothing for any other change."""
    if before is None or before.status != UNPAID or after.status != PAID:
        return []
    order = order_dict(merchant, idx, after)
    content = {
        "action": "pay_success",
        "msg_time": after.update,
        "order": {
            "order_id": order["order_id"],
            "account_id": order["account_id"],
            "pay_amount": order["pay_amount"],
            "original_amount": order["original_amount"],
            "create_time": order["create_order_time"],
            "pay_time": order["pay_time"],
        },
    }
    return [(ORDER_EVENT, f"{order['order_id']}:pay_success", content)]


def certificate_webhook(merchant: Merchant, action: str, row: Any, when: int) -> list[Webhook]:
    """``verify`` or ``refund_success`` of one voucher (a new verify record or refund ``row``)."""
    certificate_id = merchant.certificate_id(row.order_idx, row.slot)
    content = {
        "action": action,
        "msg_time": when,
        "certificate": {
            "order_id": merchant.order_id(row.order_idx),
            "certificate_id": certificate_id,
            "account_id": str(merchant.account_id),
        },
    }
    return [(CERTIFICATE_EVENT, f"{certificate_id}:{action}", content)]
