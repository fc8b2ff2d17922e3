"""API-shaped views of one version of a sandbox shop's records.

Orders (order.searchList), after-sales (afterSale.List), products (product.listV2,
product.detail), SKUs (sku.list), settlement rows (getSettleBillDetailV3) and fund flows
(getShopAccountItem), each built from a ``Shop`` and one row version, plus the
ground truth the control API streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .constants import DAY, ORDER_SHOP_SPAN, fmt_time
from .hashing import mix
from .product_catalog import ADDRESSES, BUYER_WORDS, CARRIERS, Product, Sku
from .shop_data import (
    AS_PENDING,
    AS_SUCCESS,
    FLOW_PAY,
    FLOW_REFUND,
    SETTLE_NORMAL,
    SETTLE_REFUND,
    TYPE_UNSHIPPED_REFUND,
    Item,
    Shop,
    settle_cutoff,
)
from .store import TIME_BASE

STATUS_DESC = {1: "待支付", 105: "已支付", 2: "待发货", 3: "已发货", 4: "已取消", 5: "已完成"}
AFTERSALE_STATUS_DESC = {6: "售后申请", 12: "售后成功", 27: "拒绝售后申请"}
REQUEST_NO_BASE = 7_120_000_000_000_000_000
TRADE_NO_BASE = 8_100_000_000_000_000_000
TRUTH_TABLES = ("orders", "products", "skus", "after_sales", "settlements", "account_flows")


def order_dict(shop: Shop, idx: int, row: Any) -> dict[str, Any]:
    """A ShopOrder (order.searchList element) for one version of an order."""
    h = shop.order_hash(idx)
    items = shop.items(idx)
    oid = shop.order_id(idx)
    sub_ids = shop.sku_order_ids(idx, len(items))
    post = shop.post_amount(idx)
    order_amount = sum(i.sum_amount for i in items) + post
    promotion = sum(i.promo for i in items)
    province, city, town, street, detail = ADDRESSES[(h >> 16) % len(ADDRESSES)]
    sku_orders = [_sku_order_dict(shop, row, idx, j, item, sub_ids[j], oid) for j, item in enumerate(items)]
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
        "shop_id": shop.shop_id,
        "shop_name": shop.shop_name,
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
        "post_origin_amount": post,
        "post_promotion_amount": 0,
        "post_insurance_amount": 0,
        "modify_amount": 0,
        "modify_post_amount": 0,
        "promotion_amount": promotion,
        "promotion_shop_amount": promotion,
        "promotion_platform_amount": 0,
        "promotion_talent_amount": 0,
        "promotion_pay_amount": 0,
        "total_promotion_amount": promotion,
        **_cost_split(promotion),
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
    shop: Shop, row: Any, idx: int, j: int, item: Item, sub_id: int, parent: int
) -> dict[str, Any]:
    sku = shop.skus[item.sku_index]
    product = shop.products[sku.product_index]
    cat = product.category
    source = shop.attribution(idx)
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
        "promotion_shop_amount": item.promo,
        "promotion_platform_amount": 0,
        "promotion_talent_amount": 0,
        "promotion_pay_amount": 0,
        **_cost_split(item.promo),
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
        # Attribution: the live room (直播间) or short video the order came from, and its author.
        "room_id": source.room_id,
        "room_id_str": source.room_id_str,
        "author_id": source.author_id,
        "author_name": source.author_name,
        "c_biz": source.c_biz,
        "c_biz_desc": C_BIZ_DESC[source.c_biz],
        "video_id": source.video_id,
        "theme_type": "1" if source.room_id else "0",
        "theme_type_desc": "直播间" if source.room_id else "其他",
        "ad_env_type": "live" if source.room_id else "video" if source.video_id else "",
        "trade_type": 0,
        "inventory_list": [],
    }


C_BIZ_DESC = {2: "精选联盟", 8: "小店自卖"}
REFUND_STATUS_TEXT = {1: "待退款", 3: "退款成功", 4: "退款失败"}
AFTERSALE_TYPE_TEXT = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款"}
REASONS = ((1001, "不想要了"), (1002, "尺码/规格拍错"), (1003, "商品质量问题"), (1004, "与描述不符"))


def _cost_split(shop_promotion: int) -> dict[str, int]:
    """Who bears the discounts: the sandbox's are all shop coupons (no 达人 or platform subsidy)."""
    return {
        "shop_cost_amount": shop_promotion,
        "platform_cost_amount": 0,
        "author_cost_amount": 0,
        "only_platform_cost_amount": 0,
    }


