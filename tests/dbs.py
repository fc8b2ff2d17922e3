"""Reusable pytest fixtures that yield real common-sql hooks for SQLite, PostgreSQL and MariaDB/MySQL.

Wire them into a conftest with a plain import (pytest picks up imported fixtures)::

    from tests.dbs import mysql_hook, postgres_hook, sql_hook, sqlite_hook  # noqa: F401

Each test gets its own empty database: a temp-file SQLite database, a fresh PostgreSQL schema
(put first on ``search_path`` through the connection's ``options`` extra) or a fresh MySQL
database, dropped again at teardown. The hook comes from ``BaseHook.get_hook(conn_id)`` with the
connection supplied as a JSON ``AIRFLOW_CONN_*`` variable, exactly as a user's task would get it.

Servers (override with environment variables):

* PostgreSQL: ``DOUYIN_TEST_PG_HOST`` (127.0.0.1), ``DOUYIN_TEST_PG_PORT`` (5432),
  ``DOUYIN_TEST_PG_USER`` (tries ``postgres`` then ``root``), ``DOUYIN_TEST_PG_PASSWORD`` (empty),
  ``DOUYIN_TEST_PG_DB`` (``test``).
* MySQL/MariaDB: ``DOUYIN_TEST_MYSQL_HOST`` (127.0.0.1), ``DOUYIN_TEST_MYSQL_PORT`` (3306),
  ``DOUYIN_TEST_MYSQL_USER`` (``root``), ``DOUYIN_TEST_MYSQL_PASSWORD`` (empty).

When a server is unreachable the test is skipped, unless ``CI=true``: then it fails, so CI never
silently loses database coverage.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest

SQLITE_CONN_ID = "douyin_test_sqlite"
POSTGRES_CONN_ID = "douyin_test_postgres"
MYSQL_CONN_ID = "douyin_test_mysql"

_SESSION_TOKEN = uuid.uuid4().hex[:8]
_counter = count()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(f"{message} (CI=true, so database tests must run)", pytrace=False)
    pytest.skip(message)


def _scratch_name(kind: str) -> str:
    return f"douyin_{kind}_{_SESSION_TOKEN}_{next(_counter)}"


def _get_hook(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> Any:
    from airflow.sdk import BaseHook

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return BaseHook.get_hook(conn_id)


# -- SQLite -----------------------------------------------------------------------------------
@pytest.fixture
def sqlite_hook(tmp_path, monkeypatch) -> Iterator[Any]:
    """A ``SqliteHook`` on a fresh temp-file database (``hook.douyin_test_schema == "main"``)."""
    path = tmp_path / "landing.db"
    hook = _get_hook(monkeypatch, SQLITE_CONN_ID, {"conn_type": "sqlite", "host": str(path)})
    hook.douyin_test_schema = "main"
    yield hook


# -- PostgreSQL -------------------------------------------------------------------------------
@functools.cache
def _postgres_probe() -> dict[str, Any] | str:
    """Settings of a reachable PostgreSQL server, or why there is none (probed once per session)."""
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed"
    host = os.environ.get("DOUYIN_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("DOUYIN_TEST_PG_PORT", "5432"))
    password = os.environ.get("DOUYIN_TEST_PG_PASSWORD", "")
    dbname = os.environ.get("DOUYIN_TEST_PG_DB", "test")
    user = os.environ.get("DOUYIN_TEST_PG_USER")
    users = [user] if user else ["postgres", "root"]
    errors = []
    for user in users:
        try:
            psycopg2.connect(
                host=host, port=port, user=user, password=password, dbname=dbname, connect_timeout=5
            ).close()
        except psycopg2.Error as exc:
            errors.append(f"{user}: {' '.join(str(exc).split())}")
            continue
        return {"host": host, "port": port, "login": user, "password": password, "schema": dbname}
    return f"PostgreSQL at {host}:{port}/{dbname} is unreachable ({'; '.join(errors)})"


def _server(probe: Any) -> dict[str, Any]:
    found = probe()
    if isinstance(found, str):
        _unavailable(found)
    return found


def _postgres_admin(server: dict[str, Any], sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(
        host=server["host"],
        port=server["port"],
        user=server["login"],
        password=server["password"],
        dbname=server["schema"],
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def postgres_hook(monkeypatch) -> Iterator[Any]:
    """A ``PostgresHook`` whose ``search_path`` starts with a fresh, empty schema.

    The schema name is available as ``hook.douyin_test_schema``.
    """
    server = _server(_postgres_probe)
    schema = _scratch_name("pg")
    _postgres_admin(server, f'CREATE SCHEMA "{schema}"')
    try:
        conn = {
            "conn_type": "postgres",
            **server,
            "extra": {"options": f"-c search_path={schema}"},
        }
        hook = _get_hook(monkeypatch, POSTGRES_CONN_ID, conn)
        hook.douyin_test_schema = schema
        yield hook
    finally:
        _postgres_admin(server, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- MySQL / MariaDB --------------------------------------------------------------------------
@functools.cache
def _mysql_probe() -> dict[str, Any] | str:
    """Settings of a reachable MySQL/MariaDB server, or why there is none (probed once per session)."""
    try:
        import MySQLdb
    except ImportError:
        return "mysqlclient (MySQLdb) is not installed"
    server = {
        "host": os.environ.get("DOUYIN_TEST_MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("DOUYIN_TEST_MYSQL_PORT", "3306")),
        "login": os.environ.get("DOUYIN_TEST_MYSQL_USER", "root"),
        "password": os.environ.get("DOUYIN_TEST_MYSQL_PASSWORD", ""),
    }
    try:
        _mysql_admin(server, "SELECT 1")
    except MySQLdb.Error as exc:
        return f"MySQL/MariaDB at {server['host']}:{server['port']} is unreachable ({exc})"
    return server


def _mysql_admin(server: dict[str, Any], sql: str) -> None:
    import MySQLdb

    conn = MySQLdb.connect(
        host=server["host"],
        port=server["port"],
        user=server["login"],
        passwd=server["password"],
        connect_timeout=5,
    )
    try:
        cur = conn.cursor()
        cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def mysql_hook(monkeypatch) -> Iterator[Any]:
    """A ``MySqlHook`` (mysqlclient) connected to a fresh, empty database.

    The database keeps the server's default character set and collation, like a user's would.

    The database name is available as ``hook.douyin_test_schema``.
    """
    server = _server(_mysql_probe)
    database = _scratch_name("my")
    _mysql_admin(server, f"CREATE DATABASE `{database}`")
    try:
        conn = {"conn_type": "mysql", **server, "schema": database, "extra": {"charset": "utf8mb4"}}
        hook = _get_hook(monkeypatch, MYSQL_CONN_ID, conn)
        hook.douyin_test_schema = database
        yield hook
    finally:
        _mysql_admin(server, f"DROP DATABASE IF EXISTS `{database}`")


# -- all three --------------------------------------------------------------------------------
SQL_BACKENDS = ("sqlite", "postgres", "mysql")


@pytest.fixture(params=SQL_BACKENDS)
def sql_hook(request) -> Any:
    """``sqlite_hook``, ``postgres_hook`` and ``mysql_hook`` in turn (test ids ``[sqlite]`` etc.)."""
    return request.getfixturevalue(f"{request.param}_hook")
