"""An order and its items commit together: a sync killed between them leaves no order without items."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone

from tests.airflow.conftest import SHOP_ID
from tests.airflow.test_watermark_kill import (
    finish,
    landed_items,
    landed_orders,
    shop_for_kill,  # noqa: F401  (fixture)
    start_runs,
    window_conf,
)

KILLED_FLUSH = 3


def test_sigkill_after_the_parents_statement_leaves_no_order_without_its_items(
    shop_for_kill,  # noqa: F811
    postgres_hook,
):
    server = shop_for_kill
    orders = server.truth("orders", shop_id=SHOP_ID)
    items_of = {o["order_id"]: {i["order_id"] for i in o["sku_order_list"]} for o in orders}
    now = datetime.now(timezone.utc)
    # The sync SIGKILLs itself right after writing the orders of its third flush, before the items.
    proc = start_runs([window_conf(now - timedelta(days=32), now)], kill_after_parents=KILLED_FLUSH)
    code, output = finish(proc)
    assert code == -signal.SIGKILL and "KILLING after parents" in output, output[-3000:]

    landed = landed_orders(postgres_hook)
    items = landed_items(postgres_hook)
    # The first flushes are committed, the killed one is not, and nothing was torn apart.
    assert 0 < len(landed) < len(orders)
    assert all(items_of[order_id] for order_id in landed)
    orphans = {order_id for order_id in landed if not items_of[order_id] <= items.keys()}
    assert orphans == set()
    assert set(items.values()) == set(landed)
