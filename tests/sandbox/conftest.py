"""Fixtures of the sandbox tests (the server fixtures come from the sandbox pytest plugin)."""

from __future__ import annotations

import logging

import pytest
from sandbox_testkit import Gateway

from airflow_provider_douyin.sandbox import SandboxServer


@pytest.fixture
def gw(douyin_sandbox: SandboxServer) -> Gateway:
    """A logged-in caller for the default 500-order shop."""
    gateway = Gateway(douyin_sandbox)
    gateway.login()
    return gateway


@pytest.fixture(autouse=True)
def _quiet_test_callers_urls(caplog: pytest.LogCaptureFixture) -> None:
    """These tests call the sandbox with their own signer, never through the provider, so the
    provider's log redaction is not installed; urllib3 would log their request URLs (tokens and
    signs in the query string, as Doudian wants them) at DEBUG, which the suite's secret scan
    rightly counts as leaks. The provider's own URLs are covered by the client and Airflow tests."""
    caplog.set_level(logging.INFO, logger="urllib3")
