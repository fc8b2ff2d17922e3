"""Open Platform tokens against the sandbox, with lifetimes compressed from hours and days to seconds.

What a user relies on: tasks share one client token instead of fetching one each (a fetch retires
the previous token and 500 in 5 minutes are refused); a user's authorization runs its full chain of
refreshes and five renewals, then ends in a re-authorization error that says what to do, never in a
silent stop or an auth failure in between.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_douyin.client.errors import DouyinReauthorizationRequired
from airflow_provider_douyin.client.open_client import DouyinOpenClient
from airflow_provider_douyin.client.open_platform import ACCESS_TOKEN, LIFE_ORDER_QUERY
from airflow_provider_douyin.client.open_tokens import (
    ClientToken,
    InMemoryRecordStore,
    UserTokenChain,
    chain_from_authorization,
)
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.sandbox import SandboxServer

Factory = Callable[..., SandboxServer]
USER_DATA = "GET /sandbox-user-data/"


class JsonFileStore:
    """A record store that several processes share (the Airflow Variable plays this part in a DAG)."""

    def __init__(self, path: Path, record: type[ClientToken] | type[UserTokenChain]) -> None:
        self.path = path
        self.record = record

    def load(self) -> Any:
        try:
            return self.record.from_json(self.path.read_text())
        except FileNotFoundError:
            return None

    def save(self, record: Any) -> None:
        tmp = self.path.with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(record.to_json())
        tmp.replace(self.path)


def make_client(server: SandboxServer, tmp_path: Path, **kwargs: Any) -> DouyinOpenClient:
    return DouyinOpenClient(
        client_key=server.client_key,
        client_secret=server.client_secret,
        base_url=server.url,
        retry=RetryPolicy(max_attempts=3, max_delay=20),
        lock_directory=str(tmp_path),
        **kwargs,
    )


def query_orders(client: DouyinOpenClient, account_id: str) -> dict[str, Any]:
    return client.call(LIFE_ORDER_QUERY, {"account_id": account_id, "page_num": 1, "page_size": 10})


def client_fetches(server: SandboxServer) -> int:
    return sum(entry["fetched"] for entry in server.open_stats()["client_token"].values())


def test_many_calls_share_one_client_token(douyin_sandbox_factory: Factory, tmp_path: Path) -> None:
    server = douyin_sandbox_factory(orders=10, life_orders=40)
    store: InMemoryRecordStore[ClientToken] = InMemoryRecordStore()
    with make_client(server, tmp_path, client_token_store=store) as first:
        for _ in range(20):
            assert query_orders(first, server.account_ids[0])["orders"]
    with make_client(server, tmp_path, client_token_store=store) as second:
        query_orders(second, server.account_ids[0])

    assert client_fetches(server) == 1
    assert store.record is not None and store.record.access_token.startswith("clt.")


def test_a_retired_client_token_is_replaced_by_the_stored_one_without_a_fetch(
    douyin_sandbox_factory: Factory, tmp_path: Path
) -> None:
    server = douyin_sandbox_factory(orders=10, life_orders=40, client_token_grace=0.5)
    store: InMemoryRecordStore[ClientToken] = InMemoryRecordStore()
    with (
        make_client(server, tmp_path, client_token_store=store) as worker_a,
        make_client(server, tmp_path, client_token_store=store) as worker_b,
    ):
        query_orders(worker_a, server.account_ids[0])
        first = store.record
        assert first is not None
        # Worker B was told its token is bad (e.g. by a gateway hiccup) and fetches a new one.
        worker_b.client_tokens.invalidate(first.access_token)
        time.sleep(0.8)  # past the grace: worker A's cached token is now refused by the platform

        assert query_orders(worker_a, server.account_ids[0])["orders"]

    token_refusals = server.open_stats()["responses_by_code"].get("2190002", 0)
    assert client_fetches(server) == 2  # A adopted B's stored token instead of fetching a third
    assert token_refusals == 1  # and the test did make A's first token bite
    assert store.record is not None and store.record.access_token != first.access_token


def _worker(
    url: str, key: str, secret: str, store_path: str, lock_dir: str, account: str, seconds: float
) -> int:
    client = DouyinOpenClient(
        client_key=key,
        client_secret=secret,
        base_url=url,
        client_token_store=JsonFileStore(Path(store_path), ClientToken),
        retry=RetryPolicy(max_attempts=3, max_delay=20),
        lock_directory=lock_dir,
    )
    calls = 0
    with client:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            query_orders(client, account)
            calls += 1
            time.sleep(0.05)
    return calls


def test_eight_processes_fetch_one_client_token_per_expiry(
    douyin_sandbox_factory: Factory, tmp_path: Path
) -> None:
    ttl = 3.0
    server = douyin_sandbox_factory(orders=10, life_orders=40, client_token_ttl=ttl, client_token_grace=1.0)
    args = (server.url, server.client_key, server.client_secret, str(tmp_path / "token.json"), str(tmp_path))
    run_for = 2.5 * ttl
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        calls = pool.starmap(_worker, [(*args, server.account_ids[0], run_for)] * 8)

    fetched = client_fetches(server)
    capped = sum(entry["rejected"] for entry in server.open_stats()["client_token"].values())
    # The first token plus one per expiry crossed while the processes ran, never one per process.
    assert 2 <= fetched <= 1 + int(run_for / ttl) + 1, (fetched, calls)
    assert all(count > 10 for count in calls)
    assert capped == 0


def _authorize(server: SandboxServer, client: DouyinOpenClient, store: InMemoryRecordStore) -> None:
    """What `douyin-oauth exchange` does: trade a code for the user's first tokens and store them."""
    data = client.call(
        ACCESS_TOKEN, {"code": server.issue_open_auth_code(), "grant_type": "authorization_code"}
    )
    store.save(chain_from_authorization(data, time.time()))


