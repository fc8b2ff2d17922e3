"""The transfer operators close what they open (HTTP session, SQL connection, spool files) on
success, failure and empty windows; and their old import path keeps working."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_douyin.client.doudian_client import DoudianShopClient
from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.landing import forked, sinks
from airflow_provider_douyin.transfers import douyin_to_sql
from airflow_provider_douyin.transfers.douyin_to_sql import DouyinToSqlOperator
from airflow_provider_douyin.transfers.douyin_to_storage import DouyinToStorageOperator
from airflow_provider_douyin.transfers.watermarks import load_state
from tests.airflow.test_watermark_store import FakeVariables
from tests.landing.test_forked_sink import child_is_gone
from tests.landing.test_sink_lifetimes import assert_closed, count_connections, fail_the_third_item_statement

NOW = datetime.now(timezone.utc)
MONTH = {"window_start": (NOW - timedelta(days=32)).isoformat(), "window_end": NOW.isoformat()}
# A window after the latest readable end (now - safety lag) resolves to an empty one.
EMPTY = {
    "window_start": (NOW + timedelta(hours=1)).isoformat(),
    "window_end": (NOW + timedelta(hours=2)).isoformat(),
}


@pytest.fixture
def variables(monkeypatch) -> FakeVariables:
    fake = FakeVariables()
    monkeypatch.setattr("airflow_provider_douyin.transfers.watermarks.Variable", fake)
    return fake


@pytest.fixture
def closed_clients(monkeypatch) -> list[DoudianShopClient]:
    """Every Doudian client whose ``close()`` ran (and so whose HTTP session was closed)."""
    closed: list[DoudianShopClient] = []
    close = DoudianShopClient.close

    def recording_close(self: DoudianShopClient) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(DoudianShopClient, "close", recording_close)
    return closed


@pytest.fixture
def sql_connections(sqlite_hook, monkeypatch) -> list[Any]:
    """Every connection the SQL operator opens, on the test's SQLite database."""
    opened = count_connections(sqlite_hook, monkeypatch)
    monkeypatch.setattr(douyin_to_sql.BaseHook, "get_hook", staticmethod(lambda conn_id: sqlite_hook))
    return opened


@pytest.fixture
def spools(monkeypatch) -> list[Any]:
    """Every temporary file a storage sink spools its rows to."""
    opened: list[Any] = []
    temporary_file = tempfile.TemporaryFile

    def recording_temporary_file(**kwargs: Any) -> Any:
        opened.append(temporary_file(**kwargs))
        return opened[-1]

    monkeypatch.setattr(sinks.tempfile, "TemporaryFile", recording_temporary_file)
    return opened


def to_sql(**kwargs: Any) -> DouyinToSqlOperator:
    """Landing in this process by default, where its connections can be counted."""
    options = {"forked_landing": False, **kwargs}
    return DouyinToSqlOperator(
        task_id="orders", stream="orders", sql_conn_id="douyin_test_sqlite", lookback=0, **options
    )


def to_storage(path: Any, **kwargs: Any) -> DouyinToStorageOperator:
    return DouyinToStorageOperator(task_id="orders", stream="orders", path=str(path), lookback=0, **kwargs)


def test_the_old_import_path_names_the_same_operators():
    from airflow_provider_douyin.operators import transfer
    from airflow_provider_douyin.transfers import base, douyin_to_storage

    assert transfer.DouyinToSqlOperator is douyin_to_sql.DouyinToSqlOperator
    assert transfer.DouyinToStorageOperator is douyin_to_storage.DouyinToStorageOperator
    assert transfer.stream_asset is base.stream_asset
    assert DouyinToSqlOperator.ui_color == transfer.DOUYIN_PINK


def test_sensors_and_the_token_operator_load_no_landing_code():
    code = (
        "import sys\n"
        "import airflow_provider_douyin.sensors.shop, airflow_provider_douyin.operators.tokens\n"
        "print(sorted(m for m in sys.modules if m.startswith(('airflow_provider_douyin.landing', "
        "'airflow_provider_douyin.transfers', 'airflow_provider_douyin.operators.transfer'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_the_hook_closes_its_client_and_builds_a_new_one_when_used_again(
    shop, in_memory_tokens, closed_clients
):
    with DouyinShopHook() as hook:
        first = hook.client
        assert hook.call("product.listV2", {"page": 1, "size": 1})["total"] > 0
    assert closed_clients == [first]
    second = hook.client
    assert second is not first
    hook.close()
    hook.close()  # closing twice is harmless
    assert closed_clients == [first, second]


