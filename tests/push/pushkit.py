"""Test helpers: a sender that signs pushes by the documented formulas, and real receiver processes.

The sender shares no code with the receiver: it computes ``md5(app_key + body + app_secret)`` and
``sha1(client_secret + body)`` itself, as the platforms do.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from airflow_provider_douyin.sandbox import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_CLIENT_KEY,
    SANDBOX_CLIENT_SECRET,
)
from tests.airflow.deployment import PG_ADMIN, start_deployment, throwaway_database
from tests.conftest import ROOT

SHOP_CONN = "douyin_shop_push"
OTHER_SHOP_CONN = "douyin_shop_other"
OPEN_CONN = "douyin_open_push"
STORE_CONN = "douyin_push_store"
OTHER_APP_KEY, OTHER_APP_SECRET = "7000000000000000002", "other-secret-0123456789abcdef0123"
SHOP_ID = 1000001


def doudian_sign(body: bytes, app_key: str = SANDBOX_APP_KEY, secret: str = SANDBOX_APP_SECRET) -> str:
    return hashlib.md5(app_key.encode() + body + secret.encode()).hexdigest()


def open_sign(body: bytes, secret: str = SANDBOX_CLIENT_SECRET) -> str:
    return hashlib.sha1(secret.encode() + body).hexdigest()


def order_record(order_id: int | str, tag: str = "101", msg_id: str | None = None, **data: Any) -> dict:
    payload = {
        "biz": 2,
        "order_status": 2,
        "p_id": int(order_id),
        "s_ids": [int(order_id)],
        "shop_id": SHOP_ID,
    }
    payload.update(data)
    return {
        "tag": tag,
        "msg_id": msg_id or f"{order_id}:{tag}:{time.time_ns()}",
        "data": json.dumps(payload, separators=(",", ":")),
    }


def doudian_body(*records: dict) -> bytes:
    return json.dumps(list(records), separators=(",", ":")).encode()


def doudian_headers(body: bytes, **overrides: str | None) -> dict[str, str]:
    headers = {
        "app-id": SANDBOX_APP_KEY,
        "event-sign": doudian_sign(body),
        "content-type": "application/json",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v is not None}


def webhook_body(event: str = "life_trade_order_notify", order_id: str = "1080000000000000001") -> bytes:
    content = json.dumps({"order_id": order_id, "status": 1}, separators=(",", ":"))
    return json.dumps(
        {"event": event, "client_key": SANDBOX_CLIENT_KEY, "content": content, "log_id": str(time.time_ns())},
        separators=(",", ":"),
    ).encode()


def connection_env(store_path: Path, sandbox_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for a shop, another shop, an Open Platform app and the store."""

    def shop(key: str, secret: str) -> str:
        extra = {"shop_id": str(SHOP_ID), "qps": 50}
        return json.dumps(
            {
                "conn_type": "douyin_shop",
                "host": sandbox_url,
                "login": key,
                "password": secret,
                "extra": extra,
            }
        )

    return {
        f"AIRFLOW_CONN_{SHOP_CONN.upper()}": shop(SANDBOX_APP_KEY, SANDBOX_APP_SECRET),
        f"AIRFLOW_CONN_{OTHER_SHOP_CONN.upper()}": shop(OTHER_APP_KEY, OTHER_APP_SECRET),
        f"AIRFLOW_CONN_{OPEN_CONN.upper()}": json.dumps(
            {
                "conn_type": "douyin_open",
                "host": sandbox_url,
                "login": SANDBOX_CLIENT_KEY,
                "password": SANDBOX_CLIENT_SECRET,
                "extra": {"account_id": "7136518000000000001"},
            }
        ),
        f"AIRFLOW_CONN_{STORE_CONN.upper()}": json.dumps({"conn_type": "sqlite", "host": str(store_path)}),
    }


def wait_http(url: str, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}\n{log.read_text()[-4000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {seconds} s\n{log.read_text()[-4000:]}")


@dataclass
class Receiver:
    """A receiver process and the base URL its push paths hang off (``…/douyin/push``)."""

    base: str
    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(repr=False)

    def url(self, platform: str, conn_id: str) -> str:
        return f"{self.base}/{platform}/{conn_id}"

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
            "AIRFLOW_HOME": str(tmp / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": os.environ.get("AIRFLOW__CORE__FERNET_KEY", ""),
        }
    )
    return env


def start_standalone(env: dict[str, str], port: int, log: Path, *extra: str) -> Receiver:
    out = log.open("a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_douyin.push.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), *extra],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    receiver = Receiver(f"http://127.0.0.1:{port}/douyin/push", proc, log, env)
    try:
        wait_http(f"http://127.0.0.1:{port}/", 90, proc, log)
    except BaseException:
        receiver.stop()
        raise
    return receiver


@contextmanager
def standalone(env: dict[str, str], port: int, log: Path, *extra: str) -> Iterator[Receiver]:
    receiver = start_standalone(env, port, log, *extra)
    try:
        yield receiver
    finally:
        receiver.stop()


PLUGIN_SHIM = (
    "from airflow_provider_douyin.plugins.push_receiver import DouyinPushReceiverPlugin  # noqa: F401\n"
)


def plugin_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "douyin_push_receiver" for ep in entry_points(group="airflow.plugins"))


@contextmanager
def metadata_database(prefix: str = "h10a_push") -> Iterator[str]:
    """A throwaway PostgreSQL metadata database; skipped without a server unless CI=true."""
    import pytest

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(PG_ADMIN).close()
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    with throwaway_database(prefix) as url:
        yield url


@contextmanager
def mounted(env: dict[str, str], metadata_url: str, tmp: Path) -> Iterator[Receiver]:
    """``airflow api-server`` with the receiver plugin, on a migrated metadata database.

    Without the ``airflow.plugins`` entry point installed (a source checkout run through PYTHONPATH),
    the plugin is loaded from a plugins folder instead; the code mounted is the same.
    """
    plugins = tmp / "plugins"
    plugins.mkdir(exist_ok=True)
    if not plugin_installed():
        (plugins / "douyin_push_plugin.py").write_text(PLUGIN_SHIM)
    env = {**env, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins)}
    with start_deployment(tmp / "deployment", metadata_url, env=env, services=()) as deployed:
        api_server = deployed.services[0]
        yield Receiver(
            f"{deployed.url}/douyin/push", api_server, deployed.logs / "api-server.out", deployed.env
        )
