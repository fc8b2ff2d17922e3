"""DouyinShopHook in a notebook or script: no task supervisor, one token for many calls."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from airflow_provider_douyin.hooks.token_store import token_variable_key
from tests.airflow.conftest import CONN_ID, shop_connection

ROOT = Path(__file__).resolve().parents[2]
CALLS = 6
WARNING = "Douyin tokens are kept in this process only and will not persist"

SCRIPT = textwrap.dedent(
    f"""
    from airflow_provider_douyin.hooks.shop import DouyinShopHook

    hook = DouyinShopHook({CONN_ID!r})
    for _ in range({CALLS}):
        assert hook.call("product.listV2", {{"page": 1, "size": 1}})["total"] > 0
    second = DouyinShopHook({CONN_ID!r})
    second.call("product.listV2", {{"page": 1, "size": 1}})
    print("ok")
    """
)


def run_script(shop, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        f"AIRFLOW_CONN_{CONN_ID.upper()}": shop_connection(shop.url),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=environ, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
    return result


def test_without_a_metadata_database_one_token_serves_every_call_and_one_warning_says_so(shop):
    unreachable = "postgresql+psycopg2://postgres@127.0.0.1:1/none"
    result = run_script(shop, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=unreachable)

    requests = shop.stats()["requests_by_method"]
    assert requests == {"token.create": 1, "product.listV2": CALLS + 1}
    assert (result.stdout + result.stderr).count(WARNING) == 1


def test_with_a_metadata_database_the_token_is_kept_in_its_variable(shop, fresh_token_variable):
    from airflow.models.variable import Variable as VariableModel

    result = run_script(shop)

    assert shop.stats()["requests_by_method"] == {"token.create": 1, "product.listV2": CALLS + 1}
    assert WARNING not in result.stdout + result.stderr
    assert "SUPERVISOR_COMMS" not in result.stderr
    stored = VariableModel.get(token_variable_key(CONN_ID), default_var=None)
    assert stored and '"access_token"' in stored
