"""The streams of both platforms, declared as data.

Each stream names its endpoint, its pager (the paging style, from ``pagers``), time-window
parameters, cursor field, the finance inner-code check where its replies carry one, and the
tables it lands (a root table plus child tables flattened from nested lists or fanned-out
per-record calls). The reader and the landing targets are generic over these declarations;
adding a stream means adding an entry here.

Column paths are dotted paths into the API record. A path starting with ``^`` reads the
parent record (e.g. an order item's version is its order's ``update_time``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from airflow_provider_douyin.client.errors import check_inner_code
from airflow_provider_douyin.client.open_platform import (
    FANS_DATA,
    ITEM_DATA,
    LIFE_AFTER_SALE_QUERY,
    LIFE_ORDER_QUERY,
    LIFE_PRODUCT_ONLINE_QUERY,
    LIFE_VERIFY_RECORD_QUERY,
    ROOM_AUDIENCE,
    ROOM_BASE,
    ROOM_IDS,
    ROOM_INTERACTIVE,
    USER_DATA,
    VIDEO_LIST,
)

# Imported after the shared names above: open_data's pagers refer back to this module only for typing.
from airflow_provider_douyin.streams.open_data import (
    ACCOUNT_DAILY_TABLE,
    FANS_PROFILE_TABLE,
    LIVE_ROOM_STATS_TABLE,
    VIDEO_DAILY_TABLE,
    VIDEOS_TABLE,
    AccountDailyPager,
    FansProfilePager,
    LiveRoomPager,
    VideoDailyPager,
)
from airflow_provider_douyin.streams.pagers import (
    DoudianKeysetPager,
    FinanceCursorPager,
    OpenCursorPager,
    Pager,
    ProductCursorPager,
    Tiebreak,
)
from airflow_provider_douyin.streams.schema import Column, Table

VIDEO_LIST_PAGER = OpenCursorPager(records="list", page_size=20, size_param="count", first_cursor="0")
"""The video list: newest first, ``cursor`` (a millisecond time) until ``has_more`` is false."""

TimeFormat = Literal["epoch", "shanghai_datetime"]
Platform = Literal["doudian", "douyin_open"]
"""Which gateway serves a stream: the shop gateway (``douyin_shop`` connections) or open.douyin.com
(``douyin_open`` connections)."""
InnerCodeCheck = Callable[..., Any]
"""``check(data, method, log_id=...)`` raises when a success envelope's inner status is a failure."""


@dataclass(frozen=True)
class Publication:
    """When an API's rows of a day are final, so a read never moves past rows still to appear.

    Rows of day D (Asia/Shanghai calendar; UTC+8, no DST) are complete at D 00:00 + ``ready_after``.
    """

    ready_after: timedelta


@dataclass(frozen=True)
class TimeWindow:
    start_param: str
    end_param: str
    format: TimeFormat = "epoch"
    max_span: timedelta | None = None
    """Longest window one request may ask for (finance APIs: 7 days)."""
    max_age: timedelta | None = None
    """How far back the API can search (orders: 90 days)."""
    publication: Publication | None = None
    """``None``: a change is searchable within seconds (the operator's ``safety_lag`` covers that)."""


@dataclass(frozen=True)
class TableBinding:
    table: Table
    records: str | None = None
    """Path of a nested list inside each stream record; ``None`` means the record itself."""
    fan_out_method: str | None = None
    """A per-record call whose ``data`` list holds the child rows (``sku.list`` per product)."""
    fan_out_param: str | None = None
    fan_out_key: str | None = None


@dataclass(frozen=True)
class Stream:
    name: str
    method: str
    pager: Pager
    """How requests are continued and replies checked; a new paging style is a new ``Pager``."""
    tables: tuple[TableBinding, ...]
    cursor_field: str | None = None
    """Path of the second-granular time the API filters and sorts by."""
    window: TimeWindow | None = None
    """``None``: the stream is a full snapshot and ignores sync windows."""
    static_params: dict = field(default_factory=dict)
    inner_code: InnerCodeCheck | None = None
    """Checks every reply of ``method`` for a status nested in a success envelope: the finance APIs
    answer ``data.code`` "100000" on success. Every reader of the stream applies it."""
    platform: Platform = "doudian"
    account_param: str | None = None
    """A request parameter the connection fills in (the 来客 ``account_id``), not the stream."""

    @property
    def root(self) -> Table:
        return self.tables[0].table


