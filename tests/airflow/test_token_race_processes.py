"""Eight worker processes share one token pair across its expiries: no task may fail.

Each worker is a separate process running one task at a time: a new hook, client and ``TokenManager``
per task, with four reader threads sharing them as a sync's reader does. All share the token Variable in
a throwaway PostgreSQL metadata database (written through the ORM, as outside a task) and one sandbox
gateway whose tokens live five seconds. The gateway behaves like the real one under load: replies arrive
200 ms after it acted (a rotation is already final while its reply travels), some calls are throttled or
answered "system busy" and retried, and one ``token.refresh`` rotates the pair but its reply is lost.

Every task starts on an expired stored pair, calls without pause across the next rotation, goes quiet
past an expiry and starts again, so all eight cross expiries together: twice as a herd on an expired
pair (the first refresh kills it at once and the others are refused or get 31012), and while busy.

The lost reply falls where the platform lets a client recover: for the tool app a rotation before expiry
(its old refresh token answers the current pair during the grace), for the self-use app the herd's
refresh after expiry (``token.create`` mints a new pair). A tool app whose reply is lost after expiry
cannot recover on any client: Doudian killed the only refresh token it had.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from airflow_provider_douyin.client import DoudianShopClient, TokenPair
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tests.airflow.conftest import CONN_ID, SHOP_ID, shop_connection

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 8
THREADS = 4
"""Reader threads per task sharing its client, its token and its rate limiter, as a sync's reader does."""
ACCESS_TTL = 5.0
GATEWAY = {
    "access_ttl": ACCESS_TTL,
    "rotation_window": 3,  # a refresh in the last 3 s rotates with a grace (case 2)
    "grace": 3,  # the superseded pair, refresh token included, lives 3 s more
    "refresh_hold_ms": 300,  # a concurrent refresh meanwhile gets 31012
    "latency_ms": 200,  # every reply arrives 200 ms after the gateway acted
    "throttle_rate": 0.03,  # and some calls are throttled or "system busy", then retried
    "busy_rate": 0.03,
}
BUSY, QUIET = 9.0, ACCESS_TTL + 1.5
"""Seconds of calling, then of silence: the silence outlasts any pair obtained while calling."""
PHASES = [(0.0, BUSY), (BUSY + QUIET, 2 * BUSY + QUIET)]
STAGGER = 0.1
"""Seconds between the workers' starts: some begin while the first refresh's reply is on its way."""
CONN_ENV = f"AIRFLOW_CONN_{CONN_ID.upper()}"

WORKER = textwrap.dedent(
    f"""
    import json, os, sys, threading, time
    from concurrent.futures import ThreadPoolExecutor
    from airflow_provider_douyin.client import TokenPair
    from airflow_provider_douyin.hooks.shop import DouyinShopHook

    def task(hook, phases):  # one Airflow task: {THREADS} reader threads over one hook
        calls, failures, lock = [], [], threading.Lock()

        def read(end):
            while not failures and time.time() < end:
                try:
                    hook.call("product.listV2", {{"page": 1, "size": 1}})
                except Exception as exc:  # the task fails: report it and stop, as Airflow would
                    failures.append(f"{{type(exc).__name__}}: {{exc}}")
                else:
                    with lock:
                        calls[-1] += 1

        with ThreadPoolExecutor({THREADS}) as pool:
            for start, end in phases:
                calls.append(0)
                time.sleep(max(0.0, start - time.time()))
                list(pool.map(read, [end] * {THREADS}))
        return {{"calls": calls, "failure": failures[0] if failures else None}}

    while line := sys.stdin.readline():
        job = json.loads(line)
        os.environ[{CONN_ENV!r}] = job["connection"]
        hook = DouyinShopHook({CONN_ID!r})  # a new task: its own hook, client and token manager
        if job["seed"]:  # the pair an earlier run left behind
            hook.token_store.save(TokenPair.from_json(job["seed"]))
        hook.token_store.load()  # the first Variable read imports for seconds: not part of the race
        print("@@ready", flush=True)
        result = task(hook, json.loads(sys.stdin.readline()))
        print("@@result " + json.dumps(result), flush=True)
    """
)


