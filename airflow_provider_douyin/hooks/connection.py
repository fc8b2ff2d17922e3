"""The one way both Douyin hooks read their Airflow Connection."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_douyin.client.errors import DouyinConfigError


def connection_fields(hook: BaseHook, conn_id: str) -> dict[str, Any]:
    """The Connection's fields as a config's ``from_connection`` takes them, after checking its type.

    A connection of the other platform fails here, named as such, instead of as a misleading field
    error (an Open Platform client_key is not a 19-digit app_key).
    """
    conn = hook.get_connection(conn_id)
    if conn.conn_type != hook.conn_type:
        raise DouyinConfigError(
            f"{hook.hook_name} needs a {hook.conn_type!r} connection; "
            f"{conn_id!r} is of type {conn.conn_type!r}"
        )
    return {
        "login": conn.login,
        "password": conn.password,
        "host": conn.host if not conn.port else f"{conn.host}:{conn.port}",
        "extras": conn.extra_dejson,
    }