def _int(*names: str, prefix: str = "") -> tuple[Column, ...]:
    return tuple(Column(n, "int", f"{prefix}{n}" if prefix else None) for n in names)


def _str(*names: str, prefix: str = "") -> tuple[Column, ...]:
    return tuple(Column(n, "str", f"{prefix}{n}" if prefix else None) for n in names)


ORDERS_TABLE = Table(
    name="orders",
    columns=(
        Column("order_id", "str"),
        *_int("shop_id", "order_status"),
        Column("order_status_desc", "str"),
        Column("main_status", "int"),
        Column("main_status_desc", "str"),
        *_int("order_level", "create_time", "update_time", "pay_time", "finish_time", "ship_time"),
        *_int("order_amount", "pay_amount", "post_amount", "promotion_amount", "b_type", "pay_type"),
        *_str("shop_name", "buyer_words", "seller_words", "doudian_open_id"),
        Column("post_addr", "json"),
        Column("logistics_info", "json"),
        *_int("sub_b_type", "biz", "order_type", "trade_type", "exp_ship_time", "order_expire_time"),
        *_str("cancel_reason", "channel_payment_no"),
        # The promotion/cost split (fen): promotion_amount = shop + platform + talent promotions;
        # platform_cost_amount = only_platform_cost_amount + author_cost_amount.
        *_int("promotion_shop_amount", "promotion_platform_amount", "promotion_talent_amount"),
        *_int("promotion_pay_amount", "total_promotion_amount", "shop_cost_amount", "platform_cost_amount"),
        *_int("author_cost_amount", "only_platform_cost_amount", "post_insurance_amount"),
        *_int("modify_amount", "modify_post_amount", "packing_amount", "tax_amount"),
        *_int("post_origin_amount", "post_promotion_amount", "seller_remark_stars"),
    ),
    primary_key=("order_id",),
    version_column="update_time",
    description="One row per shop (parent) order, latest version.",
    child_lists=("sku_order_list",),
)

ORDER_ITEMS_TABLE = Table(
    name="order_items",
    columns=(
        *_str("order_id", "parent_order_id"),
        Column("product_id", "int"),
        Column("product_id_str", "str"),
        Column("sku_id", "int"),
        *_str("out_sku_id", "code", "product_name"),
        Column("spec", "json"),
        *_int("item_num", "origin_amount", "sum_amount", "pay_amount", "order_status"),
        Column("after_sale_info", "json"),
        *_int("create_time", "update_time"),
        Column("order_update_time", "int", "^update_time"),
        # Attribution: the live room (直播间), the author (达人) and the traffic source of the sku order.
        # room_id is read from its exact twin room_id_str when that is set ("" or "0": no room);
        # c_biz 2 = 精选联盟 (alliance), 8 = 小店自卖.
        Column("room_id", "int", exact_twin="room_id_str"),
        Column("room_id_str", "str"),
        Column("author_id", "int"),
        Column("author_name", "str"),
        Column("c_biz", "int"),
        *_str("c_biz_desc", "video_id", "content_id", "origin_id", "ad_env_type", "theme_type"),
        Column("theme_type_desc", "str"),
        *_int("cid", "page_id"),
        *_int("first_cid", "second_cid", "third_cid", "fourth_cid"),
        *_int("order_level", "order_type", "trade_type", "biz", "b_type", "sub_b_type", "pay_type"),
        *_int("main_status", "pay_time", "finish_time", "goods_type"),
        Column("order_status_desc", "str"),
        # The promotion/cost split (fen), as on the shop order.
        *_int("order_amount", "post_amount", "promotion_amount", "promotion_shop_amount"),
        *_int("promotion_platform_amount", "promotion_talent_amount", "promotion_pay_amount"),
        *_int("promotion_redpack_amount", "promotion_redpack_platform_amount"),
        *_int("promotion_redpack_talent_amount", "shop_cost_amount", "platform_cost_amount"),
        *_int("author_cost_amount", "only_platform_cost_amount", "post_insurance_amount"),
        *_int("modify_amount", "modify_post_amount", "tax_amount"),
    ),
    primary_key=("order_id",),
    version_column="order_update_time",
    description="One row per sku (sub) order, versioned by its parent order's update_time.",
)

