"""Adaptive pacing (AIMD) and the app-wide limiter shared through Redis by every process of an app."""

from __future__ import annotations

import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_douyin.client import InMemoryTokenStore
from airflow_provider_douyin.client.config import DouyinConnectionError, ShopConfig
from airflow_provider_douyin.client.doudian import DoudianProtocol
from airflow_provider_douyin.client.ratelimit import (
    BANK_S,
    CALM,
    CEILING_STEP,
    COOLDOWN,
    DECREASE,
    FLOOR,
    GENTLE_DECREASE,
    LOWEST_CEILING,
    START,
    AdaptiveLimiter,
    AdaptiveRate,
    RedisSchedule,
    app_limiter,
)
from airflow_provider_douyin.client.transport import DeadlineAdapter, Transport

from .fakes import APP_KEY, APP_SECRET, BASE_URL, T0, FakeClock, envelope, stored_pair

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_pace_starts_near_the_limit_cuts_once_per_crowded_second_and_creeps_back() -> None:
    clock = FakeClock(now=0.0)
    pace = AdaptiveRate(20.0, clock=clock)
    assert pace.rate == pytest.approx(20 * START)

    pace.throttled()
    pace.throttled()  # an in-flight request of the same crowded second: not a second cut
    assert pace.rate == pytest.approx(20 * START * GENTLE_DECREASE)  # an isolated throttle: jitter
    clock.advance(COOLDOWN)
    pace.throttled()  # throttled again soon after: the limit is really lower
    assert pace.rate == pytest.approx(20 * START * GENTLE_DECREASE * DECREASE)
    rate = pace.rate

    for _ in range(8):  # 8 successes at ~16/s: half a second of traffic
        pace.succeeded()
    assert rate < pace.rate < 20 * START
    for _ in range(200):
        pace.succeeded()
    # back up, but not to the start: each of the two cuts left a wider margin for this gateway
    assert pace.rate == pytest.approx(20 * (START - 2 * CEILING_STEP))

    clock.advance(CALM)
    pace.throttled()  # calm again: a gentle cut
    assert pace.rate == pytest.approx(20 * (START - 2 * CEILING_STEP) * GENTLE_DECREASE)


def test_a_gateway_that_keeps_throttling_widens_the_margin_to_a_bounded_ceiling() -> None:
    """Arrivals that bunch more than the start's margin allows cost a few throttles, not one per
    creep back up: every cut lowers the most the pace returns to, but never below LOWEST_CEILING."""
    clock = FakeClock(now=0.0)
    pace = AdaptiveRate(50.0, clock=clock)
    ceilings = []
    for _ in range(20):
        clock.advance(CALM)
        pace.throttled()
        for _ in range(500):
            pace.succeeded()
        ceilings.append(pace.rate / 50)
    assert ceilings[:3] == pytest.approx([START - CEILING_STEP * n for n in (1, 2, 3)])
    assert ceilings[-1] == pytest.approx(LOWEST_CEILING)
    assert min(ceilings) == pytest.approx(LOWEST_CEILING)


def test_pace_never_falls_below_the_floor_and_restarts_when_the_limit_changes() -> None:
    clock = FakeClock(now=0.0)
    pace = AdaptiveRate(10.0, clock=clock)
    for _ in range(30):
        pace.throttled()
        clock.advance(COOLDOWN)
    assert pace.rate == pytest.approx(10 * FLOOR)
    pace.configure(10.0)
    assert pace.rate == pytest.approx(10 * FLOOR)  # the same limit keeps what was learnt
    assert pace.cuts == 30
    pace.configure(50.0)
    assert pace.rate == pytest.approx(50 * START)
    assert (pace.ceiling, pace.cuts) == (pytest.approx(50 * START), 0)


