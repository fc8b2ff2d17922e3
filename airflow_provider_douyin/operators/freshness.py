"""Freshness alert: fail when landed data is too old or an authorization is about to run out.

Why a failing task: a sync that silently stops (a paused DAG, a connection whose tokens died, a
stream that keeps failing) shows up as an ageing watermark long before anyone reads the tables,
and a refresh chain that ends needs a human to re-authorize the app before it ends. A failed task
reaches people through the alerting they already have (``on_failure_callback``, e-mail, Slack).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Variable

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException

from airflow_provider_douyin.hooks.token_store import token_variable_key
from airflow_provider_douyin.monitoring import iso, token_health, watermark_of
from airflow_provider_douyin.transfers.watermarks import watermark_key
from airflow_provider_douyin.ui import DOUYIN_PINK

if TYPE_CHECKING:
    from airflow.sdk import Context


class DouyinFreshnessCheckOperator(BaseOperator):
    """Fail, naming each culprit, when a stream's watermark is older than allowed or a connection's
    refresh chain has fewer days left than ``min_chain_days``.

    :param streams: ``{conn_id: [stream, ...]}``, the streams each connection lands.
    :param target: the transfers' target, as in their watermark: ``<sql_conn_id>.<table_prefix>``
        (``DouyinToSqlOperator``) or ``<path>.<table_prefix>`` (``DouyinToStorageOperator``).
    :param max_age: the oldest a watermark may be (now - watermark).
    :param max_age_per_stream: overrides by stream name, e.g. settlements, published the next
        afternoon, are naturally up to two days old.
    :param token_conn_ids: connections whose refresh chain is checked (a Doudian refresh token's
        expiry; an Open Platform user authorization's expiry plus the renewals left).
    :param min_chain_days: fail when a chain has fewer days than this left.

    A stream never landed into ``target``, or a connection without stored tokens, is reported
    but does not fail the check: a new deployment has none yet, and a connection that cannot get
    tokens already fails its own refresh task.

    :returns: per stream its watermark and age, per connection its chain's end and days left.
    """

    template_fields: Sequence[str] = ("target",)
    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        streams: Mapping[str, Sequence[str]],
        target: str,
        max_age: timedelta = timedelta(hours=6),
        max_age_per_stream: Mapping[str, timedelta] | None = None,
        token_conn_ids: Sequence[str] = (),
        min_chain_days: float = 3.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.streams = {conn_id: list(names) for conn_id, names in streams.items()}
        self.target = target
        self.max_age = max_age
        self.max_age_per_stream = dict(max_age_per_stream or {})
        self.token_conn_ids = list(token_conn_ids)
        self.min_chain_days = min_chain_days

    def execute(self, context: Context) -> dict[str, Any]:
        now = time.time()
        problems: list[str] = []
        streams = [
            self._check_stream(conn_id, stream, now, problems)
            for conn_id, names in self.streams.items()
            for stream in names
        ]
        connections = [self._check_chain(conn_id, now, problems) for conn_id in self.token_conn_ids]
        if problems:
            raise AirflowFailException("Douyin freshness check failed: " + "; ".join(problems))
        return {"streams": streams, "connections": connections}

    def _check_stream(self, conn_id: str, stream: str, now: float, problems: list[str]) -> dict[str, Any]:
        watermark = watermark_of(Variable.get(watermark_key(conn_id, stream, self.target), default=None))
        result: dict[str, Any] = {"conn_id": conn_id, "stream": stream, "watermark": iso(watermark)}
        if watermark is None:
            self.log.warning("Stream %s of %s has never landed into %s", stream, conn_id, self.target)
            return result
        age = timedelta(seconds=round(now - watermark))
        limit = self.max_age_per_stream.get(stream, self.max_age)
        result["age_seconds"] = age.total_seconds()
        if age > limit:
            problems.append(
                f"stream {stream!r} of connection {conn_id!r} is {age} behind (watermark {iso(watermark)}), "
                f"more than the {limit} allowed"
            )
        return result

    def _check_chain(self, conn_id: str, now: float, problems: list[str]) -> dict[str, Any]:
        raw = Variable.get(token_variable_key(conn_id), default=None)
        if raw is None:
            self.log.warning("Connection %s has no stored tokens", conn_id)
            return {"conn_id": conn_id, "chain_ends_at": None}
        health = token_health(raw)
        days = health.chain_days_left(now)
        if days is not None and days < self.min_chain_days:
            problems.append(
                f"the refresh chain of connection {conn_id!r} ends at {iso(health.chain_ends_at)}, "
                f"{days:.1f} days from now (less than {self.min_chain_days:g}): re-authorize the app"
            )
        return {"conn_id": conn_id, "chain_ends_at": iso(health.chain_ends_at), "chain_days_left": days}
