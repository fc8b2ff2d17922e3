"""Sensors for Douyin shop conditions: new orders, published settlement bills, low stock.

Each works in poke, reschedule and deferrable mode, and each mode evaluates the same function from
``streams.conditions``. A deferrable sensor pokes once on the worker first and defers only when the
condition does not hold yet, as Airflow's own sensors do; ``deferrable`` defaults to the
``[operators] default_deferrable`` setting.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_douyin.hooks.shop import DouyinShopHook
from airflow_provider_douyin.streams.catalog import Publication
from airflow_provider_douyin.streams.conditions import (
    FULL_READ_EVERY_S,
    CheckResult,
    DouyinConditionFailed,
    evaluate,
)
from airflow_provider_douyin.streams.windows import (
    SHANGHAI,
    latest_published_day,
    parse_datetime,
    publication_time,
)
from airflow_provider_douyin.triggers.shop import DouyinConditionTrigger
from airflow_provider_douyin.ui import DOUYIN_PINK

try:  # Airflow 3.2+
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf

if TYPE_CHECKING:
    from airflow.sdk import Context

AUTH_RETRIES = 3
CARRY_KEY = "douyin_condition_carry"
"""``task_state_store`` key under which a rescheduled sensor keeps what its check learnt."""


class _DouyinConditionSensor(BaseSensorOperator):
    check: str = ""
    ui_color = DOUYIN_PINK
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        douyin_conn_id: str = DouyinShopHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.douyin_conn_id = douyin_conn_id
        self.deferrable = deferrable
        self._carry: tuple[dict[str, Any], dict[str, Any]] | None = None

    def check_params(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    # -- what a check learnt, for its next poke ------------------------------------------------
    def _state_store(self, context: Context) -> Any:
        """Rescheduled pokes run in new processes; Airflow 3.3+ keeps their state per task instance.

        A deferrable sensor pokes once and hands its state to the trigger instead.
        """
        return context.get("task_state_store") if self.reschedule and not self.deferrable else None

    def _recall(self, context: Context, params: dict[str, Any]) -> dict[str, Any]:
        if self._carry is None and (store := self._state_store(context)) is not None:
            stored = store.get(CARRY_KEY)
            if isinstance(stored, dict):
                self._carry = (stored.get("params"), stored.get("carry") or {})
        if self._carry is not None and self._carry[0] == params:
            return self._carry[1]
        return {}

    def _remember(self, context: Context, params: dict[str, Any], result: CheckResult) -> None:
        store = self._state_store(context)
        if result.done:
            if self._carry is not None and store is not None:
                store.delete(CARRY_KEY)
            self._carry = None
        elif result.carry:
            self._carry = (params, result.carry)
            if store is not None:
                store.set(CARRY_KEY, {"params": params, "carry": result.carry})

    def _evaluate(self, context: Context, params: dict[str, Any]) -> CheckResult:
        with DouyinShopHook(self.douyin_conn_id).client as client:
            result = evaluate(self.check, client.request, {**params, **self._recall(context, params)})
        self._remember(context, params, result)
        return result

    # -- modes ---------------------------------------------------------------------------------
    def poke(self, context: Context) -> PokeReturnValue | bool:
        result = self._evaluate(context, self.check_params(context))
        if not result.done:
            self.log.info("Waiting: %s", result.reason)
            return False
        return PokeReturnValue(is_done=True, xcom_value=result.payload)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + float(self.timeout)
        done = self.poke(context)
        if done:
            return done.xcom_value
        # The worker has just asked; the trigger asks again one poke_interval later.
        next_poke = time.time() + float(self.poke_interval)
        self._defer(context, auth_retries=AUTH_RETRIES, deadline=deadline, start_at=next_poke)

    def _defer(
        self, context: Context, *, auth_retries: int, deadline: float, start_at: float | None = None
    ) -> None:
        # The trigger only reads stored tokens, so the worker makes sure a valid one exists first.
        with DouyinShopHook(self.douyin_conn_id).client as client:
            client.tokens.access_token()
        params = self.check_params(context)
        self.defer(
            trigger=DouyinConditionTrigger(
                check=self.check,
                conn_id=self.douyin_conn_id,
                params={**params, **self._recall(context, params)},
                poke_interval=float(self.poke_interval),
                deadline=deadline,
                start_at=start_at,
            ),
            method_name="execute_complete",
            kwargs={"auth_retries": auth_retries, "deadline": deadline},
            timeout=timedelta(seconds=max(1.0, deadline - time.time())),
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        auth_retries: int = AUTH_RETRIES,
        deadline: float | None = None,
    ) -> Any:
        status = event.get("status")
        if status == "success":
            return event.get("payload")
        if status == "timeout":
            message = f"{self.task_id} timed out: {event.get('message', '')}"
            raise AirflowSkipException(message) if self.soft_fail else AirflowSensorTimeout(message)
        if status == "auth_expired" and auth_retries > 0:
            self.log.info("Token expired while deferred; refreshing on the worker and deferring again")
            with DouyinShopHook(self.douyin_conn_id).client as client:
                client.tokens.refresh(force=True)
            self._defer(
                context,
                auth_retries=auth_retries - 1,
                deadline=deadline or time.time() + float(self.timeout),
            )
        raise DouyinConditionFailed(event.get("message", f"unexpected trigger event {event!r}"))


class DouyinOrdersSensor(_DouyinConditionSensor):
    """Wait until at least ``min_count`` orders matching a filter exist in a window.

    :param window_start: templated; defaults to the run's ``data_interval_start``.
    :param window_end: templated; defaults to the run's ``data_interval_end``, else now.
    :param order_statuses: e.g. ``[105, 2, 3, 5]`` for paid and later; ``None`` for any.
    :param time_field: ``update_time`` (changed in the window) or ``create_time``.
    """

    check = "orders_exist"
    template_fields: Sequence[str] = ("douyin_conn_id", "window_start", "window_end")

    def __init__(
        self,
        *,
        window_start: datetime | str | None = None,
        window_end: datetime | str | None = None,
        order_statuses: Sequence[int] | None = None,
        time_field: str = "update_time",
        min_count: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window_start = window_start
        self.window_end = window_end
        self.order_statuses = list(order_statuses) if order_statuses else None
        self.time_field = time_field
        self.min_count = min_count

    def check_params(self, context: Context) -> dict[str, Any]:
        end = parse_datetime(self.window_end) or parse_datetime(context.get("data_interval_end"))
        end = end or datetime.now(timezone.utc)
        start = parse_datetime(self.window_start) or parse_datetime(context.get("data_interval_start"))
        if start is None or start >= end:
            start = end - timedelta(hours=1)
        return {
            "start": int(start.timestamp()),
            "end": int(end.timestamp()),
            "order_statuses": self.order_statuses,
            "time_field": self.time_field,
            "min_count": self.min_count,
        }


class DouyinSettlementSensor(_DouyinConditionSensor):
    """Wait until the T+1 settlement bill for a day is published.

    Doudian publishes day D's bill on D+1 and advises reading it after 15:00, so the
    sensor knows when it is worth asking. Before that moment it makes no API call: a
    deferrable sensor defers once, straight to the publication time, and then polls every
    ``poke_interval``; a rescheduled one is rescheduled to the publication time. When the
    bill is already there it returns at once. It gives up ``wait_after_publication`` after
    the publication time: a deadline fixed by the calendar, not by when the run happened
    to start. ``timeout`` (7 days unless set) only caps that; leave it unset.

    :param settlement_date: templated ``YYYY-MM-DD`` (Asia/Shanghai); defaults to the day
        of the run's ``data_interval_start``, else (no logical date) the latest day whose
        bill should be out.
    :param not_before: how long after the next midnight the bill is published (15:00).
    :param wait_after_publication: how long to keep polling after that before timing out.
    """

    check = "settlement_ready"
    template_fields: Sequence[str] = ("douyin_conn_id", "settlement_date")

    def __init__(
        self,
        *,
        settlement_date: str | None = None,
        not_before: timedelta = timedelta(hours=15),
        wait_after_publication: timedelta = timedelta(hours=8),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settlement_date = settlement_date
        self.not_before = not_before
        self.wait_after_publication = wait_after_publication

    @property
    def publication(self) -> Publication:
        return Publication(ready_after=timedelta(days=1) + self.not_before)

    def bill_day(self, context: Context) -> date:
        if self.settlement_date not in (None, "", "None"):
            return date.fromisoformat(str(self.settlement_date))
        start = parse_datetime(context.get("data_interval_start"))
        if start is not None:
            return start.astimezone(SHANGHAI).date()
        return latest_published_day(self.publication, datetime.now(timezone.utc))

    def check_params(self, context: Context) -> dict[str, Any]:
        return {"day": self.bill_day(context).isoformat(), "not_before_s": self.not_before.total_seconds()}

    def _schedule(self, context: Context) -> tuple[float, float]:
        """``(publication time, deadline)`` as epoch seconds."""
        published = publication_time(self.publication, self.bill_day(context)).timestamp()
        return published, published + self.wait_after_publication.total_seconds()

    def _timed_out(self, deadline: float) -> Exception:
        message = f"{self.task_id}: no settlement bill by {datetime.fromtimestamp(deadline, timezone.utc)}"
        return AirflowSkipException(message) if self.soft_fail else AirflowSensorTimeout(message)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        published, deadline = self._schedule(context)
        if time.time() < published:
            if self.reschedule:
                raise AirflowRescheduleException(datetime.fromtimestamp(published, timezone.utc))
            self.log.info("Waiting: the bill is not published before %s", datetime.fromtimestamp(published))
            return False
        result = super().poke(context)
        if not result and time.time() >= deadline:
            raise self._timed_out(deadline)
        return result

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        published, deadline = self._schedule(context)
        deadline = min(deadline, time.time() + float(self.timeout))
        start_at = published
        if time.time() >= published:
            # A past day (backfill, late run) is asked once; only a missing bill may wait.
            result = self._evaluate(context, self.check_params(context))
            if result.done:
                return result.payload
            if time.time() >= deadline:
                raise self._timed_out(deadline)
            start_at = time.time() + float(self.poke_interval)
        self._defer(context, auth_retries=AUTH_RETRIES, deadline=deadline, start_at=start_at)


class DouyinLowStockSensor(_DouyinConditionSensor):
    """Wait until any SKU's stock is below ``threshold``; the XCom lists those SKUs and their stock.

    The first poke reads the whole catalogue; later pokes read the stock of changed products only
    (products updated, and products of orders updated, since the previous poke), so a quiet poke
    costs two requests whatever the catalogue's size. The whole catalogue is read again every
    ``full_read_every``, because a stock edit alone may not mark its product updated.

    It waits in ``reschedule`` mode unless told otherwise, so it holds no worker or pool slot
    between pokes. Reschedule mode keeps what the last poke saw in ``task_state_store`` (Airflow
    3.3+; on older versions every rescheduled poke reads the whole catalogue), a deferrable sensor
    in its trigger.

    :param threshold: templated; a SKU with ``stock_num`` below it is low.
    :param full_read_every: how often to read the whole catalogue even when nothing changed.
    """

    check = "low_stock"
    template_fields: Sequence[str] = ("douyin_conn_id", "threshold")

    def __init__(
        self,
        *,
        threshold: int | str,
        full_read_every: timedelta = timedelta(seconds=FULL_READ_EVERY_S),
        mode: str = "reschedule",
        **kwargs: Any,
    ) -> None:
        super().__init__(mode=mode, **kwargs)
        self.threshold = threshold
        self.full_read_every = full_read_every

    def check_params(self, context: Context) -> dict[str, Any]:
        return {"threshold": int(self.threshold), "full_read_every_s": self.full_read_every.total_seconds()}