def test_in_process_limiter_paces_at_the_adapted_rate() -> None:
    clock = FakeClock(now=0.0)
    limiter = AdaptiveLimiter(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(11):
        limiter.acquire()
    assert clock.now == pytest.approx(10 / (10 * START))
    limiter.throttled()
    limiter.acquire()
    started = clock.now
    for _ in range(10):
        limiter.acquire()
    assert clock.now - started == pytest.approx(10 / (10 * START * GENTLE_DECREASE))


def test_slots_that_pass_while_every_worker_is_busy_are_made_up_up_to_the_bank() -> None:
    """A moment when no request waits for a slot (all workers waiting on pages) does not lose the
    slots that passed, up to ``BANK_S`` of them; a long pause banks no more, and a throttle ends it."""
    clock = FakeClock(now=0.0)
    limiter = AdaptiveLimiter(50.0, clock=clock, sleep=clock.sleep)
    pace = 50.0 * START
    for _ in range(60):
        limiter.acquire()
    clock.advance(5 / pace)  # five slots pass with every worker busy
    started = clock.now
    for _ in range(5):
        limiter.acquire()
    assert clock.now == started  # made up at once
    limiter.acquire()
    assert clock.now == pytest.approx(started + 1 / pace)
    clock.advance(10.0)
    started = clock.now
    for _ in range(round(pace * BANK_S) + 1):
        limiter.acquire()
    assert clock.now == pytest.approx(started + 1 / pace)

    limiter.throttled()  # a cut ends the bank: bursts are what a queueing gateway may see bunched
    clock.advance(10.0)
    pace, started = limiter.pace.rate, clock.now
    limiter.acquire()
    limiter.acquire()
    assert clock.now == pytest.approx(started + 1 / pace)


@pytest.mark.parametrize(("qps", "late_every"), [(5.0, 3), (50.0, 60)])
def test_a_request_woken_late_never_makes_one_more_than_the_limit_in_a_paced_span(
    qps: float, late_every: int
) -> None:
    """Threads wake late from their slots, and banked slots go at once; the gateway counts any second
    of arrivals. However late some sleeps end, no ``qps`` + 1 requests leave within ``qps / pace``
    seconds."""
    clock = FakeClock(now=0.0)
    sleeps = 0

    def oversleeping(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        clock.sleep(seconds + (0.3 if sleeps % late_every == 0 else 0.0))

    limiter = AdaptiveLimiter(qps, clock=clock, sleep=oversleeping)
    sent = []
    for _ in range(int(8 * qps)):
        limiter.acquire()
        limiter.depart()
        sent.append(clock.now)
    limit = int(qps)
    span = limit / (qps * START)
    assert min(later - earlier for earlier, later in zip(sent, sent[limit:], strict=False)) >= span - 1e-9


def paced_transport(
    clock: FakeClock, qps: float, protocol: type[DoudianProtocol] = DoudianProtocol, **kw: Any
):
    signer = protocol(app_key=APP_KEY, app_secret=APP_SECRET, base_url=BASE_URL, clock=lambda: T0)
    limiter = AdaptiveLimiter(qps, clock=clock, **kw)
    return Transport(signer, limiter=limiter, sleep=clock.sleep, clock=clock)


def test_requests_slow_to_build_still_reach_the_gateway_spaced_by_the_pace(requests_mock: Any) -> None:
    """A thread may take long to build and sign its request after its turn (on a busy CPU, tens of
    milliseconds); the quick ones behind it must not then arrive together with it. The gateway sees
    no ``qps`` + 1 arrivals within ``qps / pace`` seconds."""
    clock = FakeClock(now=0.0)
    arrivals: list[float] = []

    def arrive(_request: Any, _context: Any) -> dict[str, Any]:
        arrivals.append(clock.now)
        return envelope(data={"shop_order_list": [], "total": 0})

    requests_mock.post(f"{BASE_URL}/order/searchList", json=arrive)

    class SlowToBuild(DoudianProtocol):
        def prepare(self, *args: Any) -> Any:
            if len(arrivals) % 3 == 0:
                clock.advance(0.9)  # this one's turn came, but its request took 0.9 s to build
            return super().prepare(*args)

    transport = paced_transport(clock, 2.0, SlowToBuild, sleep=clock.sleep)
    for _ in range(12):
        transport.request("order.searchList", {"page": 0, "size": 10}, access_token="act.wire-test")

    span = 2 / (2.0 * START)
    assert len(arrivals) == 12
    assert min(later - earlier for earlier, later in zip(arrivals, arrivals[2:], strict=False)) >= span - 1e-9


def test_requests_delayed_after_their_departure_check_still_arrive_spaced(tmp_path: Any) -> None:
    """Between the departure check and the socket, a busy CPU can keep a thread from running while
    quick ones pass it. The connection checks again as it writes: a real server sees no ``qps`` + 1
    requests within ``qps / pace`` seconds of the limiter's clock."""
    clock = FakeClock(now=0.0)
    arrivals: list[float] = []

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrivals.append(clock.now)
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(envelope(data={"shop_order_list": [], "total": 0})).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    class StalledAfterTheCheck(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            if len(arrivals) % 3 == 0:
                clock.advance(0.9)  # this thread got no CPU for 0.9 s after its departure check
            return super().send(request, **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    session = StalledAfterTheCheck()
    session.mount("http://", DeadlineAdapter())
    url = f"http://127.0.0.1:{server.server_port}"
    signer = DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET, base_url=url, clock=lambda: T0)
    limiter = AdaptiveLimiter(2.0, clock=clock, sleep=clock.sleep)
    transport = Transport(signer, limiter=limiter, session=session, sleep=clock.sleep, clock=clock)
    try:
        for _ in range(12):
            transport.request("order.searchList", {"page": 0, "size": 10}, access_token="act.wire-test")
    finally:
        server.shutdown()
        server.server_close()
        session.close()

    span = 2 / (2.0 * START)
    assert len(arrivals) == 12
    assert min(later - earlier for earlier, later in zip(arrivals, arrivals[2:], strict=False)) >= span - 1e-9


def test_a_request_held_at_the_wire_carries_the_token_valid_when_it_leaves(requests_mock: Any) -> None:
    """The departure check holds a built, signed request; a token rotated (or expired) meanwhile must
    not go out with it. Every request reaches the gateway with the token current at its arrival."""
    clock = FakeClock(now=0.0)
    wakes = 0

    def oversleeping(seconds: float) -> None:  # every third wake from a pace slot is 0.4 s late
        nonlocal wakes
        wakes += 1
        clock.sleep(seconds + (0.4 if wakes % 3 == 0 else 0.0))

    def current_token() -> str:
        return f"act.{int(clock.now / 0.25)}"  # rotated every 0.25 s

    arrivals: list[tuple[str, str]] = []

    def arrive(request: Any, _context: Any) -> dict[str, Any]:
        arrivals.append((request.qs["access_token"][0], current_token()))
        return envelope(data={"shop_order_list": [], "total": 0})

    requests_mock.post(f"{BASE_URL}/order/searchList", json=arrive)
    transport = paced_transport(clock, 2.0, sleep=oversleeping)
    chosen: list[str] = []

    def token_at_send() -> str:
        chosen.append(current_token())
        return chosen[-1]

    for _ in range(12):
        transport.request("order.searchList", {"page": 0, "size": 10}, access_token=token_at_send)

    assert len(arrivals) == 12
    assert [sent for sent, _ in arrivals] == [current for _, current in arrivals]
    assert len(chosen) > 12, "no request was held at the wire: the test proved nothing"


def test_the_transport_reports_throttles_and_successes_to_the_limiter(
    requests_mock: Any, make_client: Any
) -> None:
    """A 60000 reply slows every client of the app; the call is still retried and succeeds."""
    requests_mock.post(
        f"{BASE_URL}/order/searchList",
        [
            {"json": envelope(60000, sub_code="isv.traffic-limited", msg="请求太频繁")},
            {"json": envelope(data={"shop_order_list": [], "total": 0})},
        ],
    )
    key = f"{uuid.uuid4().int % 10**19:019d}"
    client = make_client(app_key=key, qps=1000.0, token_store=InMemoryTokenStore(stored_pair()))
    pace = app_limiter(f"doudian:{key}", 1000.0).pace
    assert pace.rate == pytest.approx(1000 * START)

    client.call("order.searchList", {"page": 0, "size": 10})

    assert requests_mock.call_count == 2
    # cut once (gently: the first throttle) by the throttle, then raised a little by the retry's success
    assert 1000 * START * GENTLE_DECREASE < pace.rate < 1000 * START * GENTLE_DECREASE * 1.01


def test_app_limiter_is_one_per_app_and_url_and_takes_the_latest_qps() -> None:
    first = app_limiter("test-app-a", 5.0)
    assert app_limiter("test-app-a", 5.0) is first
    assert app_limiter("test-app-b", 5.0) is not first
    assert app_limiter("test-app-a", 5.0, REDIS_URL) is not first
    assert app_limiter("test-app-a", 8.0) is first
    assert first.pace.limit == 8.0


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        ({}, None),
        ({"rate_limit_url": ""}, None),
        ({"rate_limit_url": " redis://10.0.0.5:6379/2 "}, "redis://10.0.0.5:6379/2"),
        ({"extra__douyin_shop__rate_limit_url": "rediss://cache:6380/0"}, "rediss://cache:6380/0"),
    ],
)
def test_shop_connection_reads_rate_limit_url(extras: dict[str, Any], expected: str | None) -> None:
    config = ShopConfig.from_connection(
        "shop_a", login=APP_KEY, password=APP_SECRET, host=None, extras={"shop_id": "1", **extras}
    )
    assert config.rate_limit_url == expected


def test_shop_connection_refuses_a_url_that_is_not_redis() -> None:
    with pytest.raises(DouyinConnectionError, match=r"'shop_a': extra 'rate_limit_url' must be a Redis URL"):
        ShopConfig.from_connection(
            "shop_a",
            login=APP_KEY,
            password=APP_SECRET,
            host=None,
            extras={"shop_id": "1", "rate_limit_url": "http://127.0.0.1:6379"},
        )


def test_open_connection_reads_rate_limit_url() -> None:
    from airflow_provider_douyin.client.errors import DouyinConfigError
    from airflow_provider_douyin.client.open_config import OpenConfig

    def parse(url: str) -> Any:
        return OpenConfig.from_connection(
            "life", login="awx1", password="s", host=None, extras={"rate_limit_url": url}
        )

    assert parse(REDIS_URL).rate_limit_url == REDIS_URL
    with pytest.raises(DouyinConfigError, match="extra 'rate_limit_url' must be a Redis URL"):
        parse("127.0.0.1:6379")


# -- shared through Redis ---------------------------------------------------------------------------
@pytest.fixture
def redis_client() -> Any:
    """A client of the Redis on 127.0.0.1:6379; skipped when it is absent, failed under CI=true."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc}); CI=true, so the test must run")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc})")
    return client


def _app_key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_redis_schedule_hands_out_consecutive_slots_to_every_process(redis_client: Any) -> None:
    """Two schedules of one app (two processes' views) draw from one sequence of slots."""
    import redis

    clock = FakeClock(now=1000.0)
    key = _app_key()
    one = RedisSchedule(redis_client, key, clock=clock)
    other = RedisSchedule(redis.Redis.from_url(REDIS_URL), key, clock=clock)
    unrelated = RedisSchedule(redis_client, _app_key(), clock=clock)

    waits = [schedule.reserve(0.1) for schedule in (one, other, one, other)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert unrelated.reserve(0.1) == 0.0
    clock.advance(1.0)  # idle time is not banked: the next caller gets "now", not a burst
    assert [one.reserve(0.5), other.reserve(0.5)] == pytest.approx([0.0, 0.5])


def test_redis_schedule_uses_the_servers_clock_by_default(redis_client: Any) -> None:
    schedule = RedisSchedule(redis_client, _app_key())
    first, second = schedule.reserve(0.2), schedule.reserve(0.2)
    assert first == 0.0
    assert 0.15 < second <= 0.2  # the second slot starts 0.2 s after the first, less the time between


def test_limiters_of_two_processes_share_one_pace(redis_client: Any) -> None:
    import redis

    clock = FakeClock(now=5000.0)
    key = _app_key()
    limiters = [
        AdaptiveLimiter(
            10.0,
            schedule=RedisSchedule(redis.Redis.from_url(REDIS_URL), key, clock=clock),
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(2)
    ]
    for _ in range(10):
        for limiter in limiters:
            limiter.acquire()
    # 20 requests of the app, whichever process sent them: 19 intervals at the pace
    assert clock.now - 5000.0 == pytest.approx(19 / (10 * START), abs=1e-4)  # slots are kept to the µs


def test_an_unreachable_redis_paces_in_process_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = app_limiter(_app_key(), 100.0, f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_douyin.client.ratelimit"):
        waits = [limiter.acquire() for _ in range(15)]
    assert waits[0] == 0.0 and waits[-1] > 0  # still paced, by this process's bucket (10 banked)
    assert caplog.text.count("Shared rate limiter unavailable") == 1  # not tried again for a while


def test_clients_with_rate_limit_url_share_one_schedule(
    redis_client: Any, requests_mock: Any, make_client: Any
) -> None:
    """Clients of one app_key with a rate_limit_url reserve their slots in that app's Redis key."""
    reply = envelope(data={"shop_order_list": [], "total": 0})
    requests_mock.post(f"{BASE_URL}/order/searchList", json=reply)
    key = f"{uuid.uuid4().int % 10**19:019d}"
    for _ in range(2):
        client = make_client(
            app_key=key, qps=5.0, rate_limit_url=REDIS_URL, token_store=InMemoryTokenStore(stored_pair())
        )
        client.call("order.searchList", {"page": 0, "size": 1})
    seconds, micros = redis_client.time()
    next_slot = float(redis_client.get(f"airflow_provider_douyin:rate:doudian:{key}"))
    assert next_slot > seconds + micros / 1e6  # both requests reserved their slots in Redis


def test_three_processes_of_one_app_share_the_gateway_limit(redis_client: Any) -> None:
    """benchmarks/shared_limit.py, smaller: with rate_limit_url three processes together stay under
    the gateway's limit yet use at least 85% of it; without it the same run is throttled."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "shared_limit.py"
    command = [sys.executable, str(script), "--qps", "30", "--requests", "100", "--latency-ms", "50"]
    command.append("--json")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    shared, alone = figures["shared"], figures["per_process"]

    assert shared["ok"] == 300 and shared["failed"] == 0
    assert shared["ratio"] >= 0.85, done.stdout
    assert shared["throttled_share"] <= 0.01, done.stdout
    assert alone["throttled_share"] > 0.1, done.stdout
    assert done.returncode == 0


@pytest.mark.parametrize(("where", "code"), [("extra", 28003018), ("data", 2119003)])
def test_open_platform_throttle_codes_slow_the_app_down(requests_mock: Any, where: str, code: int) -> None:
    """Open Platform throttles (28003018 in ``extra``, 2119003 in ``data``) cut the pace like 60000."""
    from airflow_provider_douyin.client.open_platform import LIFE_ORDER_QUERY, OpenPlatformProtocol
    from airflow_provider_douyin.client.retry import RetryPolicy

    from .test_open_protocol import BASE_URL as OPEN_URL
    from .test_open_protocol import CLIENT_SECRET, CLIENT_TOKEN_VALUE, goodlife

    throttled = goodlife({}, error_code=code)
    throttled["data"]["error_code"] = code if where == "data" else 0
    replies = [{"json": throttled}, {"json": goodlife({"orders": []})}]
    requests_mock.get(f"{OPEN_URL}{LIFE_ORDER_QUERY}", replies)
    key = f"awx{uuid.uuid4().hex}"
    limiter = app_limiter(f"douyin-open:{key}", 20.0)
    transport = Transport(
        OpenPlatformProtocol(client_key=key, client_secret=CLIENT_SECRET, base_url=OPEN_URL),
        limiter=limiter,
        retry=RetryPolicy(max_attempts=2, initial=0.0, maximum=0.0),
    )

    transport.request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)

    assert requests_mock.call_count == 2  # retried as before
    assert 20 * START * GENTLE_DECREASE < limiter.pace.rate < 20 * START
