"""Configuration of a sandbox server: the generated data set and the runtime knobs.

``SandboxConfig`` is fixed at start; ``FaultConfig`` can be changed while the server runs
(``POST /sandbox/faults`` or ``SandboxServer.set_faults``), so it also carries the token
lifetimes and the settlement delay that tests compress from days into seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PAGE_DRIFT = 2


@dataclass
class FaultConfig:
    """Runtime-adjustable behaviour. Every fault is off by default."""

    latency_ms: int = 0
    """Added to every gateway response."""
    qps_limit: int = 0
    """Requests per app_key per sliding second before 60000 isv.traffic-limited; 0 = unlimited."""
    throttle_rate: float = 0.0
    """Probability of a random 60000 isv.traffic-limited."""
    busy_rate: float = 0.0
    """Probability of 20000 isp.service-error (system busy)."""
    http502_rate: float = 0.0
    """Probability of an HTTP 502 with an nginx HTML page."""
    reset_rate: float = 0.0
    """Probability of a TCP reset without any response."""
    slow_rate: float = 0.0
    """Probability of delaying the response by ``slow_ms``."""
    slow_ms: int = 15000
    page_drift: int = 0
    """Records of the requested window touched (update_time=now) before answering a page > 0."""
    visibility_lag_s: float = 0.0
    """Search shows a change only ``visibility_lag_s`` after it happened."""
    access_ttl: float = 7 * 86400
    refresh_ttl: float = 14 * 86400
    rotation_window: float = 3600
    """token.refresh inside this many seconds before access expiry rotates the pair (case 2)."""
    grace: float = 3600
    """How long the superseded pair keeps working after a case-2 rotation."""
    refresh_hold_ms: int = 50
    """How long a token.refresh holds its lock, so a concurrent refresh meets 31012."""
    lost_replies_before_expiry: int = 0
    """The next this many token.refresh rotations inside the rotation window (case 2) rotate the pair and
    lose their reply: the connection closes without a response, so the caller never learns the new pair."""
    lost_replies_after_expiry: int = 0
    """The same for the next rotations after access expiry (case 3), which kill the old pair at once."""
    auth_code_ttl: float = 600
    settle_ready_delay_s: float = 15 * 3600
    """Settlement rows of day D appear at D+1 00:00 + this delay (the doc's "after 15:00")."""
    # Douyin Open Platform (open.douyin.com) token lifetimes and the order-query shuffle.
    client_token_ttl: float = 2 * 3600
    client_token_grace: float = 300
    """How long the previous client_token keeps working after a new fetch."""
    open_access_ttl: float = 15 * 86400
    open_refresh_ttl: float = 30 * 86400
    open_renewals: int = 5
    """renew_refresh_token calls allowed per authorisation before 10020."""
    order_shuffle: bool = False
    """The goodlife order query returns its results in a different order on every request."""
    open_numbers_as_strings: bool = False
    """Open Platform codes, ``now`` and token lifetimes arrive as strings, as some doc samples show."""
    # Push messages (Doudian) and webhooks (Open Platform) the sandbox sends; see ``push_delivery``.
    push_duplicate: float = 0.0
    """Probability that a message is delivered a second time (same msg_id), as both platforms warn."""
    push_reorder: float = 0.0
    """Probability that a message is held back behind the next one (or ``push_reorder_hold_ms`` at most)."""
    push_drop: float = 0.0
    """Probability that a message is never sent (it is still listed, as ``dropped``)."""
    push_delay_ms: int = 0
    """Added before the first attempt of every message."""
    push_bad_sign: float = 0.0
    """Probability that a message carries a wrong signature on every attempt (a forgery to reject)."""
    push_max_attempts: int = 4
    """Attempts per message before it is given up as ``failed``; 1 = never retry."""
    push_retry_ms: int = 1000
    """Wait before the first retry of an unacknowledged message; it doubles for every further retry."""
    push_ack_timeout_ms: int = 5000
    """A reply later than this is no acknowledgement (Doudian wants the ack within 5 s)."""
    push_reorder_hold_ms: int = 1000
    """How long a held-back message waits for a later one to overtake it."""

    def __post_init__(self) -> None:
        self.page_drift = _drift_count(self.page_drift)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown names raise ``ValueError`` so typos are not ignored."""
        names = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        for name, value in changes.items():
            kind = {"float": float, "bool": bool}.get(str(names[name].type), int)
            setattr(self, name, _drift_count(value) if name == "page_drift" else kind(value))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _drift_count(value: Any) -> int:
    """``True`` means the default k=2 records, ``False`` means off."""
    if isinstance(value, bool):
        return DEFAULT_PAGE_DRIFT if value else 0
    return int(value)


@dataclass
class SandboxConfig:
    """The generated data set. Everything is deterministic from ``seed`` and ``now``."""

    orders: int = 500
    """Orders per shop, spread over the last ``days`` days ending at ``now``."""
    shops: int = 1
    seed: int = 7
    days: int = 30
    products: int | None = None
    """Products per shop; default ``clamp(orders // 40, 12, 3000)``."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    extra_apps: dict[str, str] = field(default_factory=dict)
    """More ``app_key -> app_secret`` pairs accepted besides the sandbox app (19-digit keys)."""
    merchants: int = 1
    """抖音来客 merchants (account ids) of the Open Platform side."""
    life_orders: int = 300
    """Goodlife orders per merchant, spread over the same ``days``."""
    life_products: int | None = None
    """Deals per merchant; default ``clamp(life_orders // 20, 10, 2000)``."""
    push_url: str = ""
    """Where Doudian push messages go (the developer console's push URL); empty = none are sent.
    Also settable while running (``POST /sandbox/push``)."""
    webhook_url: str = ""
    """Where Open Platform webhooks go; empty = none are sent."""
    now: float | None = None
    """Business-clock time at start, epoch seconds; ``None`` = wall time. The history ends here,
    the clock ticks on from it and can be moved forward (``POST /sandbox/clock``). Two servers
    with the same seed and the same ``now`` on the same Asia/Shanghai time of day hold the same
    shop, shifted by whole days."""

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SandboxConfig:
        """Build from a flat mix of SandboxConfig and FaultConfig field names."""
        own = {f.name for f in dataclasses.fields(cls)}
        fault_kw = {k: kwargs.pop(k) for k in list(kwargs) if k not in own}
        config = cls(**kwargs)
        config.faults.update(fault_kw)
        return config

    @property
    def products_per_shop(self) -> int:
        return self.products if self.products is not None else max(12, min(3000, self.orders // 40))

    @property
    def life_products_per_merchant(self) -> int:
        if self.life_products is not None:
            return self.life_products
        return max(10, min(2000, self.life_orders // 20))
