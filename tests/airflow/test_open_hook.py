"""DouyinOpenHook and `douyin-oauth`: a douyin_open connection against the sandbox, as a user sets it up.

A user creates the connection, runs `douyin-oauth url` and `douyin-oauth exchange` once, and from then
on tasks read 抖音来客 data with the stored client token and keep the user's chain fresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_douyin.client.errors import DouyinConfigError, DouyinError
from airflow_provider_douyin.client.open_platform import LIFE_ORDER_QUERY
from airflow_provider_douyin.hooks.open_platform import DouyinOpenHook, client_token_variable_key
from airflow_provider_douyin.hooks.token_store import token_variable_key
from airflow_provider_douyin.oauth_cli import main as oauth_main

ROOT = Path(__file__).resolve().parents[2]
CONN_ID = "douyin_open_default"


def open_connection(server: Any, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "douyin_open",
            "host": server.url,
            "login": server.client_key,
            "password": server.client_secret,
            "extra": {"account_id": server.account_ids[0], **extra},
        }
    )


@pytest.fixture
def life(douyin_sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = douyin_sandbox_factory(orders=10, life_orders=80)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        open_connection(
            server,
            scopes="life.capacity.order.query,user_info",
            redirect_uri="https://erp.example/cb",
            root_account_id=server.open_info()["root_account_id"],
        ),
    )
    return server


@pytest.fixture
def clean_variables(airflow_db: Any, life: Any) -> Any:
    from airflow.models.variable import Variable as VariableModel  # the metadata DB itself, not a task

    keys = (token_variable_key(CONN_ID), client_token_variable_key(life.client_key))
    for key in keys:
        VariableModel.delete(key)
    yield keys
    for key in keys:
        VariableModel.delete(key)


@pytest.mark.parametrize(
    ("conn", "field"),
    [
        ({"login": ""}, "login (client_key)"),
        ({"login": "has space"}, "login (client_key)"),
        ({"password": ""}, "password (client_secret)"),
        ({"host": "open.douyin.com"}, "host"),
        ({"extra": {"account_id": "abc"}}, "'account_id'"),
        ({"extra": {"root_account_id": "root"}}, "'root_account_id'"),
        ({"extra": {"qps": "fast"}}, "'qps'"),
        ({"extra": {"qps": 0}}, "'qps'"),
        ({"extra": {"redirect_uri": "erp.example/cb"}}, "'redirect_uri'"),
        ({"extra": {"scopes": 5}}, "'scopes'"),
    ],
)
def test_a_misconfigured_connection_fails_at_hook_creation_naming_the_field(
    life: Any, monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], field: str
) -> None:
    base = json.loads(open_connection(life))
    monkeypatch.setenv("AIRFLOW_CONN_DOUYIN_OPEN_BAD", json.dumps({**base, **conn}))
    with pytest.raises(DouyinConfigError) as caught:
        DouyinOpenHook("douyin_open_bad")
    assert field in str(caught.value)
    assert isinstance(caught.value, (DouyinError, ValueError))
    assert life.client_secret not in str(caught.value)


def test_the_hook_reads_life_orders_with_one_stored_client_token(life: Any, clean_variables: Any) -> None:
    from airflow.models.variable import Variable as VariableModel

    for _ in range(2):
        with DouyinOpenHook(CONN_ID) as hook:
            data = hook.call(
                LIFE_ORDER_QUERY, {"account_id": life.account_ids[0], "page_num": 1, "page_size": 10}
            )
            assert len(data["orders"]) == 10

    fetched = sum(entry["fetched"] for entry in life.open_stats()["client_token"].values())
    assert fetched == 1
    stored = json.loads(VariableModel.get(client_token_variable_key(life.client_key)))
    assert stored["access_token"].startswith("clt.")
    assert life.open_stats()["life_account_headers"]  # Rpc-Transit-Life-Account went out


def test_test_connection_reuses_the_stored_token_and_stores_nothing(life: Any, clean_variables: Any) -> None:
    from airflow.models.variable import Variable as VariableModel

    ok, message = DouyinOpenHook(CONN_ID).test_connection()
    assert ok, message
    assert "orders visible" in message
    assert VariableModel.get(clean_variables[1], default_var=None) is None

    with DouyinOpenHook(CONN_ID) as hook:  # a task stores the app's token ...
        hook.client.client_tokens.access_token()
    ok, _ = DouyinOpenHook(CONN_ID).test_connection()  # ... which the Test button then reuses
    assert ok
    assert sum(entry["fetched"] for entry in life.open_stats()["client_token"].values()) == 2


def test_test_connection_reports_a_bad_secret_without_showing_it(
    life: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(open_connection(life))
    conn["password"] = "wrong-secret-value-123"
    monkeypatch.setenv("AIRFLOW_CONN_DOUYIN_OPEN_WRONG", json.dumps(conn))
    ok, message = DouyinOpenHook("douyin_open_wrong").test_connection()
    assert not ok
    assert "wrong-secret-value-123" not in message
    assert "code=" in message


def test_oauth_url_prints_the_authorization_page_for_the_connection(
    life: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert oauth_main(["url", "--conn-id", CONN_ID, "--state", "s1"]) == 0
    url = urlsplit(capsys.readouterr().out.strip())
    assert url.path == "/platform/oauth/connect/"
    assert parse_qs(url.query) == {
        "client_key": [life.client_key],
        "response_type": ["code"],
        "scope": ["life.capacity.order.query,user_info"],
        "redirect_uri": ["https://erp.example/cb"],
        "state": ["s1"],
    }


def test_oauth_url_names_what_the_connection_lacks(
    life: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DOUYIN_OPEN_BARE", open_connection(life))
    assert oauth_main(["url", "--conn-id", "douyin_open_bare"]) == 2
    assert "scopes and redirect_uri" in capsys.readouterr().err


def test_oauth_exchange_stores_the_chain_that_tasks_then_use(
    life: Any, clean_variables: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.models.variable import Variable as VariableModel

    code = life.issue_open_auth_code()
    assert oauth_main(["exchange", "--conn-id", CONN_ID, code]) == 0
    out = capsys.readouterr().out
    stored = json.loads(VariableModel.get(token_variable_key(CONN_ID)))
    assert stored["access_token"] not in out and stored["refresh_token"] not in out
    assert f"Variable {token_variable_key(CONN_ID)}" in out

    with DouyinOpenHook(CONN_ID) as hook:
        assert hook.client.user_tokens is not None
        assert hook.client.user_tokens.access_token() == stored["access_token"]
        assert hook.client.user_tokens.health()["renewals_left"] == 5

    assert oauth_main(["exchange", "--conn-id", CONN_ID, code]) == 1  # a code works once
    assert "code=" in capsys.readouterr().err


def test_oauth_exchange_refuses_to_keep_tokens_only_in_memory(life: Any) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://postgres@127.0.0.1:1/none",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_douyin.oauth_cli",
            "exchange",
            "--conn-id",
            CONN_ID,
            "any-code",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no reachable Airflow metadata database" in result.stderr
    assert life.open_stats()["user_token"] == {}  # the code was not spent


def test_token_maintenance_keeps_the_client_token_and_warns_before_the_user_chain_ends(
    life: Any, clean_variables: Any
) -> None:
    from airflow.models.variable import Variable as VariableModel

    from airflow_provider_douyin.operators import tokens
    from airflow_provider_douyin.operators.tokens import DouyinTokenRefreshOperator

    operator = DouyinTokenRefreshOperator(task_id="refresh_open", douyin_conn_id=CONN_ID)
    first = operator.execute(context={})
    assert first["user_authorized"] is False and first["warnings"] == []
    assert first["client_token_expires_at"]

    assert oauth_main(["exchange", "--conn-id", CONN_ID, life.issue_open_auth_code()]) == 0
    healthy = operator.execute(context={})
    assert healthy["user_authorized"] is True
    assert healthy["renewals_left"] == 5 and healthy["warnings"] == []

    key = token_variable_key(CONN_ID)
    chain = json.loads(VariableModel.get(key))
    VariableModel.set(key, json.dumps({**chain, "renewals": 4}))  # four renewals spent long ago
    warned = operator.execute(context={})
    assert warned["renewals_left"] == 1
    assert any("renewal(s) left" in warning for warning in warned["warnings"])
    assert all(value not in json.dumps(warned) for value in (chain["access_token"], chain["refresh_token"]))
    assert sum(entry["fetched"] for entry in life.open_stats()["client_token"].values()) == 1

    missing = DouyinTokenRefreshOperator(task_id="x", douyin_conn_id="no_such_conn", skip_if_missing=True)
    with pytest.raises(tokens.AirflowSkipException):
        missing.execute(context={})
