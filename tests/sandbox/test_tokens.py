"""Doudian's token life cycle with lifetimes compressed from days into seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sandbox_testkit import SHOP_ID, Gateway, error_of

from airflow_provider_douyin.sandbox import SandboxServer

PROBE = ("product.listV2", {"page": 1, "size": 1})


def _refresh(gw: Gateway, refresh_token: str) -> dict[str, Any]:
    saved, gw.token = gw.token, ""
    try:
        return gw.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": refresh_token})
    finally:
        gw.token = saved


def _works(server: SandboxServer, access_token: str) -> tuple[int, str]:
    gw = Gateway(server)
    gw.token = access_token
    return error_of(gw.call(*PROBE))


def test_create_response_shape(gw: Gateway) -> None:
    data = gw.login()
    assert set(data) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "shop_id",
        "shop_name",
        "authority_id",
        "auth_subject_type",
    }
    assert isinstance(data["shop_id"], int) and data["shop_id"] == SHOP_ID
    assert data["authority_id"] == str(SHOP_ID)
    assert isinstance(data["expires_in"], int) and 7 * 86400 - 5 <= data["expires_in"] <= 7 * 86400
    assert len(data["access_token"]) >= 32 and len(data["refresh_token"]) >= 32
    assert data["access_token"] != data["refresh_token"]


def test_create_errors(gw: Gateway) -> None:
    gw.token = ""
    cases = [
        (
            {"code": "", "grant_type": "authorization_self", "shop_id": "999"},
            "dop.token-generate-failed:no-authorization",
        ),
        ({"code": "", "grant_type": "password"}, "dop.token-generate-failed:grant-type-invalid"),
        ({"code": "nope", "grant_type": "authorization_code"}, "dop.token-generate-failed:code-invalid"),
    ]
    for params, sub_code in cases:
        assert error_of(gw.call("token.create", params)) == (50001, sub_code)


def test_authorization_code_single_use_and_expiry(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = douyin_sandbox_factory(orders=20, auth_code_ttl=0.5)
    gw = Gateway(server)
    code = server.issue_auth_code(SHOP_ID)
    data = gw.data("token.create", {"code": code, "grant_type": "authorization_code"})
    assert data["shop_id"] == SHOP_ID
    reused = gw.call("token.create", {"code": code, "grant_type": "authorization_code"})
    assert error_of(reused) == (50001, "dop.token-generate-failed:code-invalid")
    stale = server.issue_auth_code(SHOP_ID)
    time.sleep(0.6)
    expired = gw.call("token.create", {"code": stale, "grant_type": "authorization_code"})
    assert error_of(expired) == (50001, "dop.token-generate-failed:code-expired")


def test_refresh_case1_returns_same_pair(gw: Gateway) -> None:
    first = gw.login()
    again = _refresh(gw, first["refresh_token"])
    assert again["code"] == 10000
    assert again["data"]["access_token"] == first["access_token"]
    assert again["data"]["refresh_token"] == first["refresh_token"]
    assert abs(again["data"]["expires_in"] - first["expires_in"]) <= 1
    assert gw.server.stats()["refreshes"]["case1"] == 1


def test_refresh_case2_rotates_with_grace(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(
        orders=20, access_ttl=3.0, refresh_ttl=20.0, rotation_window=2.5, grace=1.0, refresh_hold_ms=0
    )
    gw = Gateway(server)
    old = gw.login()
    time.sleep(0.7)  # now inside the rotation window (2.3 s left < 2.5 s)
    new = _refresh(gw, old["refresh_token"])["data"]
    assert new["access_token"] != old["access_token"] and new["refresh_token"] != old["refresh_token"]
    assert 2 <= new["expires_in"] <= 3
    assert server.stats()["refreshes"]["case2"] == 1
    assert _works(server, old["access_token"]) == (10000, "")  # grace
    assert _works(server, new["access_token"]) == (10000, "")
    replay = _refresh(gw, old["refresh_token"])["data"]  # lost-response replay inside the grace
    assert replay["access_token"] == new["access_token"]
    time.sleep(1.1)
    assert _works(server, old["access_token"]) == (40003, "isv.access-token-expired")
    assert error_of(_refresh(gw, old["refresh_token"])) == (50001, "dop.token-generate-failed:token-expired")
    assert _works(server, new["access_token"]) == (10000, "")


def test_refresh_case3_after_expiry_kills_old_pair(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = douyin_sandbox_factory(orders=20, access_ttl=0.5, refresh_ttl=20.0, refresh_hold_ms=0)
    gw = Gateway(server)
    old = gw.login()
    time.sleep(0.6)
    assert _works(server, old["access_token"]) == (40003, "isv.access-token-expired")
    new = _refresh(gw, old["refresh_token"])["data"]
    assert new["refresh_token"] != old["refresh_token"]
    assert server.stats()["refreshes"]["case3"] == 1
    assert _works(server, new["access_token"]) == (10000, "")
    assert _works(server, old["access_token"]) == (40003, "isv.access-token-no-existed")
    assert error_of(_refresh(gw, old["refresh_token"])) == (50001, "dop.token-generate-failed:token-invalid")


def test_refresh_errors(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=20, refresh_ttl=0.3, access_ttl=0.2, refresh_hold_ms=0)
    gw = Gateway(server)
    pair = gw.login()
    assert error_of(_refresh(gw, "rft.unknown")) == (50001, "dop.token-generate-failed:token-invalid")
    wrong_grant = gw.call(
        "token.refresh", {"grant_type": "authorization_self", "refresh_token": pair["refresh_token"]}
    )
    assert error_of(wrong_grant) == (50001, "dop.token-generate-failed:grant-type-invalid")
    time.sleep(0.4)
    assert error_of(_refresh(gw, pair["refresh_token"])) == (50001, "dop.token-generate-failed:token-expired")


def test_concurrent_refresh_gets_31012(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = douyin_sandbox_factory(orders=20, refresh_hold_ms=300)
    pair = Gateway(server).login()
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        gw = Gateway(server)
        barrier.wait(timeout=5)
        results.append(_refresh(gw, pair["refresh_token"]))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    outcomes = sorted(error_of(r) for r in results)
    assert outcomes == [(10000, ""), (50002, "isv.business-failed:31012")]
    failed = next(r for r in results if r["code"] == 50002)
    assert failed["sub_msg"] == "刷新token失败，有并发请求"
    assert server.stats()["refreshes"]["concurrent"] == 1
    # once the first refresh finished, calling again succeeds (the documented advice)
    assert _refresh(Gateway(server), pair["refresh_token"])["code"] == 10000


def test_lost_refresh_reply_rotates_but_answers_nothing(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    """``lost_replies_before_expiry``: the gateway rotates, the connection closes without a reply."""
    server = douyin_sandbox_factory(
        orders=20,
        access_ttl=3.0,
        rotation_window=2.5,
        grace=5.0,
        refresh_hold_ms=0,
        lost_replies_before_expiry=1,
        lost_replies_after_expiry=1,
    )
    gw = Gateway(server)
    old = gw.login()
    assert _refresh(gw, old["refresh_token"])["code"] == 10000  # case 1 rotates nothing, loses nothing
    time.sleep(0.7)  # inside the rotation window: case 2
    with pytest.raises(requests.ConnectionError):
        _refresh(Gateway(server), old["refresh_token"])
    stats = server.stats()["refreshes"]
    assert (stats["case2"], stats["reply_lost"]) == (1, 1)
    faults = server.info()["faults"]
    assert (faults["lost_replies_before_expiry"], faults["lost_replies_after_expiry"]) == (0, 1)
    replay = _refresh(gw, old["refresh_token"])["data"]  # the grace hands the lost pair back
    assert replay["access_token"] != old["access_token"]
    assert _works(server, replay["access_token"]) == (10000, "")


def test_lost_refresh_reply_after_expiry_leaves_the_old_pair_dead(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    server = douyin_sandbox_factory(orders=20, access_ttl=0.5, refresh_hold_ms=0)
    gw = Gateway(server)
    old = gw.login()
    time.sleep(0.6)
    server.set_faults(lost_replies_after_expiry=1)
    with pytest.raises(requests.ConnectionError):
        _refresh(Gateway(server), old["refresh_token"])
    assert server.stats()["refreshes"]["case3"] == 1
    assert error_of(_refresh(gw, old["refresh_token"])) == (50001, "dop.token-generate-failed:token-invalid")


def test_an_injected_wall_clock_drives_the_timestamp_check_and_every_token_lifetime(
    douyin_sandbox_factory: Callable[..., SandboxServer],
) -> None:
    """A test that signs with a simulated clock hands it to the sandbox; real time then plays no part."""
    now = [1_700_000_000.0]
    server = douyin_sandbox_factory(orders=20, wall_clock=lambda: now[0], refresh_hold_ms=0)
    gw = Gateway(server)

    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return gw.call(method, params, timestamp=str(int(now[0])))

    create = {"code": "", "grant_type": "authorization_self", "shop_id": str(SHOP_ID)}
    assert error_of(gw.call("token.create", create)) == (
        40003,
        "isv.timestamp-invalid",
    )  # signed at real time
    pair = call("token.create", create)["data"]
    assert pair["expires_in"] == 7 * 86400
    code = server.issue_auth_code(SHOP_ID)
    now[0] += 601
    expired_code = call("token.create", {"code": code, "grant_type": "authorization_code"})
    assert error_of(expired_code) == (50001, "dop.token-generate-failed:code-expired")
    now[0] += 7 * 86400
    gw.token = pair["access_token"]
    assert error_of(call(*PROBE)) == (40003, "isv.access-token-expired")
    gw.token = ""
    new = call("token.refresh", {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})[
        "data"
    ]
    assert new["expires_in"] == 7 * 86400
    assert server.stats()["refreshes"]["case3"] == 1
