"""Fixtures for tests that talk to a sandbox through an Airflow connection."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from airflow_provider_douyin.client import InMemoryTokenStore
from airflow_provider_douyin.hooks.token_store import token_variable_key
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tests.airflow.deployment import throwaway_database

SHOP_ID = 1000001
CONN_ID = "douyin_shop_default"


def shop_connection(url: str, **overrides: object) -> str:
    return json.dumps(
        {
            "conn_type": "douyin_shop",
            "host": url,
            "login": SANDBOX_APP_KEY,
            "password": SANDBOX_APP_SECRET,
            "extra": {"shop_id": str(SHOP_ID), "qps": 200},
            **overrides,
        }
    )


@pytest.fixture
def shop(douyin_sandbox_factory, monkeypatch):
    server = douyin_sandbox_factory(orders=300, seed=21)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection(server.url))
    return server


@pytest.fixture
def fresh_token_variable(airflow_db):
    """Each test gets a new sandbox, whose tokens no earlier run stored."""
    from airflow.models.variable import Variable as VariableModel  # the metadata DB itself, not a task

    VariableModel.delete(token_variable_key(CONN_ID))
    yield token_variable_key(CONN_ID)
    VariableModel.delete(token_variable_key(CONN_ID))


@pytest.fixture
def in_memory_tokens(monkeypatch):
    """Poke tests call sensors outside a task, where Variables cannot be written."""
    store = InMemoryTokenStore()
    monkeypatch.setattr("airflow_provider_douyin.hooks.shop.VariableTokenStore", lambda conn_id: store)
    return store


def _throwaway_database(prefix: str) -> Iterator[str]:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        with throwaway_database(prefix) as url:
            yield url
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A throwaway PostgreSQL database for a real deployment's metadata (SQLAlchemy URL)."""
    yield from _throwaway_database("h_airflow")


@pytest.fixture
def warehouse_db() -> Iterator[str]:
    """A throwaway PostgreSQL database that the example DAGs land in (SQLAlchemy URL)."""
    yield from _throwaway_database("h_warehouse")