PRODUCTS_TABLE = Table(
    name="products",
    columns=(
        Column("product_id", "int"),
        *_str("product_id_str", "name", "img"),
        *_int("status", "check_status", "product_type", "create_time", "update_time"),
        Column("outer_product_id", "str"),
        Column("category_detail", "json"),
        Column("sell_num", "int"),
        *_int("first_cid", "second_cid", "third_cid", "fourth_cid", prefix="category_detail."),
        # cos_ratio: the 精选联盟 commission percent (deprecated by Doudian, still sent).
        *_int("cos_ratio", "spec_id", "out_product_id", "market_price", "discount_price"),
        Column("is_package_product", "bool"),
    ),
    primary_key=("product_id",),
    version_column="update_time",
)

SKUS_TABLE = Table(
    name="skus",
    columns=(
        *_int("id", "product_id"),
        *_str("product_id_str", "out_sku_id", "code"),
        *_int("price", "stock_num", "prehold_stock_num", "prom_stock_num", "sku_type"),
        *_int("spec_detail_id1", "spec_detail_id2", "spec_detail_id3"),
        *_str("spec_detail_name1", "spec_detail_name2", "spec_detail_name3"),
        Column("create_time", "int"),
        Column("product_update_time", "int", "^update_time"),
    ),
    primary_key=("id",),
    version_column="product_update_time",
    description="SKU snapshot with stock; stock moves without a product update, so equal versions overwrite.",
)

AFTER_SALES_TABLE = Table(
    name="after_sales",
    columns=(
        Column("aftersale_id", "str", "aftersale_info.aftersale_id"),
        *_int(
            "aftersale_type",
            "aftersale_status",
            "refund_status",
            "refund_amount",
            "refund_post_amount",
            "aftersale_num",
            "apply_time",
            "update_time",
            "create_time",
            "status_deadline",
            prefix="aftersale_info.",
        ),
        Column("related_id", "str", "aftersale_info.related_id"),
        Column("shop_order_id", "str", "order_info.shop_order_id"),
        Column("related_order_info", "json", "order_info.related_order_info"),
        # refund_type 1 = 极速退款助手; aftersale_refund_type 0 = 原路退款; got_pkg 1 = buyer has the goods.
        *_int(
            "aftersale_order_type",
            "aftersale_status_to_final_time",
            "refund_type",
            "aftersale_refund_type",
            "part_type",
            "arbitrate_status",
            "got_pkg",
            "refund_tax_amount",
            "return_promotion_amount",
            prefix="aftersale_info.",
        ),
        Column("return_logistics_code", "str", "aftersale_info.return_logistics_code"),
        Column("reason_second_labels", "json", "aftersale_info.reason_second_labels"),
        *_str("reason_text", "aftersale_type_text", "aftersale_status_text", prefix="text_part."),
        Column("aftersale_refund_type_text", "str", "text_part.aftersale_refund_type_text"),
    ),
    primary_key=("aftersale_id",),
    version_column="update_time",
)

SETTLEMENTS_TABLE = Table(
    name="settlements",
    columns=(
        *_str("request_no", "order_id", "settle_time", "shop_order_id", "order_time", "product_id"),
        Column("goods_count", "int"),
        *_str("pay_type_desc", "trade_type", "flow_type_desc", "order_type", "remark"),
        *_int(
            "settle_amount",
            "total_amount",
            "total_goods_amount",
            "post_amount",
            "shop_coupon",
            "refund_before_settle",
            "platform_coupon",
            "author_coupon",
            "real_pay_amount",
            "total_income",
            "platform_service_fee",
            "commission",
            "total_outcome",
        ),
        *_int("is_contains_refund_before_settle", "zt_pay_promotion", "zr_pay_promotion"),
        # Fees beside platform_service_fee and commission (fen): 渠道分成, 团长/招商服务费,
        # 直播间站外推广, 其他分成; then the packing fee.
        *_int("good_learn_channel_fee", "colonel_service_fee", "channel_promotion_fee"),
        *_int("other_sharing_amount", "packing_amount"),
    ),
    # One settlement request (request_no) covers every sku order of a shop order, and a
    # refund after settlement is a new request: neither column alone is unique.
    primary_key=("request_no", "order_id"),
    version_column="settle_time",
)

