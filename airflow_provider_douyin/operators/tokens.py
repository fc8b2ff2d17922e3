"""Token maintenance: keep both platforms' tokens alive without a human.

Why an operator on a schedule:

* Doudian (``douyin_shop``): the access token lives 7 days and the refresh token 14. A refresh in
  the last hour before access expiry rotates both; if nobody refreshes, a quiet shop's sync dies
  two weeks later and needs a manual re-authorisation.
* Douyin Open Platform (``douyin_open``): the app's client token lives 2 hours; a user's access
  token 15 days and refresh token 30 days, renewable 5 times. The operator refreshes and renews
  what is due and warns (log and XCom) once the user's authorization has 7 days or one renewal left,
  so a human re-authorizes before the chain ends, not after.

Run it in a 1-slot pool with ``max_active_runs=1`` so there is exactly one refresh owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator

try:
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowNotFoundException, AirflowSkipException

from airflow_provider_douyin.hooks.open_platform import DouyinOpenHook
from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.hooks.token_store import record_auth_outcome
from airflow_provider_douyin.ui import DOUYIN_PINK

if TYPE_CHECKING:
    from airflow.sdk import Context


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


class DouyinTokenRefreshOperator(BaseOperator):
    """Refresh a connection's tokens when they are due, store them, and report their health.

    :param douyin_conn_id: a ``douyin_shop`` or ``douyin_open`` connection.
    :param force: (shop) refresh even outside the rotation window (Doudian then returns the same pair).
    :param skip_if_missing: skip, instead of failing, when the connection does not exist, so one
        maintenance DAG can list connections a deployment may not have.
    :returns: expiry times, whether anything rotated, and warnings; never a token value.
    """

    template_fields: Sequence[str] = ("douyin_conn_id",)
    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        douyin_conn_id: str = DouyinShopHook.default_conn_name,
        force: bool = False,
        skip_if_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.douyin_conn_id = douyin_conn_id
        self.force = force
        self.skip_if_missing = skip_if_missing

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            conn_type = BaseHook.get_connection(self.douyin_conn_id).conn_type
        except AirflowNotFoundException:
            if self.skip_if_missing:
                raise AirflowSkipException(
                    f"no connection {self.douyin_conn_id!r} in this deployment"
                ) from None
            raise
        try:
            result = self._maintain_open() if conn_type == DouyinOpenHook.conn_type else self._refresh_shop()
        except Exception as exc:
            record_auth_outcome(self.douyin_conn_id, exc)
            raise
        record_auth_outcome(self.douyin_conn_id, None)
        return result

    def _refresh_shop(self) -> dict[str, Any]:
        with DouyinShopHook(self.douyin_conn_id) as hook:
            tokens = hook.client.tokens
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

    def _maintain_open(self) -> dict[str, Any]:
        with DouyinOpenHook(self.douyin_conn_id) as hook:
            client = hook.client
            client.client_tokens.access_token()  # fetched only when near expiry
            client_token = client.client_tokens.current()
            user = client.user_tokens
            if user is not None and hook.user_token_store.load() is not None:
                user.maintain()
                health = user.health()
            else:
                health = {"authorized": False, "warnings": []}
        for warning in health["warnings"]:
            self.log.warning("%s", warning)
        self.log.info(
            "Douyin Open Platform tokens for %s: client token valid until %s; user authorization %s",
            self.douyin_conn_id,
            _iso(client_token.expires_at),
            f"until {_iso(health['refresh_expires_at'])}" if health["authorized"] else "not stored",
        )
        result: dict[str, Any] = {
            "conn_id": self.douyin_conn_id,
            "client_token_expires_at": _iso(client_token.expires_at),
            "user_authorized": health["authorized"],
            "warnings": health["warnings"],
        }
        if health["authorized"]:
            result.update(
                access_expires_at=_iso(health["access_expires_at"]),
                refresh_expires_at=_iso(health["refresh_expires_at"]),
                renewals_left=health["renewals_left"],
                chain_days_left=health["chain_days_left"],
            )
        return result
