"""A real Airflow deployment for tests and benchmarks: services as processes on a throwaway PostgreSQL
metadata database, every port picked free, every process stopped by its own process group.

LocalExecutor (``executor="LocalExecutor"``) or CeleryExecutor with Redis as broker, the result
backend in the same throwaway database and workers started with :meth:`Deployment.start_celery_worker`.
No pytest here, so ``benchmarks/`` drives the same deployment the tests do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
CELERY_REDIS = os.environ.get("DOUYIN_TEST_CELERY_REDIS", "redis://127.0.0.1:6379/5")
"""The broker of Celery deployments: a Redis db of its own; each deployment uses its own queue in it."""
HOSTNAME_ENV = "DOUYIN_TEST_HOSTNAME"
T = TypeVar("T")


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_hostname() -> str:
    """``[core] hostname_callable`` of the deployment: the name its launcher gave the process, so two
    Celery workers on one machine record distinct hostnames on the task instances they ran."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


@contextmanager
def throwaway_database(prefix: str = "h_airflow") -> Iterator[str]:
    """A new, empty PostgreSQL database (SQLAlchemy URL), dropped afterwards; ``psycopg2.OperationalError``
    when the server is unreachable, for the caller to skip or fail on."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def api_token(url: str) -> str | None:
    try:
        response = requests.get(f"{url}/auth/token", timeout=5)
    except requests.ConnectionError:
        return None
    return response.json()["access_token"] if response.status_code == 201 else None


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    logs: Path
    services: list[subprocess.Popen] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)
    queue: str | None = None

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def start(self, name: str, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """``airflow <command>`` as a service, its output in ``logs/<name>.out``."""
        out = (self.logs / f"{name}.out").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *command],
            env={**self.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.services.append(proc)
        return proc

    def start_celery_worker(self, hostname: str, concurrency: int = 2) -> subprocess.Popen:
        """A Celery worker of this deployment's queue; its tasks record ``hostname`` as theirs."""
        assert self.queue, "not a CeleryExecutor deployment"
        command = ["celery", "worker", "--celery-hostname", f"{hostname}@%h", "--queues", self.queue]
        command += ["--concurrency", str(concurrency), "--skip-serve-logs", "--without-gossip"]
        return self.start(hostname, *command, env={HOSTNAME_ENV: hostname})

    def stop(self) -> None:
        for proc in self.services:  # each service and the processes it forked, by its own process group
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.services:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def service_logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.out")))

    def wait_for(self, probe: Callable[[], T | None], seconds: float, what: str) -> T:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}\n{self.service_logs()}")

    def dag_parsed(self, dag_id: str) -> bool:
        return self.session.get(f"{self.url}/api/v2/dags/{dag_id}", timeout=10).status_code == 200

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]

    def task_logs(self, dag_ids: set[str]) -> str:
        """The tails of the task logs of ``dag_ids``."""
        home = Path(self.env["AIRFLOW_HOME"]) / "logs"
        logs = (p for dag_id in sorted(dag_ids) for p in sorted(home.glob(f"dag_id={dag_id}/**/*.log")))
        return "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in logs)[-20000:]


@contextmanager
def start_deployment(
    workdir: Path,
    metadata_db: str,
    *,
    executor: str = "LocalExecutor",
    env: dict[str, str] | None = None,
    pools: dict[str, int] | None = None,
    services: tuple[str, ...] = ("scheduler", "dag-processor"),
) -> Iterator[Deployment]:
    """Migrate ``metadata_db``, set ``pools``, start the API server and ``services``; stop them after.

    ``env`` adds connections (``AIRFLOW_CONN_*``), variables and settings to the services' environment.
    A CeleryExecutor deployment gets a queue of its own on ``CELERY_REDIS``, removed afterwards.
    """
    api_port = free_port()
    logs = workdir / "services"
    logs.mkdir(parents=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    base.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")])),
            "AIRFLOW_HOME": str(workdir / "home"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.service_hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        }
    )
    queue = None
    if executor == "CeleryExecutor":
        queue = f"douyin_test_{uuid.uuid4().hex[:10]}"
        base.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": CELERY_REDIS,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_db.replace("+psycopg2", ""),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            }
        )
    base.update(env or {})
    deployed = Deployment(f"http://127.0.0.1:{api_port}", base, logs, queue=queue)
    try:
        deployed.airflow("db", "migrate", timeout=300)
        for pool, slots in (pools or {}).items():
            deployed.airflow("pools", "set", pool, str(slots), "Douyin")
        deployed.start("api-server", "api-server", "--port", str(api_port))
        for command in services:
            deployed.start(command, command)
        token = deployed.wait_for(lambda: api_token(deployed.url), 120, "the API server")
        deployed.session.headers["Authorization"] = f"Bearer {token}"
        yield deployed
    finally:
        deployed.stop()
        if queue:
            _drop_queue(queue)