def _refund_amounts(shop: Shop, idx: int, kind: int) -> tuple[int, int]:
    """(refund_amount, refund_post_amount) of the order's after-sale on its first item."""
    post = shop.post_amount(idx) if kind == TYPE_UNSHIPPED_REFUND else 0
    return shop.items(idx)[0].pay_amount, post


def aftersale_dict(shop: Shop, as_idx: int, row: Any) -> dict[str, Any]:
    """An afterSale.List item for one version of an after-sale."""
    idx = row.order_idx
    order = shop.orders.row(idx)
    items = shop.items(idx)
    sub_ids = shop.sku_order_ids(idx, len(items))
    refund_amount, refund_post = _refund_amounts(shop, idx, row.type)
    item = items[0]
    sku = shop.skus[item.sku_index]
    product = shop.products[sku.product_index]
    reason = REASONS[mix(shop.order_hash(idx), 0xAF) % len(REASONS)]
    return {
        "aftersale_info": {
            "aftersale_id": shop.aftersale_id(as_idx),
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
            "aftersale_refund_type": 0,
            "part_type": 0,
            "refund_tax_amount": 0,
            "return_promotion_amount": 0,
            "got_pkg": int(row.type != TYPE_UNSHIPPED_REFUND),
            "arbitrate_status": 0,
            "return_logistics_code": "",
            "remark": "",
            "store_id": 0,
            "store_name": "",
            "aftersale_sub_type": 0,
            "reason_second_labels": [{"code": reason[0], "name": reason[1]}],
        },
        "text_part": {
            "logistics_text": "未发货" if row.type == TYPE_UNSHIPPED_REFUND else "已发货",
            "aftersale_status_text": AFTERSALE_STATUS_DESC[row.status],
            "aftersale_type_text": AFTERSALE_TYPE_TEXT[row.type],
            "return_logistics_text": "",
            "aftersale_refund_type_text": "原路退回",
            "reason_text": reason[1],
            "bad_item_text": "",
            "arbitrate_status_text": "",
        },
        "seller_logs": [],
        "order_info": {
            "shop_order_id": str(shop.order_id(idx)),
            "related_order_info": [{
                "sku_order_id": str(sub_ids[0]),
                "order_status": order.status,
                "pay_amount": item.pay_amount,
                "post_amount": shop.post_amount(idx),
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
                "aftersale_post_amount": refund_post,
                "price": item.price,
            }],
        },
    }  # fmt: skip


def product_dict(shop: Shop, product: Product) -> dict[str, Any]:
    """A product.listV2 element."""
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
        "cos_ratio": product.cos_ratio,
        "market_price": max(shop.skus[s].price for s in product.sku_indexes) * 2,
        "discount_price": min(shop.skus[s].price for s in product.sku_indexes),
        "category_detail": {
            "first_cid": cat.cids[0], "second_cid": cat.cids[1], "third_cid": cat.cids[2],
            "fourth_cid": 0, "first_cname": cat.cnames[0], "second_cname": cat.cnames[1],
            "third_cname": cat.cnames[2], "fourth_cname": "",
        },
    }  # fmt: skip


def product_detail_dict(shop: Shop, product: Product) -> dict[str, Any]:
    """product.detail data: string times and ``spec_prices``."""
    base = product_dict(shop, product)
    specs: dict[str, list[dict[str, Any]]] = {}
    spec_prices = []
    for s in product.sku_indexes:
        sku = shop.skus[s]
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


def sku_dict(shop: Shop, sku: Sku) -> dict[str, Any]:
    """A sku.list element."""
    product = shop.products[sku.product_index]
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
        **_stock_counts(sku),
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


def sku_stock_dict(sku: Sku) -> dict[str, Any]:
    """sku.stockNum data."""
    return {
        "sku_id": sku.sku_id,
        "out_sku_id": sku.out_sku_id,
        "code": sku.code,
        "sku_type": 0,
        **_stock_counts(sku),
        "stock_num_map": {},
        "prehold_stock_map": {},
        "ship_rule_map": {},
        "normal_stock_num": sku.stock_num,
        "channel_stock_num": 0,
    }


