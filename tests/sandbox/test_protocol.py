"""Gateway protocol: envelope, every documented platform error, access-token checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sandbox_testkit import Gateway, canonical, error_of, make_sign

from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SandboxServer

BODY = canonical({"page": 1, "size": 2})


def _post(
    gw: Gateway, query: dict[str, str], path: str = "/product/listV2", body: str = BODY
) -> dict[str, Any]:
    return gw.session.post(gw.server.url + path, params=query, data=body.encode(), timeout=10).json()


def _query(gw: Gateway, method: str = "product.listV2", ts: str | None = None, **over: str) -> dict[str, str]:
    ts = ts or str(int(time.time()))
    query = {
        "app_key": gw.app_key,
        "method": method,
        "timestamp": ts,
        "v": "2",
        "access_token": gw.token,
        "sign": make_sign(gw.secret, gw.app_key, method, BODY, ts),
    }
    query.update(over)
    return {k: v for k, v in query.items() if v is not None}


def _signed_at(gw: Gateway, ts: str) -> dict[str, str]:
    return _query(gw, ts=ts, sign=make_sign(gw.secret, gw.app_key, "product.listV2", BODY, ts))


CASES: list[tuple[str, Callable[[Gateway], dict[str, Any]], int, str]] = [
    ("method missing", lambda g: _post(g, _query(g, method=None)), 40001, "isv.parameter-missing"),  # type: ignore[arg-type]
    ("method != path", lambda g: _post(g, _query(g), path="/product/detail"), 40003, "isv.parameter-invalid"),
    (
        "unknown api",
        lambda g: _post(g, _query(g, method="foo.bar"), path="/foo/bar"),
        70000,
        "isp.api-service-off",
    ),
    ("app_key missing", lambda g: _post(g, _query(g, app_key=None)), 40001, "isv.app-id-missing"),  # type: ignore[arg-type]
    (
        "app_key 18 digits",
        lambda g: _post(g, _query(g, app_key="340940934847935401")),
        40003,
        "isv.app-id-invalid",
    ),
    (
        "app_key unknown",
        lambda g: _post(g, _query(g, app_key="1111111111111111111")),
        40003,
        "isv.app-id-invalid",
    ),
    ("sign missing", lambda g: _post(g, _query(g, sign=None)), 40001, "isv.signature-missing"),  # type: ignore[arg-type]
    ("sign wrong", lambda g: _post(g, _query(g, sign="abc")), 40003, "isv.signature-invalid"),
    ("bad sign_method", lambda g: _post(g, _query(g, sign_method="sha1")), 40003, "isv.parameter-invalid"),
    ("bad v", lambda g: _post(g, _query(g, v="1")), 40003, "isv.parameter-invalid"),
    (
        "timestamp garbage",
        lambda g: _post(g, _signed_at(g, "yesterday")),
        40003,
        "isv.timestamp-format-error",
    ),
    (
        "timestamp 11 min old",
        lambda g: _post(g, _signed_at(g, str(int(time.time()) - 660))),
        40003,
        "isv.timestamp-invalid",
    ),
    (
        "timestamp 11 min ahead ms",
        lambda g: _post(g, _signed_at(g, str(int(time.time() * 1000) + 660_000))),
        40003,
        "isv.timestamp-invalid",
    ),
    (
        "param_json not json",
        lambda g: g.send("product.listV2", "{not json").json(),
        40003,
        "isv.parameter-format-invalid",
    ),
    (
        "param_json not object",
        lambda g: g.send("product.listV2", "[1,2]").json(),
        40003,
        "isv.parameter-format-invalid",
    ),
]


@pytest.mark.parametrize(("name", "request_fn", "code", "sub_code"), CASES, ids=[c[0] for c in CASES])
def test_platform_errors(gw: Gateway, name: str, request_fn: Callable, code: int, sub_code: str) -> None:
    envelope = request_fn(gw)
    assert error_of(envelope) == (code, sub_code), envelope
    assert envelope["data"] == {}
    assert envelope["err_no"] == code


@pytest.mark.parametrize(
    "ts",
    [
        lambda: str(int(time.time())),
        lambda: str(int(time.time() * 1000)),
        lambda: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600)),
        lambda: str(int(time.time()) - 590),
    ],
    ids=["seconds", "millis", "shanghai-string", "590s-skew"],
)
def test_timestamp_formats_accepted(gw: Gateway, ts: Callable[[], str]) -> None:
    assert _post(gw, _signed_at(gw, ts()))["code"] == 10000


def test_success_envelope_and_log_ids(gw: Gateway) -> None:
    first = gw.send("product.listV2", BODY)
    second = gw.send("product.listV2", BODY)
    body = first.json()
    assert list(body)[:6] == ["code", "msg", "sub_code", "sub_msg", "log_id", "data"]
    assert (body["code"], body["msg"], body["sub_code"], body["sub_msg"]) == (10000, "success", "", "")
    assert (body["err_no"], body["message"]) == (0, "success")
    assert body["log_id"] == first.headers["x-tt-logid"]
    assert body["log_id"] != second.json()["log_id"]
    assert body["log_id"][:14].isdigit() and len(body["log_id"]) >= 30
    modern = gw.send("product.listV2", BODY, headers={"x-open-no-old-err-code": "1"}).json()
    assert "err_no" not in modern and "message" not in modern
    assert modern["code"] == 10000


def test_access_token_errors(douyin_sandbox_factory: Callable[..., SandboxServer]) -> None:
    other_key, other_secret = "1234567890123456789", "other-secret"
    server = douyin_sandbox_factory(orders=50, extra_apps={other_key: other_secret}, access_ttl=1.0)
    gw = Gateway(server)
    assert error_of(gw.call("product.listV2", {"page": 1, "size": 1})) == (40001, "isv.access-token-missing")
    gw.token = "act.unknown"
    assert error_of(gw.call("product.listV2", {"page": 1, "size": 1})) == (
        40003,
        "isv.access-token-no-existed",
    )
    gw.login()
    other = Gateway(server, other_key, other_secret)
    other.token = gw.token
    assert error_of(other.call("product.listV2", {"page": 1, "size": 1})) == (
        40003,
        "isv.access-token-invalid",
    )
    assert gw.call("product.listV2", {"page": 1, "size": 1})["code"] == 10000
    time.sleep(1.1)
    assert error_of(gw.call("product.listV2", {"page": 1, "size": 1})) == (40003, "isv.access-token-expired")


def test_control_endpoints_over_http(douyin_sandbox: SandboxServer) -> None:
    url = douyin_sandbox.url
    info = requests.get(url + "/sandbox/info", timeout=5).json()
    assert info["app_key"] == SANDBOX_APP_KEY and info["app_secret"] == SANDBOX_APP_SECRET
    assert info["shop_ids"] == [1000001]
    assert info["shops"][0]["orders"] == 500
    faults = requests.post(url + "/sandbox/faults", json={"latency_ms": 5}, timeout=5).json()
    assert faults["latency_ms"] == 5 and faults["qps_limit"] == 0
    assert requests.post(url + "/sandbox/faults", json={"nope": 1}, timeout=5).status_code == 400
    assert requests.get(url + "/sandbox/nothing", timeout=5).status_code == 404
    assert requests.get(url + "/sandbox/truth/bogus", timeout=5).status_code == 404
    lines = requests.get(
        url + "/sandbox/truth/products", params={"shop_id": 1000001}, timeout=5
    ).text.splitlines()
    assert len(lines) == info["shops"][0]["products"]
    mutated = requests.post(url + "/sandbox/mutate", json={"new_orders": 2}, timeout=5).json()
    assert len(mutated["shops"][0]["created"]) == 2
    assert douyin_sandbox.info()["shops"][0]["orders"] == 502
