"""What the sensors wait for, as named checks over plain JSON parameters.

A sensor in poke or reschedule mode and its deferrable trigger evaluate the very same
check: the trigger only gets the check's name, the connection id and these parameters,
never a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.streams.windows import SHANGHAI, Window


@dataclass(frozen=True)
class CheckResult:
    done: bool
    payload: Any = None
    reason: str = ""


def orders_exist(
    hook: DouyinShopHook,
    *,
    start: int,
    end: int,
    order_statuses: list[int] | None = None,
    time_field: str = "update_time",
    min_count: int = 1,
) -> CheckResult:
    count = hook.count_orders(Window(start, end), order_statuses=order_statuses, time_field=time_field)
    return CheckResult(
        count >= min_count,
        {"orders": count, "window_start": start, "window_end": end},
        f"{count} matching orders, waiting for {min_count}",
    )


def settlement_ready(hook: DouyinShopHook, *, day: str, not_before_s: float = 15 * 3600) -> CheckResult:
    """T+1: the bill for ``day`` appears the next day; Doudian advises asking after 15:00."""
    bill_day = date.fromisoformat(day)
    ask_from = datetime.combine(bill_day + timedelta(days=1), datetime.min.time(), SHANGHAI) + timedelta(
        seconds=not_before_s
    )
    if datetime.now(timezone.utc) < ask_from:
        return CheckResult(
            False, reason=f"settlement for {day} is not published before {ask_from.isoformat()}"
        )
    if hook.settlement_available(bill_day):
        return CheckResult(True, {"settlement_date": day})
    return CheckResult(False, reason=f"settlement for {day} not published yet")


def low_stock(hook: DouyinShopHook, *, threshold: int) -> CheckResult:
    skus = hook.low_stock_skus(threshold)
    return CheckResult(bool(skus), skus, f"no SKU below {threshold}")


CHECKS: dict[str, Callable[..., CheckResult]] = {
    "orders_exist": orders_exist,
    "settlement_ready": settlement_ready,
    "low_stock": low_stock,
}


def run_check(name: str, conn_id: str, params: dict[str, Any], *, token_refresh: bool = True) -> CheckResult:
    """Evaluate one named check; ``token_refresh=False`` is for triggers, which must not rotate tokens."""
    try:
        check = CHECKS[name]
    except KeyError:
        raise ValueError(f"unknown Douyin check {name!r}; choose one of {sorted(CHECKS)}") from None
    return check(DouyinShopHook(conn_id, token_refresh=token_refresh), **params)
