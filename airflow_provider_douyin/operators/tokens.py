"""Token maintenance: keep the rotating Doudian token pair alive without a human.

Why an operator on a schedule: the access token lives 7 days and the refresh token 14.
A refresh inside the last hour before access expiry rotates both; if nobody refreshes,
a quiet shop's sync dies two weeks later and needs a manual re-authorisation. Run it
in a 1-slot pool with ``max_active_runs=1`` so there is exactly one refresh owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.ui import DOUYIN_PINK

if TYPE_CHECKING:
    from airflow.sdk import Context


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


class DouyinTokenRefreshOperator(BaseOperator):
    """Refresh the connection's tokens when inside the rotation window and store them.

    :param douyin_conn_id: the shop connection.
    :param force: refresh even outside the rotation window (Doudian then returns the same pair).
    :returns: expiry times and whether the pair rotated; never a token value.
    """

    template_fields: Sequence[str] = ("douyin_conn_id",)
    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"

    def __init__(
        self, *, douyin_conn_id: str = DouyinShopHook.default_conn_name, force: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.douyin_conn_id = douyin_conn_id
        self.force = force

    def execute(self, context: Context) -> dict[str, Any]:
        tokens = DouyinShopHook(self.douyin_conn_id).client.tokens
        before = tokens.current()
        after = tokens.refresh(force=self.force)
        rotated = before is None or before.refresh_token != after.refresh_token
        self.log.info(
            "Douyin tokens for %s %s; access token valid until %s, refresh token until %s",
            self.douyin_conn_id,
            "rotated" if rotated else "still valid, not rotated",
            _iso(after.access_expires_at),
            _iso(after.refresh_expires_at),
        )
        return {
            "conn_id": self.douyin_conn_id,
            "rotated": rotated,
            "access_expires_at": _iso(after.access_expires_at),
            "refresh_expires_at": _iso(after.refresh_expires_at),
        }
