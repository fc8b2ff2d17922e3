"""Failures as the gateway produces them: typed errors, retry bounds, re-signing and the flow log."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from airflow_provider_douyin.client import (
    DouyinAuthError,
    DouyinReauthorizationRequired,
    DouyinRequestError,
    DouyinResponseShapeError,
    DouyinThrottledError,
    DouyinTransientError,
    InMemoryTokenStore,
    RetryPolicy,
    Transport,
)
from airflow_provider_douyin.client.doudian import DoudianProtocol
from airflow_provider_douyin.client.signing import sign_request

from .fakes import APP_KEY, APP_SECRET, BASE_URL, DAY, FakeClock, envelope, stored_pair
from .sandbox_gateway import PROBE, SandboxGateway

URL = f"{BASE_URL}/order/searchList"
PARAMS = {"page": 3, "size": 50, "update_time_start": 1699990000}
BUSY = envelope(20000, sub_code="isp.service-error:20004", msg="服务不可用", log_id="LOG-BUSY")
THROTTLED = envelope(
    60000, sub_code="isv.traffic-limited", sub_msg="请求太频繁，请稍后重试", log_id="LOG-QPS"
)


def make_transport(clock: FakeClock, policy: RetryPolicy, sleeps: list[float] | None = None) -> Transport:
    protocol = DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET, clock=clock)
    return Transport(protocol, retry=policy, sleep=(sleeps.append if sleeps is not None else clock.sleep))


@pytest.mark.parametrize(("env", "error"), [(BUSY, DouyinTransientError), (THROTTLED, DouyinThrottledError)])
def test_retryable_errors_stop_after_max_attempts(
    requests_mock: Any, clock: FakeClock, env: dict, error: type
) -> None:
    requests_mock.post(URL, json=env)
    sleeps: list[float] = []
    transport = make_transport(clock, RetryPolicy(max_attempts=4, initial=0.5, maximum=20.0), sleeps)
    with pytest.raises(error) as info:
        transport.request("order.searchList", PARAMS, access_token="act.token-1")
    assert requests_mock.call_count == 4
    assert info.value.log_id == env["log_id"]
    assert len(sleeps) == 3
    # full jitter: the n-th wait is drawn from [0, initial * 2^(n-1)]
    for n, slept in enumerate(sleeps, start=1):
        assert 0.0 <= slept <= 0.5 * 2 ** (n - 1)


def test_backoff_is_capped_at_maximum(requests_mock: Any, clock: FakeClock) -> None:
    requests_mock.post(URL, json=BUSY)
    sleeps: list[float] = []
    transport = make_transport(
        clock, RetryPolicy(max_attempts=8, max_delay=1e9, initial=1.0, maximum=2.0), sleeps
    )
    with pytest.raises(DouyinTransientError):
        transport.request("order.searchList", PARAMS)
    assert len(sleeps) == 7
    assert max(sleeps) <= 2.0


def test_transient_error_then_success_returns_data(requests_mock: Any, clock: FakeClock) -> None:
    requests_mock.post(URL, [{"json": BUSY}, {"json": THROTTLED}, {"json": envelope(data={"total": 7})}])
    transport = make_transport(clock, RetryPolicy(initial=0.0))
    response = transport.request("order.searchList", PARAMS, access_token="act.token-1")
    assert (response.data, response.attempts) == ({"total": 7}, 3)


def test_every_attempt_is_signed_with_a_fresh_timestamp(requests_mock: Any, clock: FakeClock) -> None:
    """A retry after a long backoff must not reuse a timestamp the gateway's 10-minute skew check rejects."""
    answers = iter([BUSY, BUSY, envelope(data={"ok": 1})])

    def gateway(request: Any, context: Any) -> dict:
        query = dict(parse_qsl(urlsplit(request.url).query))
        expected = sign_request(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            method="order.searchList",
            param_json=request.body.decode(),
            timestamp=query["timestamp"],
        )
        return (
            next(answers) if query["sign"] == expected else envelope(40003, sub_code="isv.signature-invalid")
        )

    requests_mock.post(URL, json=gateway)
    protocol = DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET, clock=clock)
    transport = Transport(protocol, retry=RetryPolicy(initial=0.0), sleep=lambda _seconds: clock.advance(700))

    assert transport.request("order.searchList", PARAMS, access_token="act.token-1").data == {"ok": 1}
    timestamps = [dict(parse_qsl(urlsplit(r.url).query))["timestamp"] for r in requests_mock.request_history]
    assert timestamps == ["1700000000", "1700000700", "1700001400"]