def _stock_counts(sku: Sku) -> dict[str, int]:
    """The stock counters sku.list and sku.stockNum share; only ``stock_num`` is ever set."""
    return {
        "stock_num": sku.stock_num,
        "prehold_stock_num": 0,
        "prom_stock_num": 0,
        "step_stock_num": 0,
        "prehold_step_stock_num": 0,
        "prom_step_stock_num": 0,
    }


def settlement_rows(shop: Shop, settle_time: int, idx: int, kind: int) -> list[dict[str, Any]]:
    """Rows of one settlement request: one per sku-order, or one refund row.

    Every order pays the 5% platform service fee; only 精选联盟 (alliance) orders also pay the
    达人's commission (the product's ``cos_ratio``) and, through a 团长, the colonel service fee.
    """
    order = shop.orders.row(idx)
    items = shop.items(idx)
    sub_ids = shop.sku_order_ids(idx, len(items))
    source = shop.attribution(idx)
    aftersale = shop.after_sales.row(order.as_idx) if order.as_idx >= 0 else None
    common = {
        "settle_time": fmt_time(settle_time),
        "request_no": str(REQUEST_NO_BASE + shop.shop_no * ORDER_SHOP_SPAN + idx * 2 + kind),
        "shop_order_id": str(shop.order_id(idx)),
        "order_time": fmt_time(order.create),
        "pay_type_desc": "聚合账户",
        "flow_type_desc": C_BIZ_DESC[source.c_biz],
        "order_type": "普通订单",
        "platform_coupon": 0, "zt_pay_promotion": 0, "zr_pay_promotion": 0,
        "good_learn_channel_fee": 0, "channel_promotion_fee": 0,
        "other_sharing_amount": 0, "packing_amount": 0,
    }  # fmt: skip
    if kind == SETTLE_REFUND:
        refund = sum(_refund_amounts(shop, idx, aftersale.type)) if aftersale else 0
        item = items[0]
        return [{
            **common, "order_id": str(sub_ids[0]), "product_id": _product_id_str(shop, item),
            "goods_count": item.num, "trade_type": 1, "is_contains_refund_before_settle": 0,
            "settle_amount": -refund, "total_amount": 0, "total_goods_amount": 0, "post_amount": 0,
            "shop_coupon": 0, "author_coupon": 0, "refund_before_settle": 0, "real_pay_amount": 0,
            "total_income": -refund, "platform_service_fee": 0, "commission": 0, "colonel_service_fee": 0,
            "total_outcome": 0, "remark": "结算后退款",
        }]  # fmt: skip
    refunded_before = (
        aftersale is not None and aftersale.status == AS_SUCCESS and aftersale.done < settle_time
    )
    rows = []
    for j, item in enumerate(items):
        post = shop.post_amount(idx) if j == 0 else 0
        total = item.pay_amount + post
        before = sum(_refund_amounts(shop, idx, aftersale.type)) if refunded_before and j == 0 else 0
        income = total - before
        fee = (income * 5 + 50) // 100
        rate = shop.products[shop.skus[item.sku_index].product_index].cos_ratio if source.is_alliance else 0
        commission = (income * rate + 50) // 100
        colonel = (income * source.colonel_rate + 50) // 100
        rows.append({
            **common, "order_id": str(sub_ids[j]), "product_id": _product_id_str(shop, item),
            "goods_count": item.num, "trade_type": 0, "is_contains_refund_before_settle": int(before > 0),
            "settle_amount": income - fee - commission - colonel, "total_amount": total,
            "total_goods_amount": item.sum_amount, "post_amount": post, "shop_coupon": item.promo,
            "author_coupon": 0, "refund_before_settle": before, "real_pay_amount": total,
            "total_income": income, "platform_service_fee": fee, "commission": commission,
            "colonel_service_fee": colonel, "total_outcome": fee + commission + colonel, "remark": "",
        })  # fmt: skip
    return rows


FLOW_ZERO_FIELDS = (
    "post_promotion_amount", "author_coupon_subsidy", "actual_zt_pay_promotion", "actual_zr_pay_promotion",
    "bank_pay_promotion_amount", "gov_promotion_amount", "other_platform_promotion_amount",
    "recycler_amount", "partner_commission", "channel_fee", "channel_promotion_fee",
    "other_sharing_amount", "real_free_commission_amount",
)  # fmt: skip
"""Fund-flow amounts the sandbox never moves, sent as 0 like the API does."""


