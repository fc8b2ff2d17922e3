"""Token persistence in an Airflow Variable.

Airflow 3 tasks cannot write Connections, but they can write Variables, which are
encrypted at rest and masked by key name ("token"). One Variable per connection holds
both tokens and their absolute expiry times, written in a single ``Variable.set`` so a
reader never sees a new access token next to a stale refresh token.
"""

from __future__ import annotations

import logging

from airflow.sdk import Variable
from airflow.sdk.log import mask_secret

from airflow_provider_douyin.client.tokens import TokenPair

log = logging.getLogger(__name__)


def token_variable_key(conn_id: str) -> str:
    return f"douyin_token__{conn_id}"


class VariableTokenStore:
    """``TokenStore`` backed by the Variable ``douyin_token__<conn_id>``."""

    def __init__(self, conn_id: str) -> None:
        self.key = token_variable_key(conn_id)

    def load(self) -> TokenPair | None:
        raw = Variable.get(self.key, default=None)
        if not raw:
            return None
        pair = TokenPair.from_json(raw)
        mask_secret(pair.access_token)
        mask_secret(pair.refresh_token)
        return pair

    def save(self, pair: TokenPair) -> None:
        mask_secret(pair.access_token)
        mask_secret(pair.refresh_token)
        Variable.set(
            self.key, pair.to_json(), description="Douyin tokens, rotated by airflow-provider-douyin"
        )
        log.info("Stored rotated Douyin tokens in Variable %s", self.key)

    def __repr__(self) -> str:
        return f"VariableTokenStore(key={self.key!r})"