ACCOUNT_FLOWS_TABLE = Table(
    name="account_flows",
    columns=(
        Column("account_trade_no", "str"),
        Column("bill_time", "str"),
        *_int("fund_flow", "account_amount"),
        *_str("account_bill_desc_tag", "order_id", "shop_order_id", "after_sale_service_no"),
        Column("biz_type", "int"),
        *_str("fund_flow_desc", "account_bill_desc", "biz_type_desc", "business_order_create_time"),
        *_str("product_id", "product_name", "shop_id", "author_id", "author_name", "remark"),
        *_int("account_type", "order_type", "trans_scene_tag"),
        *_str("account_type_desc", "order_type_desc", "trans_scene", "free_commission_flag"),
        # Amounts (fen): what the order paid, the subsidies, the refund, and every fee taken.
        *_int("pay_amount", "post_amount", "promotion_amount", "post_promotion_amount", "refund_amount"),
        *_int("author_coupon_subsidy", "actual_zt_pay_promotion", "actual_zr_pay_promotion"),
        *_int("bank_pay_promotion_amount", "gov_promotion_amount", "other_platform_promotion_amount"),
        *_int("recycler_amount", "platform_service_fee", "commission", "partner_commission"),
        *_int("channel_fee", "colonel_service_fee", "channel_promotion_fee", "other_sharing_amount"),
        Column("real_free_commission_amount", "int"),
    ),
    primary_key=("account_trade_no",),
    version_column="bill_time",
)

LIFE_ORDERS_TABLE = Table(
    name="life_orders",
    columns=(
        Column("order_id", "str"),
        Column("account_id", "str"),
        *_int("order_status", "order_type", "count"),
        *_str("poi_id", "open_id", "sku_id", "product_id", "sku_name", "remark"),
        *_int("original_amount", "discount_amount", "pay_amount"),
        *_int("create_order_time", "update_order_time", "pay_time"),
        Column("contacts", "json"),
    ),
    primary_key=("order_id",),
    version_column="update_order_time",
    description="One row per 抖音来客 order, latest version; amounts in fen.",
    child_lists=("certificate",),
)

LIFE_CERTIFICATES_TABLE = Table(
    name="life_certificates",
    columns=(
        Column("order_item_id", "str"),
        Column("order_id", "str", "^order_id"),
        Column("certificate_id", "str"),
        *_int("item_status", "item_update_time", "pay_amount", "verify_time", "refund_amount", "refund_time"),
        Column("order_update_time", "int", "^update_order_time"),
    ),
    primary_key=("order_item_id",),
    version_column="order_update_time",
    description="One row per voucher (order item) of a 抖音来客 order, versioned by its order.",
)

LIFE_PRODUCTS_TABLE = Table(
    name="life_products",
    columns=(
        Column("product_id", "str", "product.product_id"),
        *_str("product_name", "out_id", "category_full_name", "account_name", prefix="product."),
        *_int("category_id", "product_type", "create_time", "update_time", prefix="product."),
        *_int("sold_start_time", "sold_end_time", prefix="product."),
        Column("pois", "json", "product.pois"),
        Column("sku_id", "str", "sku.sku_id"),
        *_int("actual_amount", "origin_amount", prefix="sku."),
        Column("stock", "json", "sku.stock"),
        Column("online_status", "int"),
        Column("commission_info", "json"),
    ),
    primary_key=("product_id",),
    version_column="update_time",
    description="Online 抖音来客 deals (snapshot); the online query serves at most 10,000 per read.",
)