def flow_rows(shop: Shop, bill_time: int, idx: int, kind: int) -> list[dict[str, Any]]:
    """The fund-flow (getShopAccountItem) row of one account event.

    A settlement debits the fees of its settlement rows, each in its own field: the platform
    service fee, the 达人 commission and the colonel service fee.
    """
    order = shop.orders.row(idx)
    items = shop.items(idx)
    item = items[0]
    sub_ids = shop.sku_order_ids(idx, len(items))
    source = shop.attribution(idx)
    refund = 0
    as_no = ""
    fees = {"platform_service_fee": 0, "commission": 0, "colonel_service_fee": 0}
    if kind == FLOW_PAY:
        amount, flow, tag, desc = order_pay(items, shop.post_amount(idx)), 0, 0, "订单支付"
    elif kind == FLOW_REFUND:
        aftersale = shop.after_sales.row(order.as_idx)
        refund = sum(_refund_amounts(shop, idx, aftersale.type))
        amount, flow, tag, desc, as_no = refund, 1, 19, "已退款", shop.aftersale_id(order.as_idx)
    else:
        for row in settlement_rows(shop, bill_time, idx, SETTLE_NORMAL):
            for name in fees:
                fees[name] += row[name]
        amount, flow, tag = sum(fees.values()), 1, 3
        desc = "订单结算扣除平台服务费及佣金" if source.is_alliance else "订单结算扣除平台服务费"
    return [
        {
            "bill_time": fmt_time(bill_time),
            "fund_flow": flow,
            "fund_flow_desc": "出账" if flow else "入账",
            "account_amount": amount,
            "account_bill_desc": desc,
            "account_bill_desc_tag": tag,
            "biz_type": 2 if source.is_alliance else 4,
            "biz_type_desc": C_BIZ_DESC[source.c_biz],
            "order_id": str(sub_ids[0]),
            "shop_order_id": str(shop.order_id(idx)),
            "after_sale_service_no": as_no,
            "business_order_create_time": fmt_time(order.create),
            "product_id": _product_id_str(shop, item),
            "product_name": shop.products[shop.skus[item.sku_index].product_index].name,
            "author_id": str(source.author_id) if source.author_id else "",
            "author_name": source.author_name,
            "pay_amount": order_pay(items, shop.post_amount(idx)),
            "promotion_amount": sum(i.promo for i in items),
            "refund_amount": refund,
            **fees,
            **dict.fromkeys(FLOW_ZERO_FIELDS, 0),
            "post_amount": shop.post_amount(idx),
            "account_trade_no": str(TRADE_NO_BASE + shop.shop_no * ORDER_SHOP_SPAN + idx * 4 + kind),
            "account_type": 4,
            "account_type_desc": "聚合账户",
            "order_type": 0,
            "order_type_desc": "普通订单",
            "trans_scene": "",
            "trans_scene_tag": 0,
            "free_commission_flag": "0",
            "remark": "",
            "shop_id": str(shop.shop_id),
        }
    ]


def _product_id_str(shop: Shop, item: Item) -> str:
    return str(shop.products[shop.skus[item.sku_index].product_index].product_id)


def truth(shop: Shop, table: str, now: float, settle_delay: float) -> Iterator[dict[str, Any]]:
    """Latest version of every record of ``table`` of ``shop`` (see the control API)."""
    if table == "orders":
        yield from (order_dict(shop, idx, row) for idx, row in shop.orders.rows())
    elif table == "after_sales":
        yield from (aftersale_dict(shop, as_idx, row) for as_idx, row in shop.after_sales.rows())
    elif table == "products":
        yield from (product_dict(shop, p) for p in shop.products)
    elif table == "skus":
        yield from (sku_dict(shop, s) for s in shop.skus)
    elif table == "settlements":
        for event in shop.settlements.between(TIME_BASE, settle_cutoff(now, settle_delay)):
            yield from settlement_rows(shop, *event)
    elif table == "account_flows":
        for event in shop.flows.between(TIME_BASE, int(now) + 1):
            yield from flow_rows(shop, *event)
    else:
        raise KeyError(table)


def order_pay(items: list[Item], post: int) -> int:
    return sum(i.pay_amount for i in items) + post


def _image(product_id: int) -> str:
    return f"https://p3-aio.ecombdimg.com/obj/ecom-shop-material/sandbox_{product_id}.jpeg"