def test_the_connection_test_closes_its_probe_client(shop, in_memory_tokens, closed_clients):
    ok, message = DouyinShopHook().test_connection()
    assert ok, message
    assert len(closed_clients) == 1


def test_a_successful_run_closes_its_client_and_its_connection(
    shop, in_memory_tokens, variables, sql_connections, closed_clients
):
    payload = to_sql(**MONTH, batch_rows=100).execute(context={})
    assert payload["rows"]["orders"] > 0
    assert len(sql_connections) == 1
    assert_closed(sql_connections)
    assert len(closed_clients) == 1


def test_an_empty_window_closes_its_sql_sink(shop, in_memory_tokens, variables, sqlite_hook, sql_connections):
    payload = to_sql(**EMPTY).execute(context={})
    assert payload["rows"] == {"orders": 0, "order_items": 0}
    assert len(sql_connections) == 1  # the tables are still created
    assert_closed(sql_connections)
    assert sqlite_hook.get_first("SELECT COUNT(*) FROM douyin_order_items")[0] == 0


@pytest.fixture
def landing_children(monkeypatch) -> list[int]:
    """The process ids of the landing children forked in this test."""
    children: list[int] = []
    fork = forked.os.fork

    def recording_fork() -> int:
        pid = fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(forked.os, "fork", recording_fork)
    return children


def test_forked_landing_leaves_no_process_behind_when_it_succeeds_or_fails(
    shop, in_memory_tokens, variables, sqlite_hook, landing_children, monkeypatch
):
    monkeypatch.setattr(douyin_to_sql.BaseHook, "get_hook", staticmethod(lambda conn_id: sqlite_hook))
    payload = to_sql(**MONTH, forked_landing=True).execute(context={})
    assert sqlite_hook.get_first("SELECT COUNT(*) FROM douyin_orders")[0] == payload["rows"]["orders"] > 0

    fail_the_third_item_statement(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        to_sql(**MONTH, batch_rows=100, max_workers=1, forked_landing=True).execute(context={})
    assert len(landing_children) == 2 and all(child_is_gone(pid) for pid in landing_children)


def test_an_empty_window_closes_its_spools_and_writes_nothing(
    shop, in_memory_tokens, variables, spools, tmp_path
):
    payload = to_storage(tmp_path / "lake", **EMPTY).execute(context={})
    assert payload["rows"] == {"orders": 0, "order_items": 0}
    assert len(spools) == 2 and all(spool.closed for spool in spools)
    assert not (tmp_path / "lake").exists()


def test_a_failing_flush_rolls_back_and_closes_everything(
    shop, in_memory_tokens, variables, sqlite_hook, sql_connections, closed_clients, monkeypatch
):
    fail_the_third_item_statement(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        to_sql(**MONTH, batch_rows=100, max_workers=1).execute(context={})

    assert len(sql_connections) == 1
    assert_closed(sql_connections)
    assert len(closed_clients) == 1
    orders = {r[0] for r in sqlite_hook.get_records("SELECT order_id FROM douyin_orders")}
    parents = {r[0] for r in sqlite_hook.get_records("SELECT parent_order_id FROM douyin_order_items")}
    assert orders == parents and orders  # two flushes landed whole, the third not at all
    (state,) = (load_state(v) for v in variables.values.values())
    assert state.done == ()  # the window is not recorded done


def test_a_failing_read_closes_the_spools_and_writes_no_window(
    shop, in_memory_tokens, variables, spools, closed_clients, tmp_path, monkeypatch
):
    request, calls = DoudianShopClient.request, []

    def fails_on_the_fourth_call(self, method, params=None):
        calls.append(method)
        if len(calls) == 4:
            raise RuntimeError("gateway unreachable")
        return request(self, method, params)

    monkeypatch.setattr(DoudianShopClient, "request", fails_on_the_fourth_call)
    with pytest.raises(RuntimeError, match="gateway unreachable"):
        to_storage(tmp_path / "lake", **MONTH, max_workers=1).execute(context={})

    assert len(spools) == 2 and all(spool.closed for spool in spools)
    assert len(closed_clients) == 1
    assert not list((tmp_path / "lake").rglob("_manifest.json"))
