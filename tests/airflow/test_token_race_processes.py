"""Eight worker processes share one token pair across its expiry: no task may fail.

The processes share a throwaway PostgreSQL metadata database (the hook writes the token Variable
through the ORM outside a task) and one sandbox whose tokens live 12 seconds, so every process
crosses at least one rotation while the others refresh, get 31012, or meet a rotated token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from airflow_provider_douyin.client import DoudianShopClient
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 8
SECONDS = 28.0
SHORT_LIFETIMES = {"access_ttl": 12, "rotation_window": 10, "grace": 4, "refresh_hold_ms": 300}

WORKER = textwrap.dedent(
    f"""
    import json, sys, time
    from airflow_provider_douyin.hooks.shop import DouyinShopHook

    hook = DouyinShopHook({CONN_ID!r})
    ok, failures, stop = 0, [], time.monotonic() + float(sys.argv[1])
    while time.monotonic() < stop:
        try:
            hook.call("product.listV2", {{"page": 1, "size": 1}})
            ok += 1
        except Exception as exc:
            failures.append(f"{{type(exc).__name__}}: {{exc}}")
            break
        time.sleep(0.2)
    print(json.dumps({{"ok": ok, "failures": failures}}))
    """
)


@pytest.fixture(scope="module")
def shared_metadata_db():
    name = f"douyin_token_race_{uuid.uuid4().hex[:10]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c"]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}",
    }
    try:
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield env
    finally:
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def bootstrap_refresh_token(url: str) -> str:
    """What a tool app's one-time OAuth exchange would have produced."""
    with DoudianShopClient(
        app_key=SANDBOX_APP_KEY, app_secret=SANDBOX_APP_SECRET, base_url=url, shop_id=str(SHOP_ID)
    ) as client:
        params = {"code": "", "grant_type": "authorization_self", "shop_id": str(SHOP_ID)}
        return client.call("token.create", params)["refresh_token"]


@pytest.mark.parametrize("auth_mode", ["self", "code"])
def test_eight_processes_cross_token_expiry_without_a_failure(
    auth_mode, douyin_sandbox_factory, shared_metadata_db
):
    shop = douyin_sandbox_factory(orders=20, seed=5)
    shop.set_faults(**SHORT_LIFETIMES)
    extra = {"shop_id": str(SHOP_ID), "qps": 200, "auth_mode": auth_mode}
    if auth_mode == "code":
        extra["refresh_token"] = bootstrap_refresh_token(shop.url)
    env = {
        **shared_metadata_db,
        f"AIRFLOW_CONN_{CONN_ID.upper()}": shop_connection(shop.url, extra=extra),
        "AIRFLOW_VAR_UNUSED": "",
    }
    subprocess.run(  # each run starts from an empty token Variable
        [sys.executable, "-m", "airflow", "variables", "delete", f"douyin_token__{CONN_ID}"],
        env=env,
        capture_output=True,
    )
    seed = subprocess.run(
        [sys.executable, "-c", WORKER, "0.1"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert json.loads(seed.stdout.strip().splitlines()[-1]) == {"ok": 1, "failures": []}, seed.stderr[-3000:]
    time.sleep(SHORT_LIFETIMES["access_ttl"] + 1)  # all eight start on an expired stored pair
    shop.reset_stats()

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(SECONDS)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=SECONDS + 60)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    failures = [failure for result in results for failure in result["failures"]]
    assert failures == []
    assert all(result["ok"] > 50 for result in results)
    refreshes = shop.stats()["refreshes"]
    assert refreshes["case2"] + refreshes["case3"] >= 2  # the pair rotated at least twice
    assert refreshes["concurrent"] >= 1  # and the workers really raced (31012)
