"""Airflow's side of the push receiver: connections as credentials, and where the message store is.

The receiver (standalone or mounted), the trigger and the realtime DAG must agree on one store.
Each resolves it the same way: an explicit SQL connection id, else the ``DOUYIN_PUSH_STORE_CONN_ID``
environment variable, else ``[douyin] push_store_conn_id`` in airflow.cfg, else a local SQLite
file (``$DOUYIN_PUSH_HOME/messages.db``, default ``~/.douyin-push``), which only works when all of
them run on one machine.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from airflow.sdk import BaseHook

from airflow_provider_douyin.client.config import SHOP_CONN_TYPE
from airflow_provider_douyin.client.open_config import OPEN_CONN_TYPE
from airflow_provider_douyin.hooks.token_store import mask_long_secret
from airflow_provider_douyin.push.protocol import Platform
from airflow_provider_douyin.push.receiver import Credentials
from airflow_provider_douyin.push.store import PushStore, open_store

CONN_TYPES: dict[Platform, str] = {"doudian": SHOP_CONN_TYPE, "open": OPEN_CONN_TYPE}
STORE_ENV = "DOUYIN_PUSH_STORE_CONN_ID"


def default_store_path() -> Path:
    return Path(os.environ.get("DOUYIN_PUSH_HOME") or Path.home() / ".douyin-push") / "messages.db"


def store_conn_id(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    try:
        from airflow.configuration import conf

        return conf.get("douyin", "push_store_conn_id", fallback=None) or None
    except Exception:  # no airflow.cfg to read: the local default applies
        return None


def store_url(conn_id: str | None) -> str:
    """The SQLAlchemy URL of a SQL connection (the warehouse), or of the local default file."""
    if conn_id is None:
        path = default_store_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    hook = BaseHook.get_hook(conn_id)
    try:
        return str(hook.sqlalchemy_url.render_as_string(hide_password=False))
    except Exception:  # hooks without a SQLAlchemy URL (SQLite) still have a URI
        return hook.get_uri()


_stores: dict[str, PushStore] = {}
_stores_lock = threading.Lock()


def push_store(conn_id: str | None = None) -> PushStore:
    """The store (cached per process) for ``conn_id`` resolved as the module docstring says."""
    url = store_url(store_conn_id(conn_id))
    with _stores_lock:
        if url not in _stores:
            _stores[url] = open_store(url)
        return _stores[url]


def existing_push_store() -> PushStore | None:
    """The configured store, or the local default one if it exists; ``None`` when there is neither, so
    a reader (the Douyin page) never creates a store of its own."""
    conn_id = store_conn_id()
    if conn_id is None and not default_store_path().exists():
        return None
    return push_store(conn_id)


class ConnectionCredentials:
    """Credentials of ``douyin_shop`` / ``douyin_open`` connections, read as Airflow reads connections
    (secrets backends, ``AIRFLOW_CONN_*``, the metadata database) and cached for ``ttl`` seconds, so a
    rotated secret takes effect within that time and a flood of requests is not a flood of lookups."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Credentials | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, platform: Platform, conn_id: str) -> Credentials | None:
        key = (platform, conn_id)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        creds = self._lookup(platform, conn_id)
        with self._lock:
            self._cache[key] = (now, creds)
        return creds

    @staticmethod
    def _lookup(platform: Platform, conn_id: str) -> Credentials | None:
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception:  # unknown connection (AirflowNotFoundException) or unreadable backend
            return None
        if conn.conn_type != CONN_TYPES[platform] or not conn.login or not conn.password:
            return None
        mask_long_secret(conn.password)
        return Credentials(key=conn.login.strip(), secret=conn.password)
