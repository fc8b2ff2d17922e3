"""Business handlers of the emulated gateway methods (token, order, product, after-sale, finance).

Each data handler receives a ``ShopRequest`` (the shop behind the access token, the
business clock's ``now``, the live faults and the drift fault) and the parsed param_json,
and returns the ``data`` member of the envelope, or raises ``ApiError`` with the documented
code. Token handlers receive a ``TokenRequest`` instead. Sub-codes Doudian's documentation does not
fix are chosen here and listed in README_SECTION.md.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from .config import FaultConfig
from .constants import DAY, fmt_time, parse_time
from .drift import PageDrift
from .errors import ApiError, invalid, missing
from .shop_data import Shop, settle_cutoff
from .shop_records import (
    aftersale_dict,
    flow_rows,
    order_dict,
    product_detail_dict,
    product_dict,
    settlement_rows,
    sku_dict,
    sku_stock_dict,
)
from .store import TIME_BASE, EventLog, Selection, Table, cursor_page
from .tokens import TokenStore


@dataclass(frozen=True)
class ShopRequest:
    """What a data handler may use: one shop, business time and the fault knobs."""

    shop: Shop
    now: float
    """Business time (the server's movable clock), not wall time."""
    faults: FaultConfig
    drift: PageDrift
    other_shops: Sequence[Shop]
    """The server's other shops, to tell "not yours" (20015) from "does not exist"."""


@dataclass(frozen=True)
class TokenRequest:
    """What a token handler may use: the token store, the shops and wall time."""

    tokens: TokenStore
    shops: Mapping[int, Shop]
    """Shops by id, in server order (the first is the ``test_shop``)."""
    app_key: str
    now: float
    wall_clock: Callable[[], float]


FAR_FUTURE = 1 << 40
ORDER_WINDOW = 90 * DAY


def _opt_int(params: dict[str, Any], name: str) -> int | None:
    """Read an int that may arrive as a JSON number or a numeric string (old v1 clients)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid("", f"{name}格式错误")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise invalid("", f"{name}格式错误")


def _int(params: dict[str, Any], name: str, default: int) -> int:
    value = _opt_int(params, name)
    return default if value is None else value


def _int_set(values: Any, name: str) -> frozenset[int]:
    try:
        return frozenset(int(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise invalid("", f"{name}格式错误") from exc


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    return value is True or value in (1, "1", "true", "True")


def _id_str(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    return "" if value is None or isinstance(value, bool) else str(value).strip()


def _required_id(params: dict[str, Any], name: str, sub_code: str) -> str:
    if value := _id_str(params, name):
        return value
    raise missing(sub_code, f"{name}不能为空")


def _range(params: dict[str, Any], start: str, end: str) -> tuple[int, int] | None:
    lo, hi = _opt_int(params, start), _opt_int(params, end)
    if lo is None and hi is None:
        return None
    return (lo if lo is not None else 0, hi if hi is not None else FAR_FUTURE)


def _search_page(
    request: ShopRequest,
    table: Table,
    touch: Callable[[int, int, float], None],
    search: Callable[[], Selection],
    page: int,
    size: int,
) -> tuple[int, list[tuple[int, Any]]]:
    """The total and one page of ``search``, searched again when the page_drift fault touched
    records of the window first (``touch(idx, now, lag)`` stamps one record updated now)."""
    now = request.now
    selection = search()
    lag = request.faults.visibility_lag_s
    if request.drift(selection, lambda i: touch(i, int(now), lag)):
        selection = search()
    return len(selection), [
        (i, table.visible_row(i, now)) for i in selection.slice(page * size, (page + 1) * size)
    ]


# --------------------------------------------------------------------------- orders
def order_search_list(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop, now = request.shop, request.now
    page, size = _opt_int(params, "page"), _opt_int(params, "size")
    if page is None or size is None:
        raise missing("20000", "page和size为必填参数")
    if page < 0:
        raise invalid("10035", "page不能小于0")
    if size < 1 or size > 100:
        raise invalid("20008", "size不能超过100")
    if page * size > 50_000:
        raise invalid("20013", "订单查询最多支持查询5万条数据，请缩短查询时间范围")
    created = _range(params, "create_time_start", "create_time_end")
    updated = _range(params, "update_time_start", "update_time_end")
    if params.get("create_time_start") in (None, "") and params.get("update_time_start") in (None, ""):
        raise invalid("20011", "create_time_start和update_time_start必须传一个")
    if any(r is not None and r[0] < now - ORDER_WINDOW for r in (created, updated)):
        raise invalid("20022", "仅支持查询最近90天的订单")
    members: dict[str, frozenset[int]] = {}
    combine = params.get("combine_status")
    if combine:
        if not isinstance(combine, list) or not all(isinstance(c, dict) for c in combine):
            raise invalid("", "combine_status格式错误")
        if len(combine) > 1:
            raise invalid("20012", "combine_status只支持传一个元素")
        for key in ("order_status", "main_status"):
            text = str(combine[0].get(key) or "")
            if text:
                members["status"] = _int_set((v for v in text.split(",") if v.strip()), key)
    order_by = params.get("order_by") or "create_time"
    if order_by not in ("create_time", "update_time"):
        raise invalid("", "order_by仅支持create_time或update_time")
    ranges = {k: v for k, v in (("create", created), ("update", updated)) if v is not None}
    order_col = "update" if order_by == "update_time" else "create"
    asc = _bool(params, "order_asc")
    table = shop.orders
    total, rows = _search_page(
        request,
        table,
        shop.touch_order,
        lambda: table.search(now, ranges, members, order_col, asc),
        page,
        size,
    )
    return {
        "page": page,
        "size": size,
        "total": total,
        "shop_order_list": [order_dict(shop, i, row) for i, row in rows],
    }


def order_detail(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop = request.shop
    order_id = _required_id(params, "shop_order_id", "20000")
    idx = shop.order_index(order_id)
    if idx is None:
        if any(other.order_index(order_id) is not None for other in request.other_shops):
            raise ApiError(50002, "isv.business-failed:20015", "订单不属于当前店铺")
        raise invalid("20014", "订单不存在")
    return {"shop_order_detail": order_dict(shop, idx, shop.orders.row(idx))}


# --------------------------------------------------------------------------- products
def _cursor_key(product: Any) -> tuple[int, int]:
    return (product.update_time, product.product_id)


def product_list(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop = request.shop
    use_cursor = _bool(params, "use_cursor")
    page, size = _int(params, "page", 1), _int(params, "size", 10)
    if size < 1 or size > 100:
        raise invalid("2010004", "size取值范围为1-100")
    if not use_cursor:
        if page < 1:
            raise invalid("2010004", "page从1开始")
        if page > 100 or page * size > 10_000:
            raise invalid("2010004", "最多查询10000条数据，请使用游标查询")
    status, check = _opt_int(params, "status"), _opt_int(params, "check_status")
    ptype = _opt_int(params, "product_type")
    created = _range(params, "start_time", "end_time")
    u_lo, u_hi = _opt_int(params, "update_start_time"), _opt_int(params, "update_end_time")
    name = str(params.get("name") or "")
    ids = params.get("product_id")
    wanted = _int_set(ids, "product_id") if isinstance(ids, list) and ids else None
    if wanted is not None and len(wanted) > 100:
        raise invalid("2010004", "product_id最多传100个")
    matches = [
        p for p in shop.products
        if (status is None or p.status == status) and (check is None or p.check_status == check)
        and (ptype is None or ptype == 0) and (created is None or created[0] <= p.create_time < created[1])
        and (u_lo is None or p.update_time > u_lo) and (u_hi is None or p.update_time < u_hi)
        and name in p.name and (wanted is None or p.product_id in wanted)
    ]  # fmt: skip
    matches.sort(key=_cursor_key, reverse=True)
    cursor_id = str(params.get("cursor_id") or "")
    if use_cursor:
        if cursor_id:
            try:
                t, pid = (int(x) for x in base64.urlsafe_b64decode(cursor_id.encode()).decode().split(","))
            except ValueError as exc:
                raise invalid("2010004", "cursor_id无效") from exc
            matches_after = [p for p in matches if _cursor_key(p) < (t, pid)]
        else:
            matches_after = matches
        chunk = matches_after[:size]
        if chunk:
            last = _cursor_key(chunk[-1])
            cursor_id = base64.urlsafe_b64encode(f"{last[0]},{last[1]}".encode()).decode()
    else:
        chunk = matches[(page - 1) * size : page * size]
    return {
        "data": [product_dict(shop, p) for p in chunk],
        "total": len(matches),
        "page": page,
        "size": size,
        "cursor_id": cursor_id,
    }


def _product(shop: Shop, params: dict[str, Any]) -> Any:
    """The product named by ``product_id`` or ``out_product_id``, or sku.list's not-found error."""
    pid, outer = _id_str(params, "product_id"), _id_str(params, "out_product_id")
    if not pid and not outer:
        raise missing("3", "product_id和out_product_id不能同时为空")
    if pid:
        index = shop.product_by_id.get(int(pid)) if pid.isdigit() else None
    else:
        index = next((i for i, p in enumerate(shop.products) if p.outer_product_id == outer), None)
    if index is None:
        raise invalid("4", "商品不存在或不属于当前店铺")
    return shop.products[index]


def product_detail(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    return product_detail_dict(request.shop, _product(request.shop, params))


def sku_list(request: ShopRequest, params: dict[str, Any]) -> list[dict[str, Any]]:
    shop = request.shop
    product = _product(shop, params)
    return [sku_dict(shop, shop.skus[s]) for s in product.sku_indexes]


def sku_stock_num(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop = request.shop
    sku_id, code = _id_str(params, "sku_id"), _id_str(params, "code")
    if not sku_id and not code:
        raise missing("3", "sku_id和code不能同时为空")
    index = shop.sku_by_id.get(int(sku_id)) if sku_id.isdigit() else shop.sku_by_code.get(code)
    if index is None:
        raise invalid("4", "sku不存在或不属于当前店铺")
    return sku_stock_dict(shop.skus[index])


# --------------------------------------------------------------------------- after-sales
AFTERSALE_ORDER_FIELDS = {"apply_time": "apply", "update_time": "update", "status_deadline": "apply"}


def aftersale_list(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop, now = request.shop, request.now
    page, size = _int(params, "page", 0), _int(params, "size", 10)
    if page < 0 or size < 1 or size > 100:
        raise invalid("11000", "page从0开始，size取值范围为1-100")
    if page * size > 50_000:
        raise invalid("11003", "最多查询5万条数据，请缩短查询时间范围")
    order_by = params.get("order_by") or ["apply_time desc"]
    if isinstance(order_by, str):
        order_by = [order_by]
    parts = str(order_by[0]).split()
    if len(parts) != 2 or parts[0] not in AFTERSALE_ORDER_FIELDS or parts[1] not in ("asc", "desc"):
        raise invalid("11000", "order_by格式错误")
    ranges = {
        col: r for col, r in (
            ("apply", _range(params, "start_time", "end_time")),
            ("update", _range(params, "update_start_time", "update_end_time")),
        ) if r is not None
    }  # fmt: skip
    members: dict[str, frozenset[int]] = {}
    if order_id := _id_str(params, "order_id"):
        idx = shop.order_index(order_id)
        members["order_idx"] = frozenset([idx if idx is not None else -1])
    if aftersale_id := _id_str(params, "aftersale_id"):
        as_idx = shop.aftersale_index(aftersale_id)
        members["_idx"] = frozenset([as_idx if as_idx is not None else -1])
    if (kind := _opt_int(params, "aftersale_type")) is not None:
        members["type"] = frozenset([kind])
    statuses = params.get("standard_aftersale_status")
    if statuses:
        members["status"] = _int_set(statuses, "standard_aftersale_status")
    table = shop.after_sales
    order_col, asc = AFTERSALE_ORDER_FIELDS[parts[0]], parts[1] == "asc"
    total, rows = _search_page(
        request,
        table,
        shop.touch_aftersale,
        lambda: table.search(now, ranges, members, order_col, asc),
        page,
        size,
    )
    return {
        "items": [aftersale_dict(shop, i, row) for i, row in rows],
        "has_more": (page + 1) * size < total,
        "total": total,
        "page": page,
        "size": size,
    }


def aftersale_detail(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop = request.shop
    aftersale_id = _required_id(params, "after_sale_id", "11000")
    as_idx = shop.aftersale_index(aftersale_id)
    if as_idx is None:
        raise ApiError(50002, "isv.business-failed:12000", "售后单不存在")
    item = aftersale_dict(shop, as_idx, shop.after_sales.row(as_idx))
    return {"process_info": {"after_sale_info": item["aftersale_info"]}, "order_info": item["order_info"]}


# --------------------------------------------------------------------------- finance
def _finance_page(
    params: dict[str, Any],
    log: EventLog,
    expand: Callable[[int, int, int], list[dict[str, Any]]],
    visible_until: int,
    max_size: int,
    default_size: int | None,
    max_window: int | None,
) -> dict[str, Any]:
    """The finance APIs' shared ``start_time``/``start_index`` cursor (times end-exclusive)."""
    size = _opt_int(params, "size") if default_size is None else _int(params, "size", default_size)
    if size is None or not 1 <= size <= max_size:
        raise invalid("100026", f"size取值范围为1-{max_size}")
    if str(params.get("time_type") or "0") != "0":
        raise invalid("100026", "沙盒仅支持time_type=0（按结算/动账时间查询）")
    order_ids = {s.strip() for s in str(params.get("order_id") or "").split(",") if s.strip()}
    product_id = _id_str(params, "product_id")
    start_text, end_text = str(params.get("start_time") or ""), str(params.get("end_time") or "")
    try:
        lo = parse_time(start_text) if start_text else None
        hi = parse_time(end_text) if end_text else None
        start_index = int(params.get("start_index") or 0)
    except ValueError as exc:
        raise invalid("100026", "时间格式应为yyyy-MM-dd HH:mm:ss") from exc
    if (lo is None or hi is None) and not order_ids:
        raise invalid("100026", "未传order_id时start_time和end_time必填")
    lo = TIME_BASE if lo is None else lo
    hi = visible_until if hi is None else hi
    if max_window is not None and not order_ids and hi - lo > max_window:
        raise invalid("100026", "查询时间范围不能超过7天")

    def filtered(time: int, idx: int, kind: int) -> list[dict[str, Any]]:
        return [
            r for r in expand(time, idx, kind)
            if (not order_ids or r["order_id"] in order_ids or r["shop_order_id"] in order_ids)
            and (not product_id or r["product_id"] == product_id)
        ]  # fmt: skip

    rows, next_time, next_index, is_end = cursor_page(
        log, filtered, max(lo, TIME_BASE), min(hi, visible_until), start_index, size
    )
    return {
        "code": "100000",
        "code_msg": "SUCCESS",
        "data": rows,
        "size": size,
        "next_start_index": str(next_index),
        "next_start_time": fmt_time(next_time),
        "is_end": int(is_end),
        "data_size": len(rows),
    }


def settle_bill_detail(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop = request.shop
    cutoff = settle_cutoff(request.now, request.faults.settle_ready_delay_s)
    rows = partial(settlement_rows, shop)
    return _finance_page(params, shop.settlements, rows, cutoff, 100, None, 7 * DAY)


def shop_account_item(request: ShopRequest, params: dict[str, Any]) -> dict[str, Any]:
    shop = request.shop
    return _finance_page(params, shop.flows, partial(flow_rows, shop), int(request.now) + 1, 1000, 100, None)


DATA_METHODS: dict[str, Callable[[ShopRequest, dict[str, Any]], Any]] = {
    "order.searchList": order_search_list,
    "order.orderDetail": order_detail,
    "product.listV2": product_list,
    "product.detail": product_detail,
    "sku.list": sku_list,
    "sku.stockNum": sku_stock_num,
    "afterSale.List": aftersale_list,
    "afterSale.Detail": aftersale_detail,
    "order.getSettleBillDetailV3": settle_bill_detail,
    "order.getShopAccountItem": shop_account_item,
}


# --------------------------------------------------------------------------- tokens
def token_create(request: TokenRequest, params: dict[str, Any]) -> dict[str, Any]:
    grant_type = str(params.get("grant_type") or "")
    if grant_type == "authorization_self":
        shop_text = _id_str(params, "shop_id")
        if not shop_text and str(params.get("test_shop") or "") == "1":
            shop_text = str(next(iter(request.shops)))
        shop = request.shops.get(int(shop_text)) if shop_text.isdigit() else None
        if shop is None:
            raise ApiError(50001, "dop.token-generate-failed:no-authorization", "店铺未授权该应用")
    elif grant_type == "authorization_code":
        shop = request.shops[request.tokens.redeem_code(_id_str(params, "code"), request.now)]
    else:
        raise ApiError(50001, "dop.token-generate-failed:grant-type-invalid", "grant_type无效")
    grant = request.tokens.create(request.app_key, shop.shop_id, shop.shop_name, request.now)
    return request.tokens.response(grant, request.now)


def token_refresh(request: TokenRequest, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("grant_type") != "refresh_token":
        raise ApiError(50001, "dop.token-generate-failed:grant-type-invalid", "grant_type必须为refresh_token")
    grant = request.tokens.refresh(request.app_key, _id_str(params, "refresh_token"), request.now)
    return request.tokens.response(grant, request.wall_clock())


TOKEN_METHODS: dict[str, Callable[[TokenRequest, dict[str, Any]], Any]] = {
    "token.create": token_create,
    "token.refresh": token_refresh,
}
