from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_douyin.client import DoudianShopClient, RetryPolicy
from airflow_provider_douyin.sandbox import SandboxServer

from .fakes import APP_KEY, APP_SECRET, SHOP_ID, FakeClock
from .sandbox_gateway import SandboxGateway

NO_WAIT = RetryPolicy(max_attempts=3, initial=0.0, maximum=0.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(
    douyin_sandbox_factory: Callable[..., SandboxServer], clock: FakeClock
) -> Iterator[SandboxGateway]:
    """The sandbox gateway on the tests' clock (token rules as Doudian's; no QPS limit, no faults)."""
    sandbox = SandboxGateway(douyin_sandbox_factory(orders=20, wall_clock=clock), clock)
    yield sandbox
    sandbox.close()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[Callable[..., DoudianShopClient]]:
    """Build clients on the fake clock with fast retries and a rate limit that never slows tests."""
    clients: list[DoudianShopClient] = []

    def factory(**overrides: Any) -> DoudianShopClient:
        kwargs: dict[str, Any] = {
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "shop_id": SHOP_ID,
            "clock": clock,
            "qps": 1000.0,
            "retry": NO_WAIT,
        }
        kwargs.update(overrides)
        client = DoudianShopClient(**kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
