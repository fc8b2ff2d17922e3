"""Open Platform OAuth in the sandbox: client tokens, user tokens, their lifetimes, limits and codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from open_testkit import ORDERS, OpenCaller, codes

from airflow_provider_douyin.sandbox import SandboxServer

DAY = 86400
EXPIRED = {2190008, 28001008}
INVALID = {2190002, 28001003}
Factory = Callable[..., SandboxServer]


@pytest.fixture
def server(douyin_sandbox_factory: Factory) -> SandboxServer:
    return douyin_sandbox_factory(orders=20, life_orders=60)


def _orders_reply(caller: OpenCaller, token: str) -> dict[str, Any]:
    caller.token = token
    return caller.get(ORDERS, {"account_id": caller.server.account_ids[0], "page_size": 10})


def _user_pair(caller: OpenCaller, form: bool = False) -> dict[str, Any]:
    code = caller.server.issue_open_auth_code()
    reply = caller.post("/oauth/access_token/", {
        "client_key": caller.server.client_key, "client_secret": caller.server.client_secret,
        "code": code, "grant_type": "authorization_code",
    }, form=form)  # fmt: skip
    assert reply["message"] == "success" and reply["data"]["error_code"] == 0, reply
    return reply["data"]


def _refresh(caller: OpenCaller, refresh_token: str) -> dict[str, Any]:
    return caller.post("/oauth/refresh_token/", {
        "client_key": caller.server.client_key, "grant_type": "refresh_token", "refresh_token": refresh_token,
    }, form=True)["data"]  # fmt: skip


def _renew(caller: OpenCaller, refresh_token: str) -> dict[str, Any]:
    return caller.post("/oauth/renew_refresh_token/", {
        "client_key": caller.server.client_key, "refresh_token": refresh_token,
    }, form=True)["data"]  # fmt: skip


def _user_info(caller: OpenCaller, access_token: str, open_id: str) -> dict[str, Any]:
    return caller.post("/oauth/userinfo/", {"access_token": access_token, "open_id": open_id}, form=True)


# --------------------------------------------------------------------------- client tokens
def test_client_token_reply_and_use(server: SandboxServer) -> None:
    caller = OpenCaller(server)
    reply = caller.fetch_client_token()
    assert reply["message"] == "success"
    data = reply["data"]
    assert data["error_code"] == 0 and data["description"] == "" and data["expires_in"] == 7200
    assert data["access_token"].startswith("clt.")
    assert _orders_reply(caller, data["access_token"])["data"]["error_code"] == 0
    assert server.open_stats()["client_token"] == {server.client_key: {"fetched": 1, "rejected": 0}}


def test_client_token_bad_requests(server: SandboxServer) -> None:
    caller = OpenCaller(server)
    wrong = caller.fetch_client_token(secret="0" * 32)
    assert wrong["data"]["error_code"] == 2100005 and "logid" in wrong["extra"]
    assert "message" not in wrong
    missing = caller.post("/oauth/client_token/", {"client_key": server.client_key})
    assert missing["data"]["error_code"] == 10005
    credentials = {"client_key": server.client_key, "client_secret": server.client_secret}
    bad_grant = caller.post("/oauth/client_token/", {**credentials, "grant_type": "authorization_code"})
    assert bad_grant["data"]["error_code"] == 2100005
    assert server.open_stats()["client_token"] == {}


def test_a_new_client_token_leaves_the_previous_one_a_grace_and_kills_older_ones(
    douyin_sandbox_factory: Factory,
) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=60, client_token_grace=1.0)
    caller = OpenCaller(server)
    first = caller.login()
    second = caller.login()
    assert first != second
    assert codes(_orders_reply(caller, first)) == (0, 0), "the previous token works during the grace"
    third = caller.login()
    assert codes(_orders_reply(caller, first))[0] in INVALID, "only the latest two tokens are valid"
    assert codes(_orders_reply(caller, second)) == (0, 0)
    time.sleep(1.1)
    assert codes(_orders_reply(caller, second))[0] in INVALID, "the grace is over"
    assert codes(_orders_reply(caller, third)) == (0, 0)


def test_an_expired_client_token_answers_both_documented_codes(
    douyin_sandbox_factory: Factory,
) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=60, client_token_ttl=1.0)
    caller = OpenCaller(server)
    assert caller.fetch_client_token()["data"]["expires_in"] == 1
    token = caller.login()
    time.sleep(1.1)
    seen = [codes(_orders_reply(caller, token)) for _ in range(2)]
    assert {data for data, _ in seen} == EXPIRED
    assert all(data == extra for data, extra in seen), "data and extra carry the same code"
    unknown = _orders_reply(caller, "clt.not-issued")
    assert codes(unknown)[0] in INVALID
    assert codes(_orders_reply(caller, ""))[0] in INVALID


def test_more_than_500_client_token_calls_in_5_minutes_fail_with_10020(server: SandboxServer) -> None:
    caller = OpenCaller(server)
    for _ in range(500):
        assert caller.fetch_client_token()["data"]["error_code"] == 0
    refused = caller.fetch_client_token()
    assert refused["data"]["error_code"] == 10020 and "extra" in refused
    assert server.open_stats()["client_token"][server.client_key] == {"fetched": 500, "rejected": 1}


# --------------------------------------------------------------------------- user tokens
@pytest.mark.parametrize("form", [False, True])
def test_authorization_code_gives_a_15_day_access_and_30_day_refresh_token(
    server: SandboxServer, form: bool
) -> None:
    caller = OpenCaller(server)
    pair = _user_pair(caller, form=form)
    assert pair["access_token"].startswith("act.") and pair["refresh_token"].startswith("rft.")
    assert pair["expires_in"] == 15 * DAY and pair["refresh_expires_in"] == 30 * DAY
    assert pair["open_id"] == "_000sandbox0001" and "user_info" in pair["scope"]
    info = _user_info(caller, pair["access_token"], pair["open_id"])
    assert info["data"]["open_id"] == pair["open_id"] and info["data"]["error_code"] == 0


def test_an_authorization_code_is_single_use_and_expires(douyin_sandbox_factory: Factory) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=60, auth_code_ttl=0.5)
    caller = OpenCaller(server)
    code = server.issue_open_auth_code(open_id="_000someone")
    exchange = {"client_key": server.client_key, "client_secret": server.client_secret, "code": code,
                "grant_type": "authorization_code"}  # fmt: skip
    assert caller.post("/oauth/access_token/", exchange)["data"]["open_id"] == "_000someone"
    assert caller.post("/oauth/access_token/", exchange)["data"]["error_code"] == 10007
    late = {**exchange, "code": server.issue_open_auth_code()}
    time.sleep(0.6)
    assert caller.post("/oauth/access_token/", late)["data"]["error_code"] == 10007
    wrong_secret = {**exchange, "code": server.issue_open_auth_code(), "client_secret": "x"}
    assert caller.post("/oauth/access_token/", wrong_secret)["data"]["error_code"] == 2100005


def test_refresh_issues_a_new_access_token_and_keeps_the_refresh_token(server: SandboxServer) -> None:
    caller = OpenCaller(server)
    pair = _user_pair(caller)
    time.sleep(1.0)
    refreshed = _refresh(caller, pair["refresh_token"])
    assert refreshed["error_code"] == 0 and refreshed["expires_in"] == 15 * DAY
    assert refreshed["access_token"] != pair["access_token"]
    assert refreshed["refresh_token"] == pair["refresh_token"]
    assert refreshed["refresh_expires_in"] < 30 * DAY, "the refresh token's expiry does not move"
    for token in (pair["access_token"], refreshed["access_token"]):
        assert _user_info(caller, token, pair["open_id"])["data"]["error_code"] == 0
    assert server.open_stats()["user_token"] == {"access_token": 1, "refresh_token": 1}


def test_expired_user_tokens_answer_10008_and_10010(douyin_sandbox_factory: Factory) -> None:
    server = douyin_sandbox_factory(orders=20, life_orders=60, open_access_ttl=0.5, open_refresh_ttl=1.0)
    caller = OpenCaller(server)
    pair = _user_pair(caller)
    assert pair["expires_in"] == 0 and pair["refresh_expires_in"] == 1
    time.sleep(0.6)
    expired = _user_info(caller, pair["access_token"], pair["open_id"])
    assert expired["data"]["error_code"] == 10008 and "logid" in expired["extra"]
    assert _refresh(caller, pair["refresh_token"])["error_code"] == 0, "the refresh token still lives"
    time.sleep(0.5)
    assert _refresh(caller, pair["refresh_token"])["error_code"] == 10010
    assert _renew(caller, pair["refresh_token"])["error_code"] == 10010


def test_five_renewals_then_10020_and_each_renewal_kills_the_old_refresh_token(server: SandboxServer) -> None:
    caller = OpenCaller(server)
    refresh_token = _user_pair(caller)["refresh_token"]
    for _ in range(5):
        renewed = _renew(caller, refresh_token)
        assert renewed["error_code"] == 0 and renewed["expires_in"] == 30 * DAY
        assert renewed["refresh_token"].startswith("rft.") and renewed["refresh_token"] != refresh_token
        assert _refresh(caller, refresh_token)["error_code"] == 10010, "the old refresh token dies at once"
        refresh_token = renewed["refresh_token"]
    assert _refresh(caller, refresh_token)["error_code"] == 0
    refused = _renew(caller, refresh_token)
    assert refused["error_code"] == 10020
    assert _refresh(caller, refresh_token)["error_code"] == 0, "a refused renewal leaves the token alive"
    assert server.open_stats()["user_token"]["renew_refresh_token"] == 5


def test_a_renewed_chain_spans_the_compressed_lifetimes(douyin_sandbox_factory: Factory) -> None:
    """Renewing before each expiry keeps an authorisation for 6 refresh lifetimes, then it ends."""
    server = douyin_sandbox_factory(orders=20, life_orders=60, open_refresh_ttl=0.6)
    caller = OpenCaller(server)
    refresh_token = _user_pair(caller)["refresh_token"]
    for _ in range(5):
        time.sleep(0.3)
        refresh_token = _renew(caller, refresh_token)["refresh_token"]
    time.sleep(0.3)
    assert _renew(caller, refresh_token)["error_code"] == 10020
    time.sleep(0.4)
    assert _refresh(caller, refresh_token)["error_code"] == 10010


def test_oauth_endpoints_take_post_only(server: SandboxServer) -> None:
    response = OpenCaller(server).session.get(server.url + "/oauth/client_token/", timeout=10)
    assert response.status_code == 200 and response.json()["data"]["error_code"] == 2100005
