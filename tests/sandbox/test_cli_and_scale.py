"""The ``douyin-sandbox`` CLI, and an opt-in big-shop check (``DOUYIN_SANDBOX_BIG=1``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests
from sandbox_testkit import Gateway, cli_serve

from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SandboxServer

CLI = [sys.executable, "-m", "airflow_provider_douyin.sandbox"]


def test_help_documents_credentials() -> None:
    out = subprocess.run(
        [*CLI, "serve", "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert SANDBOX_APP_KEY in out and SANDBOX_APP_SECRET in out and "1000001" in out
    assert "--page-drift" in out and "--qps-limit" in out and "--reset-rate" in out


def test_serve_prints_url_and_stops_on_sigterm() -> None:
    with cli_serve("--orders", "50", "--shops", "2", "--qps-limit", "9") as (url, _):
        info = requests.get(url + "/sandbox/info", timeout=5).json()
        assert info["shop_ids"] == [1000001, 1000002] and info["faults"]["qps_limit"] == 9


@pytest.mark.skipif(os.environ.get("DOUYIN_SANDBOX_BIG") != "1", reason="set DOUYIN_SANDBOX_BIG=1 to run")
def test_big_shop_pages_fast(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=1_000_000)
    gw = Gateway(server)
    gw.login()
    now = int(time.time())
    latencies = []
    for page in range(0, 500, 25):
        began = time.perf_counter()
        data = gw.data(
            "order.searchList",
            {
                "page": page,
                "size": 100,
                "update_time_start": now - 20 * 86400,
                "order_by": "update_time",
                "order_asc": True,
            },
        )
        latencies.append(time.perf_counter() - began)
        assert len(data["shop_order_list"]) == 100
    assert sorted(latencies)[len(latencies) // 2] < 0.1


def test_help_states_each_default_once() -> None:
    out = subprocess.run(
        [*CLI, "serve", "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    text = " ".join(out.split())  # undo argparse's line wrapping
    assert ") (default" not in text, "an option names its default twice"
    assert "lifetime in seconds (default 604800 = 7 d)" in text
    # every option but --help, --port, --page-drift, --order-shuffle, --push-url, --webhook-url
    assert text.count("(default") == 40
    assert "GET /sandbox/truth/{table}?shop_id= (NDJSON: one JSON record per line)" in text