@pytest.mark.parametrize(
    "env",
    [
        envelope(40004, sub_code="isv.parameter-invalid:20013"),
        envelope(40003, sub_code="isv.signature-invalid"),
        envelope(30001, sub_code="dop.authorization-closed"),
        envelope(50002, sub_code="isv.business-failed:31012"),
        envelope(40003, sub_code="isv.access-token-expired"),
    ],
)
def test_permanent_and_auth_errors_are_not_retried(requests_mock: Any, clock: FakeClock, env: dict) -> None:
    requests_mock.post(URL, json=env)
    transport = make_transport(clock, RetryPolicy(initial=0.0))
    with pytest.raises(Exception) as info:
        transport.request("order.searchList", PARAMS, access_token="act.token-1")
    assert (info.value.code, info.value.sub_code) == (env["code"], env["sub_code"])
    assert requests_mock.call_count == 1


def test_total_time_budget_bounds_retries(requests_mock: Any) -> None:
    def slow_busy(request: Any, context: Any) -> dict:
        time.sleep(0.05)
        return BUSY

    requests_mock.post(URL, json=slow_busy)
    policy = RetryPolicy(max_attempts=100, max_delay=0.3, initial=0.02, maximum=0.02)
    transport = Transport(DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET), retry=policy)
    started = time.monotonic()
    with pytest.raises(DouyinTransientError):
        transport.request("order.searchList", PARAMS)
    elapsed = time.monotonic() - started
    assert 2 <= requests_mock.call_count < 10
    assert elapsed < 0.3 + 0.05 + 0.15


def test_html_502_is_transient_with_a_clear_message(requests_mock: Any, clock: FakeClock) -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    requests_mock.post(URL, status_code=502, text=html, headers={"Content-Type": "text/html"})
    transport = make_transport(clock, RetryPolicy(max_attempts=2, initial=0.0))
    with pytest.raises(DouyinTransientError) as info:
        transport.request("order.searchList", PARAMS)
    message = str(info.value)
    assert message.startswith("order.searchList failed: msg=response body is not valid JSON (text/html")
    assert "http_status=502" in message
    assert "JSONDecodeError" not in message and "Expecting value" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert requests_mock.call_count == 2


def test_truncated_json_is_transient(requests_mock: Any, clock: FakeClock) -> None:
    requests_mock.post(URL, text='{"code":10000,"msg":"success","data":{"shop_order_list":[{"order_id":"69')
    transport = make_transport(clock, RetryPolicy(max_attempts=1))
    with pytest.raises(DouyinTransientError, match="not valid JSON"):
        transport.request("order.searchList", PARAMS)


def test_non_json_404_is_a_request_error_and_not_retried(requests_mock: Any, clock: FakeClock) -> None:
    requests_mock.post(URL, status_code=404, text="Not Found")
    transport = make_transport(clock, RetryPolicy(initial=0.0))
    with pytest.raises(DouyinRequestError, match="http_status=404"):
        transport.request("order.searchList", PARAMS)
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError("Connection aborted: ConnectionResetError(104, 'reset by peer')"),
        requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)"),
        requests.exceptions.ConnectTimeout("Connection to openapi-fxg.jinritemai.com timed out"),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_network_failures_are_transient_and_retried(
    requests_mock: Any, clock: FakeClock, exc: Exception
) -> None:
    requests_mock.post(URL, [{"exc": exc}, {"json": envelope(data={"ok": 1})}])
    transport = make_transport(clock, RetryPolicy(initial=0.0))
    assert transport.request("order.searchList", PARAMS).data == {"ok": 1}
    requests_mock.post(URL, exc=exc)
    with pytest.raises(DouyinTransientError, match=type(exc).__name__):
        transport.request("order.searchList", PARAMS)


