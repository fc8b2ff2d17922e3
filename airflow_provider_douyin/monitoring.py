"""Health figures computed from what the provider stores: token expiries and stream freshness.

Shared by the Douyin page (which reads the metadata database) and the freshness check (which runs
in a task and reads Variables through the task SDK). Only times and counts leave this module: a
stored token record is parsed to read its expiries, and its token values are dropped here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_douyin.client.open_tokens import ClientToken, UserTokenChain, chain_ends_at
from airflow_provider_douyin.client.tokens import TokenPair
from airflow_provider_douyin.transfers.watermarks import load_state

DAY = 86400.0


def iso(epoch: float | None) -> str | None:
    return None if not epoch else datetime.fromtimestamp(epoch, timezone.utc).isoformat()


@dataclass(frozen=True)
class TokenHealth:
    """A stored token record's expiries (epoch seconds); never its token values."""

    kind: str
    """``shop`` (Doudian pair), ``user`` (Open Platform user chain) or ``client`` (app client token)."""
    access_expires_at: float
    refresh_expires_at: float | None
    chain_ends_at: float | None
    """When the record can no longer be refreshed without a human: the refresh token's expiry, plus
    the renewals left for an Open Platform user chain. ``None`` for a client token, which the app
    fetches again whenever it needs one."""
    last_refresh_at: float | None

    def chain_days_left(self, now: float) -> float | None:
        return None if self.chain_ends_at is None else max(self.chain_ends_at - now, 0.0) / DAY

    def as_json(self, now: float) -> dict[str, Any]:
        days = self.chain_days_left(now)
        return {
            "kind": self.kind,
            "access_expires_at": iso(self.access_expires_at),
            "refresh_expires_at": iso(self.refresh_expires_at),
            "chain_ends_at": iso(self.chain_ends_at),
            "chain_days_left": None if days is None else round(days, 2),
            "last_refresh_at": iso(self.last_refresh_at),
        }


def token_health(raw: str) -> TokenHealth:
    """Expiries in a token Variable (``douyin_token__*``, ``douyin_client_token__*``); ValueError if bad."""
    data = json.loads(raw)
    if not isinstance(data, Mapping):
        raise ValueError("stored token record must be a JSON object")
    if "expires_at" in data:
        client = ClientToken.from_json(data)
        return TokenHealth("client", client.expires_at, None, None, client.obtained_at or None)
    if "renewals" in data or "refresh_obtained_at" in data:
        chain = UserTokenChain.from_json(data)
        return TokenHealth(
            "user",
            chain.access_expires_at,
            chain.refresh_expires_at,
            chain_ends_at(chain),
            chain.obtained_at or None,
        )
    pair = TokenPair.from_json(data)
    return TokenHealth(
        "shop",
        pair.access_expires_at,
        pair.refresh_expires_at,
        pair.refresh_expires_at,
        pair.obtained_at or None,
    )


def watermark_of(raw: str | None) -> float | None:
    """The watermark (epoch seconds) a watermark Variable holds; ``None`` if it holds nothing."""
    state = load_state(raw)
    return None if state is None else float(state.watermark)
