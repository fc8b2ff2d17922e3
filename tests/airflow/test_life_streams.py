"""抖音来客 streams land exactly: every row of the sandbox's truth, once, in its latest version.

Each stream runs through ``DouyinToSqlOperator`` with a ``douyin_open`` connection, as a DAG task
would, into SQLite, PostgreSQL and MariaDB. The sandbox keeps changing between runs, answers the order
query in a new order on every request, and injects every fault at once while client tokens expire
mid-sync.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_douyin.client.errors import DouyinConfigError
from airflow_provider_douyin.client.open_tokens import InMemoryRecordStore
from airflow_provider_douyin.operators.transfer import DouyinToSqlOperator
from tests.airflow.test_watermark_store import FakeVariables

CONN_ID = "douyin_open_default"
SQL_CONN = {"sqlite": "douyin_test_sqlite", "postgres": "douyin_test_postgres", "mysql": "douyin_test_mysql"}
# What each landed table must equal: its key and the columns that change as the record moves on.
CHECKED = {
    "life_orders": (("order_id",), ("update_order_time", "order_status", "pay_amount")),
    "life_certificates": (("order_item_id",), ("item_status", "item_update_time", "certificate_id")),
    "life_products": (("product_id",), ("update_time", "online_status")),
    "life_verify_records": (("verify_id",), ("verify_time", "pay_amount")),
    "life_refunds": (("after_sale_id",), ("update_time", "refund_amount")),
}
STREAM_TABLES = {
    "life_orders": ("life_orders", "life_certificates"),
    "life_products": ("life_products",),
    "life_verify_records": ("life_verify_records",),
    "life_refunds": ("life_refunds",),
}
ALL_FAULTS = {
    "latency_ms": 5,
    "throttle_rate": 0.05,
    "busy_rate": 0.05,
    "http502_rate": 0.03,
    "reset_rate": 0.02,
    "page_drift": 2,
    "order_shuffle": True,
}


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> FakeVariables:
    fake = FakeVariables()
    monkeypatch.setattr("airflow_provider_douyin.transfers.watermarks.Variable", fake)
    return fake


@pytest.fixture
def token_stores(monkeypatch: pytest.MonkeyPatch) -> dict[str, InMemoryRecordStore]:
    """Operators run here outside a task; one store per key stands in for the Variables."""
    stores: dict[str, InMemoryRecordStore] = {}

    def store(conn_id: str, *, record: Any, key: str | None = None) -> InMemoryRecordStore:
        return stores.setdefault(key or conn_id, InMemoryRecordStore())

    monkeypatch.setattr("airflow_provider_douyin.hooks.open_platform.VariableTokenStore", store)
    return stores


def life_sandbox(factory: Any, monkeypatch: pytest.MonkeyPatch, **config: Any) -> Any:
    server = factory(orders=10, life_orders=config.pop("life_orders", 400), **config)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "douyin_open",
                "host": server.url,
                "login": server.client_key,
                "password": server.client_secret,
                "extra": {"account_id": server.account_ids[0], "qps": 200},
            }
        ),
    )
    return server


def sync(stream: str, sql_conn_id: str, **kwargs: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    window = {"window_start": (now - timedelta(days=400)).isoformat(), "window_end": now.isoformat()}
    kwargs.setdefault("douyin_conn_id", CONN_ID)
    operator = DouyinToSqlOperator(
        task_id=f"sync_{stream}",
        stream=stream,
        sql_conn_id=sql_conn_id,
        safety_lag=0,
        lookback=0,
        **(window if stream != "life_products" else {}),
        **kwargs,
    )
    return operator.execute(context={})


def landed(hook: Any, table: str) -> dict[tuple, tuple]:
    key, values = CHECKED[table]
    columns = ", ".join((*key, *values))
    return {
        tuple(str(v) for v in row[: len(key)]): tuple(str(v) for v in row[len(key) :])
        for row in hook.get_records(f"SELECT {columns} FROM douyin_{table}")
    }


def truth(server: Any, table: str) -> dict[tuple, tuple]:
    key, values = CHECKED[table]
    rows = server.open_truth(table, account_id=server.account_ids[0])
    flat = [{**row.get("product", {}), **row} if table == "life_products" else row for row in rows]
    return {tuple(str(r[k]) for k in key): tuple(str(r[v]) for v in values) for r in flat}


def assert_exact(server: Any, hook: Any, streams: tuple[str, ...] = tuple(STREAM_TABLES)) -> None:
    for stream in streams:
        for table in STREAM_TABLES[stream]:
            expected, got = truth(server, table), landed(hook, table)
            assert expected, f"the sandbox has no {table}: the test would prove nothing"
            lost = expected.keys() - got.keys()
            extra = got.keys() - expected.keys()
            stale = {k for k in expected.keys() & got.keys() if expected[k] != got[k]}
            assert (len(lost), len(extra), len(stale)) == (0, 0, 0), (
                table,
                sorted(lost)[:3],
                sorted(stale)[:3],
            )
            count = hook.get_first(f"SELECT COUNT(*) FROM douyin_{table}")[0]
            assert count == len(expected), f"{table}: {count} rows for {len(expected)} records"


@pytest.mark.parametrize("db", ["sqlite", "postgres", "mysql"])
def test_every_life_stream_lands_exactly_and_follows_changes(
    db: str, request: pytest.FixtureRequest, douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch,
    variables: FakeVariables, token_stores: dict,
) -> None:  # fmt: skip
    hook = request.getfixturevalue(f"{db}_hook")
    server = life_sandbox(douyin_sandbox_factory, monkeypatch)
    for stream in STREAM_TABLES:
        sync(stream, SQL_CONN[db])
    assert_exact(server, hook)

    server.open_mutate(new_orders=40, updates=120, product_updates=10)
    time.sleep(1.5)  # windows end before the current second, which may still gain changes
    for stream in STREAM_TABLES:
        payload = sync(stream, SQL_CONN[db])
        assert payload["rows"], payload
    assert_exact(server, hook)

    before = {table: landed(hook, table) for table in CHECKED}
    for stream in STREAM_TABLES:  # a rerun of the same windows changes nothing
        sync(stream, SQL_CONN[db])
    assert {table: landed(hook, table) for table in CHECKED} == before


def test_all_faults_at_once_shuffled_pages_and_tokens_expiring_mid_sync(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: FakeVariables,
    token_stores: dict, sqlite_hook: Any,
) -> None:  # fmt: skip
    server = life_sandbox(
        douyin_sandbox_factory, monkeypatch, life_orders=1500, client_token_ttl=2, client_token_grace=1
    )
    server.set_faults(**ALL_FAULTS)
    for stream in STREAM_TABLES:
        sync(stream, SQL_CONN["sqlite"], max_workers=4)
    server.open_mutate(new_orders=50, updates=200)
    time.sleep(1.5)
    for stream in STREAM_TABLES:
        sync(stream, SQL_CONN["sqlite"], max_workers=4)

    stats = server.open_stats()
    fetched = sum(entry["fetched"] for entry in stats["client_token"].values())
    faults = stats["faults_injected"]
    assert fetched >= 2, "no client token expired during the run: the test proved nothing about tokens"
    assert sum(faults.values()) >= 5 and len(faults) >= 3, faults
    # Drift touched records during the last read, stamping versions newer than its window; the next
    # scheduled window reads them. Run it (quietly), then everything must equal the truth.
    server.set_faults(**dict.fromkeys(ALL_FAULTS, 0))
    time.sleep(1.5)
    for stream in STREAM_TABLES:
        sync(stream, SQL_CONN["sqlite"])
    assert_exact(server, sqlite_hook)


def test_shuffled_order_pages_still_land_every_order_once(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: FakeVariables,
    token_stores: dict, sqlite_hook: Any,
) -> None:  # fmt: skip
    server = life_sandbox(douyin_sandbox_factory, monkeypatch, life_orders=800)
    server.set_faults(order_shuffle=True)
    payload = sync("life_orders", SQL_CONN["sqlite"])
    assert payload["rows"]["life_orders"] == len(truth(server, "life_orders"))
    assert_exact(server, sqlite_hook, ("life_orders",))


def test_a_shop_connection_for_a_life_stream_is_named_as_the_error(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: FakeVariables,
    sqlite_hook: Any,
) -> None:  # fmt: skip
    server = life_sandbox(douyin_sandbox_factory, monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_SHOP", json.dumps({"conn_type": "douyin_shop", "host": server.url}))
    with pytest.raises(
        DouyinConfigError, match="needs a 'douyin_open' connection; 'shop' is of type 'douyin_shop'"
    ):
        sync("life_orders", SQL_CONN["sqlite"], douyin_conn_id="shop")
    assert not sqlite_hook.get_records("SELECT name FROM sqlite_master WHERE name LIKE 'douyin_%'")


def test_a_life_stream_without_an_account_says_which_extra_to_set(
    douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, variables: FakeVariables,
    token_stores: dict, sqlite_hook: Any,
) -> None:  # fmt: skip
    server = life_sandbox(douyin_sandbox_factory, monkeypatch)
    conn = {"conn_type": "douyin_open", "host": server.url, "login": server.client_key, "password": "x" * 12}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    with pytest.raises(DouyinConfigError, match="needs extra 'account_id'"):
        sync("life_verify_records", SQL_CONN["sqlite"])
    assert server.open_stats()["requests_total"] == 0
