"""The Douyin page in a real browser: headless Chromium (the OS package) driven by Playwright.

After a demo sync (the demo's sandbox and example DAG runs: token maintenance, orders, 来客 life
streams) a real ``airflow api-server`` starts with the provider's plugin, which it finds through
the ``airflow.plugins`` entry point. The browser is sent to Airflow's login, signs in as a
SimpleAuthManager user, lands on the page, and reads the connection's token expiry and each
stream's rows; a monitoring client reads the same through the JSON endpoint with an API token.

Needs ``playwright`` (PyPI) and ``/usr/bin/chromium`` (``apt-get install chromium``; Playwright's own
browser download is not used). Without them the test skips, unless ``CI=true``: then it fails.
Set ``DOUYIN_PAGE_SCREENSHOT=docs/douyin-page.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_douyin.hooks.open_platform import client_token_variable_key
from airflow_provider_douyin.sandbox import SANDBOX_CLIENT_KEY, SandboxServer
from airflow_provider_douyin.streams.catalog import get_stream
from tests.airflow.example_dag_runs import DAGS_FOLDER, delete_watermarks, parse_example_dags, register
from tests.airflow.test_demo_rerun import demo
from tests.conftest import SECRET_PATTERNS
from tests.dbs import _in_ci

pytestmark = pytest.mark.timeout(900)

CHROMIUM = Path("/usr/bin/chromium")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
USER, PASSWORD = "douyin_ops", "page-test-password-7f3a"
SYNCED = ("douyin_token_maintenance", "douyin_orders_hourly", "douyin_life_hourly")
TARGET = "douyin_warehouse.douyin_"  # where the example DAGs land: the demo's SQLite warehouse
STREAMS = ("orders", "after_sales", "life_orders", "life_verify_records", "life_refunds", "life_products")


@pytest.fixture
def browser_driver() -> Any:
    """Playwright's ``sync_playwright``, checked before the slow fixtures run."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = f"needs {' and '.join(missing)}"
        if _in_ci():
            pytest.fail(f"{message} (CI=true, so the browser test must run)", pytrace=False)
        pytest.skip(message)
    return sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_sync(monkeypatch, airflow_db, fresh_token_variable, tmp_path) -> Path:
    """The demo's sync against its sandbox, into a fresh warehouse; returns the warehouse file."""
    from airflow.models.variable import Variable as VariableModel

    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    bag = parse_example_dags()
    register(bag)
    delete_watermarks(bag.dags.values())
    VariableModel.delete(client_token_variable_key(SANDBOX_CLIENT_KEY))
    warehouse = tmp_path / "douyin.db"
    clock = demo.shop_clock(datetime.now(timezone.utc))
    with SandboxServer(demo.sandbox_config(600, 30, 7, clock)) as server:
        env = demo.airflow_env(tmp_path / "home", server.url, warehouse)
        for name in (
            "AIRFLOW_CONN_DOUYIN_SHOP_DEFAULT",
            "AIRFLOW_CONN_DOUYIN_OPEN_DEFAULT",
            "AIRFLOW_CONN_DOUYIN_WAREHOUSE",
        ):
            monkeypatch.setenv(name, env[name])
        for dag_id, conf in demo.example_runs(clock, 30):
            if dag_id in SYNCED:
                dag_run = parse_example_dags().get_dag(dag_id).test(run_conf=conf)
                assert str(dag_run.state) == "success", dag_id
    yield warehouse
    delete_watermarks(bag.dags.values())


