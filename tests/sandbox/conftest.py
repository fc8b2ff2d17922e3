"""Fixtures of the sandbox tests (the server fixtures come from the sandbox pytest plugin)."""

from __future__ import annotations

import pytest
from sandbox_testkit import Gateway

from airflow_provider_douyin.sandbox import SandboxServer


@pytest.fixture
def gw(douyin_sandbox: SandboxServer) -> Gateway:
    """A logged-in caller for the default 500-order shop."""
    gateway = Gateway(douyin_sandbox)
    gateway.login()
    return gateway