LIFE_VERIFY_RECORDS_TABLE = Table(
    name="life_verify_records",
    columns=(
        *_str("verify_id", "certificate_id", "order_id", "order_item_id", "account_id", "poi_id"),
        *_int("verify_time", "verify_type", "status"),
        *_str("sku_id", "product_id", "sku_name"),
        *_int("original_amount", "pay_amount"),
    ),
    primary_key=("verify_id",),
    version_column="verify_time",
    description="One row per voucher verification (核销) at a store.",
)

LIFE_REFUNDS_TABLE = Table(
    name="life_refunds",
    columns=(
        *_str("after_sale_id", "order_id", "order_item_id", "certificate_id", "account_id"),
        *_int("refund_status", "refund_amount", "apply_time", "refund_done_time", "update_time"),
        *_str("reason", "city"),
    ),
    primary_key=("after_sale_id",),
    version_column="update_time",
    description="One row per completed 抖音来客 refund (after-sale order).",
)

# Settlement bills are generated T+1: day D's rows are complete after 15:00 on D+1 (Asia/Shanghai).
# Fund flows follow the settlements that post them, so they get the same horizon.
T_PLUS_1_AT_15 = Publication(ready_after=timedelta(days=1, hours=15))
_FINANCE_WINDOW = TimeWindow(
    "start_time",
    "end_time",
    format="shanghai_datetime",
    max_span=timedelta(days=7),
    publication=T_PLUS_1_AT_15,
)

STREAMS: dict[str, Stream] = {
    s.name: s
    for s in (
        Stream(
            name="orders",
            method="order.searchList",
            pager=DoudianKeysetPager(
                records="shop_order_list",
                max_results=50_000,
                tiebreak=Tiebreak("create_time_start", "create_time_end", "create_time", timedelta(days=90)),
            ),
            tables=(TableBinding(ORDERS_TABLE), TableBinding(ORDER_ITEMS_TABLE, records="sku_order_list")),
            cursor_field="update_time",
            # order.searchList is searchable near real time: no publication horizon, only the safety lag.
            window=TimeWindow("update_time_start", "update_time_end", max_age=timedelta(days=90)),
            static_params={"order_by": "update_time", "order_asc": True},
        ),
        Stream(
            name="products",
            method="product.listV2",
            pager=ProductCursorPager(records="data", page_size=100, first_page=1),
            # A snapshot of the current catalogue: no window, no watermark, no horizon.
            tables=(
                TableBinding(PRODUCTS_TABLE),
                TableBinding(
                    SKUS_TABLE,
                    fan_out_method="sku.list",
                    fan_out_param="product_id",
                    fan_out_key="product_id",
                ),
            ),
        ),
        Stream(
            name="after_sales",
            method="afterSale.List",
            pager=DoudianKeysetPager(
                records="items",
                max_results=50_000,
                tiebreak=Tiebreak("start_time", "end_time", "aftersale_info.apply_time", timedelta(days=180)),
            ),
            tables=(TableBinding(AFTER_SALES_TABLE),),
            cursor_field="aftersale_info.update_time",
            # afterSale.List by update time is near real time too (with order_by update_time asc).
            window=TimeWindow("update_start_time", "update_end_time"),
            static_params={"order_by": ["update_time asc"]},
        ),
        Stream(
            name="settlements",
            method="order.getSettleBillDetailV3",
            pager=FinanceCursorPager(records="data", page_size=100),
            tables=(TableBinding(SETTLEMENTS_TABLE),),
            cursor_field="settle_time",
            window=_FINANCE_WINDOW,
            static_params={"time_type": 0},
            inner_code=check_inner_code,
        ),
        Stream(
            name="account_flows",
            method="order.getShopAccountItem",
            pager=FinanceCursorPager(records="data", page_size=1000),
            tables=(TableBinding(ACCOUNT_FLOWS_TABLE),),
            cursor_field="bill_time",
            window=_FINANCE_WINDOW,
            static_params={"time_type": 0},
            inner_code=check_inner_code,
        ),
        Stream(
            name="life_orders",
            method=LIFE_ORDER_QUERY,
            platform="douyin_open",
            pager=OpenCursorPager(
                records="orders", page_size=100, next_cursor="search_after.CursorValue", total="page.total"
            ),
            tables=(
                TableBinding(LIFE_ORDERS_TABLE),
                TableBinding(LIFE_CERTIFICATES_TABLE, records="certificate"),
            ),
            cursor_field="update_order_time",
            window=TimeWindow("update_order_start_time", "update_order_end_time"),
            account_param="account_id",
        ),
        Stream(
            name="life_products",
            method=LIFE_PRODUCT_ONLINE_QUERY,
            platform="douyin_open",
            # A snapshot of what is online now; count is at most 50 per request.
            pager=OpenCursorPager(
                records="products", page_size=50, size_param="count", next_cursor="next_cursor"
            ),
            tables=(TableBinding(LIFE_PRODUCTS_TABLE),),
            account_param="account_id",
        ),
        Stream(
            name="life_verify_records",
            method=LIFE_VERIFY_RECORD_QUERY,
            platform="douyin_open",
            pager=OpenCursorPager(records="records", page_size=100, size_param="size"),
            tables=(TableBinding(LIFE_VERIFY_RECORDS_TABLE),),
            cursor_field="verify_time",
            window=TimeWindow("start_time", "end_time"),
            account_param="account_id",
        ),
        Stream(
            name="life_refunds",
            method=LIFE_AFTER_SALE_QUERY,
            platform="douyin_open",
            pager=OpenCursorPager(records="after_sale_orders", page_size=100),
            tables=(TableBinding(LIFE_REFUNDS_TABLE),),
            cursor_field="refund_done_time",
            window=TimeWindow("refund_done_start_time", "refund_done_end_time"),
            account_param="account_id",
        ),
    )
}


