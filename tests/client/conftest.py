from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_douyin.client import DoudianShopClient, RetryPolicy

from .fakes import APP_KEY, APP_SECRET, BASE_URL, SHOP_ID, FakeClock, FakeGateway

NO_WAIT = RetryPolicy(max_attempts=3, initial=0.0, maximum=0.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(clock: FakeClock) -> FakeGateway:
    return FakeGateway(clock)


@pytest.fixture
def mocked_gateway(requests_mock: Any, gateway: FakeGateway) -> FakeGateway:
    """The fake gateway answering every POST to the production base URL."""
    requests_mock.post(re.compile(re.escape(BASE_URL) + "/"), json=gateway.mock_callback)
    return gateway


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