def fresh_app() -> tuple[str, str]:
    """An app key and secret of its own (give them to the sandbox's ``extra_apps``), so no schedule
    another run left in the shared limiter's Redis counts."""
    return str(10**18 + uuid.uuid4().int % (9 * 10**18)), uuid.uuid4().hex


def shop_conn_id(shop_id: int, index: int) -> str:
    """``douyin_shop_default`` for the first shop, the example DAGs' own; ``douyin_shop_<id>`` after."""
    return "douyin_shop_default" if index == 0 else f"douyin_shop_{shop_id}"


def shop_env(
    url: str, shop_ids: list[int], app: tuple[str, str], warehouse_db: str, *, qps: float
) -> dict[str, str]:
    """A service provider's deployment: one ``douyin_shop`` connection per shop, all of one app
    pacing through one shared limiter (Redis), the ``douyin_shop_conn_ids`` list, and the warehouse
    (``douyin_warehouse``, PostgreSQL) the example DAGs land in."""
    from sqlalchemy.engine import make_url

    env, conn_ids = {}, []
    for index, shop_id in enumerate(shop_ids):
        conn_ids.append(shop_conn_id(shop_id, index))
        extra = {"shop_id": str(shop_id), "qps": qps, "rate_limit_url": CELERY_REDIS}
        connection = {
            "conn_type": "douyin_shop",
            "host": url,
            "login": app[0],
            "password": app[1],
            "extra": extra,
        }
        env[f"AIRFLOW_CONN_{conn_ids[-1].upper()}"] = json.dumps(connection)
    db = make_url(warehouse_db)
    warehouse = {
        "conn_type": "postgres",
        "host": db.host,
        "port": db.port,
        "login": db.username,
        "schema": db.database,
    }
    return {
        **env,
        "AIRFLOW_VAR_DOUYIN_SHOP_CONN_IDS": json.dumps(conn_ids),
        "AIRFLOW_CONN_DOUYIN_WAREHOUSE": json.dumps(warehouse),
        "DOUYIN_SAFETY_LAG_S": "0",
    }


def warehouse_rows(warehouse_db: str) -> dict[str, Any]:
    """What landed: ``{shop_id: {order_id: update_time}}`` of ``douyin_orders``, the order item and after-sale
    ids, and how many rows each table holds (a row landed twice would show as more rows than ids)."""
    import psycopg2
    from sqlalchemy.engine import make_url

    db = make_url(warehouse_db)
    conn = psycopg2.connect(host=db.host, port=db.port, user=db.username, dbname=db.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT shop_id, order_id, update_time FROM douyin_orders")
        rows = cursor.fetchall()
        orders: dict[int, dict[str, int]] = {}
        for shop_id, order_id, update_time in rows:
            orders.setdefault(int(shop_id), {})[str(order_id)] = int(update_time)
        cursor.execute("SELECT order_id FROM douyin_order_items")
        items = [str(row[0]) for row in cursor.fetchall()]
        cursor.execute("SELECT aftersale_id FROM douyin_after_sales")
        after_sales = [str(row[0]) for row in cursor.fetchall()]
    finally:
        conn.close()
    return {
        "orders": orders,
        "order_items": set(items),
        "after_sales": set(after_sales),
        "rows": {"orders": len(rows), "order_items": len(items), "after_sales": len(after_sales)},
    }


def _drop_queue(queue: str) -> None:
    """Remove the keys Celery made for ``queue`` (its list, bindings, unacked entries) from the broker db."""
    import redis

    client = redis.Redis.from_url(CELERY_REDIS)
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)