def test_each_retry_is_logged_with_code_sub_code_and_log_id(
    requests_mock: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(URL, [{"json": BUSY}, {"json": THROTTLED}, {"json": envelope()}])
    transport = make_transport(clock, RetryPolicy(initial=0.0))
    with caplog.at_level(logging.WARNING, logger="airflow_provider_douyin.client.retry"):
        transport.request("order.searchList", PARAMS)
    retries = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_douyin.client.retry"]
    assert len(retries) == 2
    assert retries[0].startswith("order.searchList attempt 1/6 failed with DouyinTransientError")
    assert "code=20000 sub_code=isp.service-error:20004 log_id=LOG-BUSY" in retries[0]
    assert "code=60000 sub_code=isv.traffic-limited log_id=LOG-QPS" in retries[1]
    assert "retrying in" in retries[1]


def test_flow_log_has_one_debug_line_per_attempt_with_paging(
    requests_mock: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(URL, [{"json": BUSY}, {"json": envelope(data={}, log_id="LOG-OK")}])
    transport = make_transport(clock, RetryPolicy(initial=0.0))
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_douyin.client.flow"):
        transport.request("order.searchList", PARAMS, access_token="act.token-1")
    flow = [r for r in caplog.records if r.name == "airflow_provider_douyin.client.flow"]
    assert [r.levelno for r in flow] == [logging.DEBUG, logging.DEBUG]
    first, second = (r.douyin for r in flow)  # type: ignore[attr-defined]
    assert first["attempt"] == 1 and first["code"] == 20000 and first["log_id"] == "LOG-BUSY"
    assert second["attempt"] == 2 and second["code"] == 10000 and second["http_status"] == 200
    assert (second["page"], second["size"]) == (3, 50)
    assert "update_time_start" not in second
    assert isinstance(second["latency_ms"], int)
    assert flow[1].getMessage().startswith("method=order.searchList attempt=2 http_status=200 code=10000")


def test_a_request_that_cannot_be_built_fails_typed_and_is_logged_as_its_attempt(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    protocol = DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET, base_url="http://", clock=clock)
    transport = Transport(protocol, retry=RetryPolicy(initial=0.0), sleep=clock.sleep)
    with (
        caplog.at_level(logging.DEBUG, logger="airflow_provider_douyin.client.flow"),
        pytest.raises(DouyinRequestError, match="order.searchList failed: .*No host supplied") as raised,
    ):
        transport.request("order.searchList", PARAMS, access_token="act.token-1")
    transport.close()
    assert "act.token-1" not in str(raised.value)
    flow = [r for r in caplog.records if r.name == "airflow_provider_douyin.client.flow"]
    (attempt,) = [r.douyin for r in flow if r.levelno == logging.DEBUG]  # type: ignore[attr-defined]
    assert attempt["attempt"] == 1 and attempt["http_status"] is None
    (summary,) = [r.douyin_summary for r in flow if r.levelno == logging.INFO]  # type: ignore[attr-defined]
    assert summary["errors"] == {"DouyinRequestError": 1}


class SteppingClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flow_summary_is_logged_at_info_once_per_interval_and_at_close(
    requests_mock: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(URL, json=envelope(data={}, log_id="LOG-OK"))
    requests_mock.post(f"{BASE_URL}/order/orderDetail", [{"json": BUSY}, {"json": envelope(data={})}])
    monotonic = SteppingClock()
    protocol = DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET, clock=clock)
    transport = Transport(protocol, retry=RetryPolicy(initial=0.0), sleep=clock.sleep, clock=monotonic)

    def summaries() -> list[logging.LogRecord]:
        flow = [r for r in caplog.records if r.name == "airflow_provider_douyin.client.flow"]
        return [r for r in flow if r.levelno >= logging.INFO]

    with caplog.at_level(logging.DEBUG, logger="airflow_provider_douyin.client.flow"):
        for _ in range(5):  # 30 s of traffic: no summary yet
            transport.request("order.searchList", PARAMS, access_token="act.token-1")
            monotonic.now += 6.0
        assert summaries() == []
        transport.request("order.orderDetail", {}, access_token="act.token-1")  # one retry
        monotonic.now += 30.0
        transport.request("order.searchList", PARAMS, access_token="act.token-1")  # 60 s passed
        transport.request("order.searchList", PARAMS, access_token="act.token-1")
        assert len(summaries()) == 1
        monotonic.now += 10.0
        transport.request("order.searchList", PARAMS, access_token="act.token-1")
        transport.close()

    first, last = (r.douyin_summary for r in summaries())  # type: ignore[attr-defined]
    assert first["calls"] == 7 and first["attempts"] == 8 and first["retries"] == 1
    assert first["errors"] == {"DouyinTransientError": 1}
    assert "7 calls, 8 attempts (1 retries)" in summaries()[0].getMessage()
    assert "errors: DouyinTransientError=1" in summaries()[0].getMessage()
    assert last["calls"] == 2 and last["errors"] == {}  # the close() summary covers only what came after
    debug_lines = [r for r in caplog.records if r.name.endswith("client.flow") and r.levelno == logging.DEBUG]
    assert len(debug_lines) == 10


def _success(data: str) -> str:
    return '{"code":10000,"msg":"success","sub_code":"","sub_msg":"","log_id":"L1","data":' + data + "}"


@pytest.mark.parametrize(
    "body",
    [
        # Beyond 64 bits: integers, never rounded floats (18446744073709551617 as a float is ...616).
        _success('{"id":18446744073709551617,"neg":-9223372036854775809,"f":0.1}').encode(),
        _success('{"amount":NaN,"big":1e400}').encode(),  # Python's decoder accepts these, strict ones refuse
        b"\xef\xbb\xbf" + _success('{"name":"\u62b5"}').encode(),  # a byte-order mark
        _success('{"s":"\\ud800x"}').encode(),  # a lone surrogate escape (cleaned before landing)
        _success('{"name":"\u62b5"}').encode("utf-16"),
    ],
)
def test_bodies_decode_to_exactly_what_the_standard_decoder_reads(
    requests_mock: Any, clock: FakeClock, body: bytes
) -> None:
    requests_mock.post(URL, content=body)
    response = make_transport(clock, RetryPolicy(max_attempts=1)).request("order.searchList", PARAMS)
    assert repr(response.data) == repr(json.loads(body)["data"])


def test_deeply_nested_json_is_a_response_shape_error(requests_mock: Any, clock: FakeClock) -> None:
    requests_mock.post(URL, text='{"code":10000,"data":' + "[" * 100_000 + "]" * 100_000 + "}")
    transport = make_transport(clock, RetryPolicy(max_attempts=2, initial=0.0))
    with pytest.raises(DouyinResponseShapeError) as info:
        transport.request("order.searchList", PARAMS)
    assert isinstance(info.value, DouyinTransientError)
    assert info.value.method == "order.searchList" and info.value.http_status == 200
    assert "nested too deeply" in str(info.value) and "http_status" not in str(info.value)
    assert requests_mock.call_count == 2  # retried like any transient failure


def test_rejected_token_is_refreshed_once_and_the_call_retried(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    # The gateway expired the pair a second ago; the store believes it has a day left.
    pair = replace(gateway.grant(age=7 * DAY + 1), access_expires_at=clock.now + DAY)
    store = InMemoryTokenStore(pair)
    client = gateway.client(token_store=store)

    assert client.call(*PROBE)["total"] == len(gateway.server.truth("products"))

    assert [method for method, _ in gateway.calls] == [PROBE[0], "token.refresh", PROBE[0]]
    assert store.load().access_token not in (None, pair.access_token)


def test_a_second_auth_failure_is_raised_not_retried_again(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(
        URL, json=envelope(40003, sub_code="isv.access-token-no-existed", log_id="LOG-NOTOKEN")
    )
    fresh = {"access_token": "act.rotated-0002", "refresh_token": "rft.rotated-0002", "expires_in": 604800}
    requests_mock.post(f"{BASE_URL}/token/refresh", json=envelope(data=fresh))
    client = make_client(token_store=InMemoryTokenStore(stored_pair()))
    with pytest.raises(DouyinAuthError, match="LOG-NOTOKEN"):
        client.call("order.searchList", PARAMS)
    paths = [urlsplit(r.url).path for r in requests_mock.request_history]
    assert paths == ["/order/searchList", "/token/refresh", "/order/searchList"]
    last_query = dict(parse_qsl(urlsplit(requests_mock.last_request.url).query))
    assert last_query["access_token"] == "act.rotated-0002"


def test_reauthorization_errors_are_not_retried(requests_mock: Any, make_client: Any) -> None:
    requests_mock.post(URL, json=envelope(30001, sub_code="dop.authorization-closed", log_id="LOG-CLOSED"))
    client = make_client(token_store=InMemoryTokenStore(stored_pair()))
    with pytest.raises(DouyinReauthorizationRequired, match="LOG-CLOSED"):
        client.call("order.searchList", PARAMS)
    assert requests_mock.call_count == 1
