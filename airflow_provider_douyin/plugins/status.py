"""What the Douyin page and its JSON show, read from what the provider already stores.

Runs in the API server, which reads the metadata database directly:

* connections: the token Variables (``douyin_token__<conn_id>``, ``douyin_client_token__<client_key>``),
  of which only expiry and issue times are read, and ``douyin_auth_status__<conn_id>`` (last token
  maintenance and its last error);
* streams: the watermark Variables (``douyin_watermark__<conn_id>__<stream>__<target>``) and each
  stream asset's latest event (rows landed, reconciliation result);
* push receiver: :func:`push_section`.

Each section is one function returning JSON-ready rows, so a monitoring system gets exactly what the
page draws.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from airflow_provider_douyin.hooks.token_store import auth_status_key
from airflow_provider_douyin.monitoring import iso, token_health, watermark_of
from airflow_provider_douyin.transfers.reconciliation import reconciliation_key, summary
from airflow_provider_douyin.transfers.watermarks import watermark_key

TOKEN_PREFIX = "douyin_token__"
CLIENT_TOKEN_PREFIX = "douyin_client_token__"
WATERMARK_PREFIX = "douyin_watermark__"
STREAM_URI_PREFIX = "douyin://streams/"
RECENT_EVENTS = 1000
"""Asset events read to find each stream and target's latest run."""


def douyin_variables(session: Any) -> dict[str, str]:
    """Every ``douyin_*`` Variable, decrypted (the callers keep only times and counts)."""
    from airflow.models.variable import Variable
    from sqlalchemy import select

    rows = session.scalars(select(Variable).where(Variable.key.like("douyin%")))
    return {row.key: row.val for row in rows}


def connection_section(variables: dict[str, str], now: float) -> list[dict[str, Any]]:
    """Per connection (and per Open Platform app's client token): expiries, chain time left, last
    refresh, last maintenance and its last error. A connection whose maintenance ran but which stores
    no token of its own (an Open Platform app without a user authorization) still gets its row."""
    status_prefix = auth_status_key("")
    records = {
        key: raw for key, raw in variables.items() if key.startswith((TOKEN_PREFIX, CLIENT_TOKEN_PREFIX))
    }
    for key in variables:
        conn_id = key.removeprefix(status_prefix)
        if key.startswith(status_prefix) and f"{TOKEN_PREFIX}{conn_id}" not in records:
            records[f"{TOKEN_PREFIX}{conn_id}"] = None
    rows = []
    for key, raw in sorted(records.items()):
        if key.startswith(TOKEN_PREFIX):
            conn_id = name = key.removeprefix(TOKEN_PREFIX)
        else:
            name, conn_id = f"app {key.removeprefix(CLIENT_TOKEN_PREFIX)} (client token)", None
        row: dict[str, Any] = {"name": name, "conn_id": conn_id, "variable": key if raw else None}
        try:
            row.update(token_health(raw).as_json(now) if raw else {"kind": None})
        except ValueError as exc:  # names the problem, never the content
            row["error"] = str(exc)
        status = json.loads(variables.get(auth_status_key(conn_id), "{}")) if conn_id else {}
        row.update(
            last_check_at=status.get("checked_at"),
            last_error=status.get("last_error"),
            last_error_at=status.get("last_error_at"),
        )
        rows.append(row)
    return rows


def stream_events(session: Any) -> list[tuple[str, datetime, dict[str, Any]]]:
    """Recent events of the stream assets, newest first: (stream, time, extra)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    query = (
        select(AssetModel.uri, AssetEvent.timestamp, AssetEvent.extra)
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(AssetModel.uri.like(f"{STREAM_URI_PREFIX}%"))
        .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
        .limit(RECENT_EVENTS)
    )
    return [
        (uri.removeprefix(STREAM_URI_PREFIX), ts, extra or {}) for uri, ts, extra in session.execute(query)
    ]


def stream_section(
    variables: dict[str, str], events: Iterable[tuple[str, datetime, dict[str, Any]]], now: float
) -> list[dict[str, Any]]:
    """Per stream and target: watermark, freshness (now - watermark), rows of the last run, last
    reconciliation result.

    A transfer's event names its connection, target and rows; the last reconciliation, passed or
    failed, is the Variable the reconciliation writes per connection, stream and target.
    """
    rows: dict[str, dict[str, Any]] = {}
    for stream, timestamp, extra in events:  # newest first: the first seen is the latest
        conn_id, target = extra.get("conn_id"), extra.get("target")
        if not conn_id:
            continue  # an event from another producer
        key = watermark_key(conn_id, stream, target or "")
        if target is None or "rows" not in extra or key in rows:
            continue  # not a transfer's run (or from before targets were recorded), or an older run
        landed = {str(table): int(count) for table, count in extra["rows"].items()}
        rows[key] = {
            "conn_id": conn_id,
            "stream": stream,
            "target": target,
            "last_run_at": timestamp.astimezone(timezone.utc).isoformat(),
            "rows": landed,
            "rows_total": sum(landed.values()),
        }
    for key, raw in variables.items():
        if not key.startswith(WATERMARK_PREFIX):
            continue
        row = rows.get(key)
        if row is None:
            conn_id, stream, target = key.removeprefix(WATERMARK_PREFIX).split("__", 2)
            row = rows[key] = {"conn_id": conn_id, "stream": stream, "target": target, "rows": {}}
        watermark = watermark_of(raw)
        row.update(watermark=iso(watermark), freshness_seconds=None if watermark is None else now - watermark)
    for row in rows.values():
        raw = variables.get(reconciliation_key(row["conn_id"], row["stream"], row["target"]))
        row["reconciliation"] = summary(json.loads(raw)) if raw else None
    return sorted(rows.values(), key=lambda r: (r["conn_id"], r["stream"], r["target"]))


def push_section() -> list[dict[str, Any]]:
    """Per connection that received or refused a push: messages and rejected signatures in the last
    hour, parked messages and the last message's time (``push.health``).

    Empty while there is no message store (none configured, no local default one): the page then
    shows "receiver not configured".
    """
    from airflow_provider_douyin.hooks.push import existing_push_store
    from airflow_provider_douyin.push.health import push_health

    store = existing_push_store()
    if store is None:
        return []
    return [
        {"conn_id": conn_id, **health, "last_message_at": iso(health["last_message_at"])}
        for conn_id, health in sorted(push_health(store).items())
    ]


def page_data(session: Any, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows, as the JSON endpoint returns it."""
    moment = (now or datetime.now(timezone.utc)).timestamp()
    variables = douyin_variables(session)
    return {
        "generated_at": iso(moment),
        "connections": connection_section(variables, moment),
        "streams": stream_section(variables, stream_events(session), moment),
        "push": push_section(),
    }