# A Douyin account's own data (user token, the connection's open_id): live-room viewer figures, videos,
# daily video and account series, and the fan profile. Each pager reads and pivots several series.
LIVE_ROOM_DAY = TimeWindow("start_time", "end_time", max_span=timedelta(days=1))
"""Rooms by start time, one request per day of the window."""
STREAMS.update(
    (s.name, s)
    for s in (
        Stream(
            name="live_room_stats",
            method=ROOM_IDS,
            platform="douyin_open",
            pager=LiveRoomPager(
                metric_methods=(
                    ("base", ROOM_BASE),
                    ("audience", ROOM_AUDIENCE),
                    ("interactive", ROOM_INTERACTIVE),
                )
            ),
            tables=(TableBinding(LIVE_ROOM_STATS_TABLE),),
            cursor_field="live_start_ts",
            window=LIVE_ROOM_DAY,
            account_param="open_id",
        ),
        Stream(
            name="videos",
            method=VIDEO_LIST,
            platform="douyin_open",
            pager=VIDEO_LIST_PAGER,
            tables=(TableBinding(VIDEOS_TABLE),),
            account_param="open_id",
        ),
        Stream(
            name="video_daily",
            method=VIDEO_LIST,
            platform="douyin_open",
            pager=VideoDailyPager(videos=VIDEO_LIST_PAGER, item_methods=tuple(ITEM_DATA.items())),
            tables=(TableBinding(VIDEO_DAILY_TABLE),),
            account_param="open_id",
        ),
        Stream(
            name="account_daily",
            method=USER_DATA["fans"],
            platform="douyin_open",
            pager=AccountDailyPager(
                series_methods=(
                    ("fans", USER_DATA["fans"]),
                    *((k, v) for k, v in USER_DATA.items() if k != "fans"),
                )
            ),
            tables=(TableBinding(ACCOUNT_DAILY_TABLE),),
            account_param="open_id",
        ),
        Stream(
            name="fans_profile",
            method=FANS_DATA,
            platform="douyin_open",
            pager=FansProfilePager(),
            tables=(TableBinding(FANS_PROFILE_TABLE),),
            account_param="open_id",
        ),
    )
)


def get_stream(name: str) -> Stream:
    try:
        return STREAMS[name]
    except KeyError:
        raise ValueError(f"Unknown Douyin stream {name!r}; choose one of {sorted(STREAMS)}") from None