class Workers:
    """Eight long-lived worker processes, each running one task per job it is sent."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._logs = [(logs / f"worker{number}.log").open("w") for number in range(PROCESSES)]
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER],
                env=env,
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            for log in self._logs
        ]
        self._lines: list[queue.Queue[str]] = [queue.Queue() for _ in self._processes]
        for process, lines in zip(self._processes, self._lines, strict=True):
            # Unread output would block a worker.
            threading.Thread(target=self._drain, args=(process, lines), daemon=True).start()

    @staticmethod
    def _drain(process: subprocess.Popen, lines: queue.Queue[str]) -> None:
        for line in process.stdout:
            if line.startswith("@@"):
                lines.put(line[2:].strip())
        lines.put("exited")

    def _send(self, number: int, value: object) -> None:
        self._processes[number].stdin.write(json.dumps(value) + "\n")
        self._processes[number].stdin.flush()

    def _expect(self, prefix: str, timeout: float) -> list[str]:
        replies = [lines.get(timeout=timeout) for lines in self._lines]
        assert all(reply.startswith(prefix) for reply in replies), (
            f"{replies}; worker logs: {self._logs[0].name}"
        )
        return [reply[len(prefix) :] for reply in replies]

    def run(self, connection: str, seed: TokenPair) -> list[dict]:
        """Run one task per worker, released together on the schedule of ``PHASES``."""
        for number in range(PROCESSES):
            self._send(number, {"connection": connection, "seed": seed.to_json() if number == 0 else None})
        self._expect("ready", timeout=180)  # all configured and seeded before anyone calls
        start = time.time() + 0.5
        for number in range(PROCESSES):  # tasks start a little apart, as a scheduler starts them
            first = start + number * STAGGER
            self._send(number, [[first + begin, start + end] for begin, end in PHASES])
        return [json.loads(reply) for reply in self._expect("result ", timeout=PHASES[-1][1] + 90)]

    def close(self) -> None:
        for process in self._processes:
            process.stdin.close()
        for process, log in zip(self._processes, self._logs, strict=True):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """A throwaway PostgreSQL metadata database and eight workers configured to use it."""
    name = f"douyin_token_race_{uuid.uuid4().hex[:10]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c"]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}",
    }
    pool = Workers(env, tmp_path_factory.mktemp("token_race_logs"))  # they import while the DB migrates
    try:
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield pool
    finally:
        pool.close()
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def expired_pair(shop, auth_mode: str) -> TokenPair:
    """A pair as an earlier run stored it: obtained the way the app type does, expired by now."""
    shop.set_faults(access_ttl=1)
    with DoudianShopClient(
        app_key=SANDBOX_APP_KEY, app_secret=SANDBOX_APP_SECRET, base_url=shop.url, shop_id=str(SHOP_ID)
    ) as client:
        if auth_mode == "code":  # the tool app's one-time OAuth code exchange
            params = {"code": shop.issue_auth_code(SHOP_ID), "grant_type": "authorization_code"}
        else:
            params = {"code": "", "grant_type": "authorization_self", "shop_id": str(SHOP_ID)}
        data = client.call("token.create", params)
    shop.set_faults(access_ttl=ACCESS_TTL)
    now = time.time()
    return TokenPair(
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        access_expires_at=now + data["expires_in"],
        refresh_expires_at=now + 14 * 86400,
        obtained_at=now,
        shop_id=str(SHOP_ID),
    )


@pytest.mark.parametrize(
    ("auth_mode", "lost_replies"),
    [
        ("self", {"lost_replies_after_expiry": 1}),
        ("code", {"lost_replies_before_expiry": 1}),
    ],
    ids=["self-use app", "tool app"],
)
def test_eight_processes_cross_token_expiries_without_a_failure(
    auth_mode, lost_replies, douyin_sandbox_factory, workers
):
    shop = douyin_sandbox_factory(orders=20, seed=5, **GATEWAY)
    seed = expired_pair(shop, auth_mode)
    extra = {"shop_id": str(SHOP_ID), "qps": 5, "auth_mode": f"authorization_{auth_mode}"}
    if auth_mode == "code":
        extra["refresh_token"] = seed.refresh_token
    shop.reset_stats()
    shop.set_faults(**lost_replies)

    results = workers.run(shop_connection(shop.url, extra=extra), seed)

    stats = shop.stats()
    failures = [result["failure"] for result in results if result["failure"]]
    assert failures == [], f"{len(failures)} of {PROCESSES} tasks failed; gateway: {stats['refreshes']}"
    assert all(min(result["calls"]) >= 5 for result in results), results
    refreshes = stats["refreshes"]
    assert refreshes["reply_lost"] == sum(lost_replies.values()), refreshes
    assert refreshes["case3"] >= 2, refreshes  # both herds started on an expired pair
    assert refreshes["case2"] + refreshes["case3"] >= 3, refreshes  # and the busy workers rotated it
    assert refreshes["concurrent"] >= 1, refreshes  # while racing each other (31012)
    assert stats["faults_injected"].get("throttle", 0) + stats["faults_injected"].get("busy", 0) > 0