def test_a_user_chain_runs_five_renewals_then_asks_for_reauthorization(
    douyin_sandbox_factory: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = douyin_sandbox_factory(orders=10, life_orders=40, open_access_ttl=1, open_refresh_ttl=3)
    store: InMemoryRecordStore[UserTokenChain] = InMemoryRecordStore()
    client = make_client(server, tmp_path, user_token_store=store, conn_id="douyin_open_default")
    _authorize(server, client, store)
    assert client.user_tokens is not None

    tokens_used, started = set(), time.monotonic()
    with pytest.raises(DouyinReauthorizationRequired) as ended:
        while time.monotonic() - started < 60:
            tokens_used.add(client.user_tokens.access_token())
            time.sleep(0.05)

    stats = server.open_stats()["user_token"]
    assert stats.get("renew_refresh_token") == 5
    assert stats.get("renew_refused", 0) == 0
    assert stats.get("refresh_token", 0) >= 5
    assert len(tokens_used) == stats["refresh_token"] + 1
    assert store.record is not None and store.record.renewals == 5
    assert time.monotonic() - started >= 3 * 6 * 0.6  # it ran (most of) the six refresh-token lifetimes
    message = str(ended.value)
    assert "douyin-oauth url --conn-id douyin_open_default" in message
    assert "douyin-oauth exchange --conn-id douyin_open_default" in message
    assert any("renewal(s) left" in record.getMessage() for record in caplog.records)
    health = client.user_tokens.health()
    assert health["renewals_left"] == 0
    assert health["warnings"]


def test_two_machines_renewing_one_chain_lose_no_renewal_and_no_call(
    douyin_sandbox_factory: Factory, tmp_path: Path
) -> None:
    """A renewal kills the old refresh token at once; the other machine adopts the stored new one.

    Each client has its own lock directory, like workers on two machines, so their refreshes and
    renewals really race; the store they share is what must make them converge.
    """
    server = douyin_sandbox_factory(orders=10, life_orders=40, open_access_ttl=1, open_refresh_ttl=3)
    store: InMemoryRecordStore[UserTokenChain] = InMemoryRecordStore()
    clients = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        clients.append(make_client(server, tmp_path / name, user_token_store=store))
    _authorize(server, clients[0], store)
    failures: list[BaseException] = []

    def hammer(client: DouyinOpenClient) -> None:
        ends = time.monotonic() + 7.0
        try:
            while time.monotonic() < ends:
                assert client.user_tokens is not None
                client.user_tokens.access_token()
                time.sleep(0.01)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=hammer, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    renewed = server.open_stats()["user_token"].get("renew_refresh_token", 0)
    assert renewed >= 2  # the chain really was renewed while both machines used it
    assert store.record is not None and store.record.renewals == renewed


def test_refresh_and_client_tokens_never_reach_the_log(
    douyin_sandbox_factory: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = douyin_sandbox_factory(orders=10, life_orders=40)
    store: InMemoryRecordStore[UserTokenChain] = InMemoryRecordStore()
    client_store: InMemoryRecordStore[ClientToken] = InMemoryRecordStore()
    with make_client(server, tmp_path, user_token_store=store, client_token_store=client_store) as client:
        _authorize(server, client, store)
        query_orders(client, server.account_ids[0])
        assert client.user_tokens is not None
        client.user_tokens.maintain()
    secrets = [server.client_secret, client_store.record.access_token, store.record.refresh_token]
    text = "\n".join(record.getMessage() for record in caplog.records) + json.dumps(
        client.user_tokens.health()
    )
    for secret in secrets:
        assert secret not in text