@pytest.fixture
def api_server(tmp_path) -> str:
    """``airflow api-server`` on a free port, on the tests' metadata DB, with one SimpleAuthManager user."""
    if not any(
        e.name == "douyin" and e.value.startswith("airflow_provider_douyin.")
        for e in entry_points(group="airflow.plugins")
    ):
        pytest.fail("the 'airflow.plugins' entry point 'douyin' is not installed: re-run `make install`")
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "douyin-page-test-jwt-secret-0123456789abcdef",
    }
    log = (tmp_path / "api-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "api-server did not start"
            time.sleep(1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def show_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def stored(key: str) -> dict[str, Any]:
    from airflow.models.variable import Variable as VariableModel

    return json.loads(VariableModel.get(key))


def test_the_douyin_page_shows_token_expiry_and_rows_after_a_demo_sync(
    browser_driver, demo_sync, api_server, tmp_path
):
    shop_tokens = stored("douyin_token__douyin_shop_default")
    client_token = stored(client_token_variable_key(SANDBOX_CLIENT_KEY))
    with sqlite3.connect(demo_sync) as db:
        landed = {
            b.table.name: db.execute(f"SELECT COUNT(*) FROM douyin_{b.table.name}").fetchone()[0]
            for stream in STREAMS
            for b in get_stream(stream).tables
        }

    with browser_driver() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.goto(f"{api_server}/douyin-status/")
        page.wait_for_url("**/auth/login**")  # no session yet: Airflow's login, then back
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{api_server}/douyin-status/")

        shop = page.locator('tr[data-connection="douyin_shop_default"]').inner_text()
        assert show_time(shop_tokens["access_expires_at"]) in shop
        assert show_time(shop_tokens["refresh_expires_at"]) in shop
        app = page.locator(f'tr[data-connection="app {SANDBOX_CLIENT_KEY} (client token)"]').inner_text()
        assert show_time(client_token["expires_at"]) in app
        for stream in STREAMS:
            row = page.locator(f'tr[data-stream="{stream}"][data-target="{TARGET}"]')
            assert row.count() == 1, stream
            text = row.inner_text()
            for binding in get_stream(stream).tables:
                assert landed[binding.table.name] > 0
                assert f"{binding.table.name} {landed[binding.table.name]}" in text, (stream, text)
        assert "receiver not configured" in page.inner_text("body")

        html = page.content()
        for secret in (
            shop_tokens["access_token"],
            shop_tokens["refresh_token"],
            client_token["access_token"],
        ):
            assert secret not in html
        assert not [p.pattern for p in SECRET_PATTERNS if p.search(html)]
        page.screenshot(path=str(tmp_path / "douyin-page.png"), full_page=True)
        if os.environ.get("DOUYIN_PAGE_SCREENSHOT"):
            page.screenshot(path=os.environ["DOUYIN_PAGE_SCREENSHOT"], full_page=True)

        # The same page inside the Airflow UI, under the "Douyin" navigation entry.
        page.goto(f"{api_server}/plugin/douyin")
        frame = page.frame_locator("iframe")
        assert (
            show_time(shop_tokens["access_expires_at"])
            in frame.locator('tr[data-connection="douyin_shop_default"]').inner_text()
        )
        browser.close()

    # Monitoring systems: the same data as JSON, with an API token; nothing without one.
    assert requests.get(f"{api_server}/douyin-status/api/status", timeout=30).status_code == 401
    token = requests.post(
        f"{api_server}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30
    ).json()["access_token"]
    status = requests.get(
        f"{api_server}/douyin-status/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    (shop_json,) = (c for c in status["connections"] if c["conn_id"] == "douyin_shop_default")
    expiry = datetime.fromtimestamp(shop_tokens["access_expires_at"], timezone.utc)
    assert datetime.fromisoformat(shop_json["access_expires_at"]) == expiry
    assert shop_json["last_check_at"] and shop_json["last_error"] is None  # maintenance ran and succeeded
    by_stream = {s["stream"]: s for s in status["streams"] if s["target"] == TARGET}
    for stream in STREAMS:
        assert by_stream[stream]["rows"] == {
            b.table.name: landed[b.table.name] for b in get_stream(stream).tables
        }
    assert by_stream["orders"]["watermark"] and by_stream["orders"]["freshness_seconds"] > 0
    assert status["push"] == []
