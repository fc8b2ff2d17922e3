"""Reconciliation against the sandbox and a real database: silent after a correct sync, even while
records move under it, and naming exactly the keys a test removed, altered or added in the target."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_douyin.client.errors import DouyinConfigError, DouyinResponseShapeError
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.landing.reconcile import SqlReconcileTarget
from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.streams.reconcile import ReconcileResult, reconcile
from airflow_provider_douyin.streams.windows import Window
from tests.streams.test_exactness import SAFETY_LAG, full_history, make_client, sync, wait_past

DAY = timedelta(days=1)


def run(client: Any, hook: Any, stream: str, window: Window, **options: Any) -> ReconcileResult:
    spec = get_stream(stream)
    with SqlReconcileTarget(hook, spec.root, table_prefix="douyin_") as target:
        return reconcile(client.request, spec, window, target, slice_span=DAY, **options)


def keys(hook: Any, sql: str) -> list[str]:
    return [str(r[0]) for r in hook.get_records(sql)]


def test_a_correct_sync_reconciles_with_no_mismatch_while_records_move(douyin_sandbox_factory, sql_hook):
    server = douyin_sandbox_factory(orders=500, seed=13)
    wait_past(SAFETY_LAG)
    server.set_faults(page_drift=2, visibility_lag_s=1.0)
    client = make_client(server)
    window = full_history()
    for stream in ("orders", "after_sales"):
        sync(client, sql_hook, stream, window, "douyin_")
    server.mutate(updates=40)  # the shop moves on after the read, too
    wait_past(1.5)  # past the visibility lag: the search shows those records in a later window

    results = {stream: run(client, sql_hook, stream, window) for stream in ("orders", "after_sales")}
    for result in results.values():
        assert result.ok, result.message()
        assert result.as_dict()["counts"] == {"missing": 0, "extra": 0, "stale": 0}
        assert result.api_count > 0 and result.keys_compared >= result.target_count > 0
    # Orders really moved out of the window between the read and the check, and were recognised.
    assert results["orders"].moved and server.stats()["faults_injected"]["page_drift"] > 0


def test_rows_deleted_altered_or_added_in_the_target_are_named_exactly(douyin_sandbox_factory, sql_hook):
    server = douyin_sandbox_factory(orders=400, seed=17)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    window = full_history()
    for stream in ("orders", "after_sales"):
        sync(client, sql_hook, stream, window, "douyin_")

    orders = keys(sql_hook, "SELECT order_id FROM douyin_orders ORDER BY order_id")
    deleted, status_changed, older, newer = orders[:2], orders[10], orders[20], orders[30]
    sql_hook.run(f"DELETE FROM douyin_orders WHERE order_id IN ('{deleted[0]}', '{deleted[1]}')")
    sql_hook.run(
        f"UPDATE douyin_orders SET order_status = order_status + 1 WHERE order_id = '{status_changed}'"
    )
    sql_hook.run(f"UPDATE douyin_orders SET update_time = update_time - 7 * 86400 WHERE order_id = '{older}'")
    sql_hook.run(f"UPDATE douyin_orders SET update_time = update_time + 60 WHERE order_id = '{newer}'")
    sql_hook.run(
        "INSERT INTO douyin_orders (order_id, update_time, order_status) "
        f"VALUES ('6900000000000000001', {window.start + 3600}, 2)"
    )
    (gone,) = keys(sql_hook, "SELECT aftersale_id FROM douyin_after_sales ORDER BY aftersale_id LIMIT 1")
    sql_hook.run(f"DELETE FROM douyin_after_sales WHERE aftersale_id = '{gone}'")

    result = run(client, sql_hook, "orders", window)
    assert sorted(result.keys("missing")) == sorted(deleted)
    assert sorted(result.keys("stale")) == sorted([status_changed, older, newer])
    assert result.keys("extra") == ["6900000000000000001"]
    assert result.moved == []
    why = {m.key: m.why for m in result.mismatches}
    assert why[status_changed] == "differs in order_status"
    assert why[older].startswith("update_time: target ")
    assert "order.orderDetail does not know it" in why["6900000000000000001"]
    message = result.message()
    assert "2 missing" in message and "3 stale" in message and "1 extra" in message and deleted[0] in message

    # Halving down to the parts whose counts differ finds exactly the same keys, listing fewer.
    halved = run(client, sql_hook, "orders", window, key_check_below=20)
    assert halved.mismatches == result.mismatches and halved.moved == []
    assert halved.slices > 1 and halved.keys_compared < result.keys_compared

    after_sales = run(client, sql_hook, "after_sales", window)
    assert (after_sales.keys("missing"), after_sales.keys("stale"), after_sales.keys("extra")) == (
        [gone],
        [],
        [],
    )


def test_a_slice_whose_counts_agree_above_the_key_check_size_is_not_listed(
    douyin_sandbox_factory, sqlite_hook
):
    server = douyin_sandbox_factory(orders=200, seed=19)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    window = full_history()
    sync(client, sqlite_hook, "orders", window, "douyin_")

    result = run(client, sqlite_hook, "orders", window, key_check_below=0)
    assert result.ok and result.slices_listed == 0 and result.keys_compared == 0
    assert result.api_count == result.target_count == len(server.truth("orders", shop_id=1000001))


def test_a_stream_without_a_detail_call_is_refused_before_any_request(sqlite_hook):
    spec = get_stream("settlements")
    with pytest.raises(
        DouyinConfigError,
        match="cannot be reconciled; supported: \\['after_sales', 'life_orders', 'orders'\\]",
    ):
        reconcile(lambda *a: pytest.fail("no request"), spec, Window(0, 1), None)  # type: ignore[arg-type]


def test_the_target_sees_rows_committed_after_it_opened(douyin_sandbox_factory, sqlite_hook):
    """One target object serves a whole reconciliation; each query sees rows committed since."""
    server = douyin_sandbox_factory(orders=50, seed=23)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    window = full_history()
    spec = get_stream("orders")
    with SqlReconcileTarget(sqlite_hook, spec.root, table_prefix="douyin_") as target:
        sync(client, sqlite_hook, "orders", window, "douyin_")
        before = target.count(window)
        sqlite_hook.run(
            "DELETE FROM douyin_orders WHERE order_id = (SELECT MIN(order_id) FROM douyin_orders)"
        )
        assert target.count(window) == before - 1


@pytest.mark.parametrize(
    ("detail", "error"),
    [
        ({"shop_order_detail": None}, "the detail reply holds no record"),
        ({"shop_order_detail": {"order_id": "6900000000000000001"}}, "record has no update_time"),
    ],
)
def test_a_malformed_detail_reply_is_an_error_not_a_verdict(
    douyin_sandbox_factory, sqlite_hook, detail, error
):
    server = douyin_sandbox_factory(orders=30, seed=29)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    window = full_history()
    sync(client, sqlite_hook, "orders", window, "douyin_")
    invented = "6900000000000000001"
    sqlite_hook.run(
        f"INSERT INTO douyin_orders (order_id, update_time) VALUES ('{invented}', {window.start + 60})"
    )

    def call(method: str, params: Any = None) -> ApiResponse:
        if method == "order.orderDetail":
            return ApiResponse(method, detail, log_id="20261203000000000000000000000001")
        return client.request(method, params)

    spec = get_stream("orders")
    with (
        SqlReconcileTarget(sqlite_hook, spec.root) as target,
        pytest.raises(DouyinResponseShapeError, match=error),
    ):
        reconcile(call, spec, window, target, slice_span=DAY)
