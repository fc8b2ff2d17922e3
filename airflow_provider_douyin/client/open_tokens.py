"""Douyin Open Platform tokens: the app's client token and a user's refresh-token chain.

The platform's rules (https://developer.open-douyin.com/docs/resource/zh-CN/local-life/develop/OpenAPI/preparation/client_token
and the account-permission pages):

* client token (``client_credential``): 2 hours. Each fetch retires the previous token after a
  5-minute grace, and more than 500 fetches in 5 minutes fail with 10020. So every task of a
  client_key reuses the one stored token and a single fetcher replaces it near expiry.
* user tokens (``authorization_code``): access token 15 days, refresh token 30 days.
  ``/oauth/refresh_token/`` gives a new access token and leaves the refresh token's expiry alone;
  ``/oauth/renew_refresh_token/`` gives a new 30-day refresh token and kills the old one at once, at
  most 5 times per authorization (then 10020). After that, or once a refresh token expires (10010),
  only the user can authorize again.

Hence: fetches happen under a per-credential machine lock with the store re-read inside it, a
renewed refresh token is saved before anything uses it, and a refused refresh token is treated as
"another worker renewed it" until the store shows no newer one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Generic, Protocol, TypeVar

from airflow_provider_douyin.client.errors import (
    DouyinReauthorizationRequired,
    DouyinResponseShapeError,
)
from airflow_provider_douyin.client.locks import machine_lock
from airflow_provider_douyin.client.open_errors import as_code
from airflow_provider_douyin.client.open_platform import CLIENT_TOKEN, REFRESH_TOKEN, RENEW_REFRESH_TOKEN
from airflow_provider_douyin.client.redaction import get_logger

log = get_logger(__name__)

DAY = 86400.0
MAX_RENEWALS = 5
REFRESH_LIFETIME = 30 * DAY
"""Assumed for a bootstrap refresh token until a reply states its lifetime."""
REFUSAL_BACKOFF = (0.25, 0.5, 1.0, 2.0, 2.0)
"""Seconds between store re-reads after a refused refresh token, before re-authorization is concluded."""

TokenCall = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""Performs an OAuth call (a path of :mod:`open_platform`) and returns the reply's ``data``."""

Record = TypeVar("Record", "ClientToken", "UserTokenChain")


class _JsonRecord:
    """Frozen dataclasses stored as one JSON object; parse errors name the problem, never the content."""

    REQUIRED: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, value: str | Mapping[str, Any]) -> Any:
        try:
            raw = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError(f"stored {cls.__name__} is not valid JSON") from None
        if not isinstance(raw, Mapping):
            raise ValueError(f"stored {cls.__name__} must be a JSON object")
        missing = [name for name in cls.REQUIRED if raw.get(name) in (None, "")]
        if missing:
            raise ValueError(f"stored {cls.__name__} lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{key: value for key, value in raw.items() if key in known})


@dataclass(frozen=True)
class ClientToken(_JsonRecord):
    """The app's client token with its absolute expiry (epoch seconds); repr hides the token."""

    REQUIRED = ("access_token", "expires_at")

    access_token: str = field(repr=False)
    expires_at: float
    obtained_at: float = 0.0


@dataclass(frozen=True)
class UserTokenChain(_JsonRecord):
    """One user's authorization: both tokens, their expiries and the renewals already spent."""

    REQUIRED = ("access_token", "refresh_token", "access_expires_at", "refresh_expires_at")

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: float
    refresh_expires_at: float
    obtained_at: float = 0.0
    """When the access token was issued."""
    refresh_obtained_at: float = 0.0
    """When the refresh token was issued (by the authorization or the last renewal)."""
    renewals: int = 0
    """Renewals spent on this authorization; the platform allows :data:`MAX_RENEWALS`."""
    open_id: str = ""
    scope: str = ""


def chain_from_authorization(data: Mapping[str, Any], now: float) -> UserTokenChain:
    """The chain an ``/oauth/access_token/`` reply (an authorization code exchanged) starts."""
    method = "/oauth/access_token/"
    refresh_in = as_code(data.get("refresh_expires_in"))
    return UserTokenChain(
        access_token=_token(data, "access_token", method),
        refresh_token=_token(data, "refresh_token", method),
        access_expires_at=now + _lifetime(data, "expires_in", method),
        refresh_expires_at=now + (refresh_in if refresh_in and refresh_in > 0 else REFRESH_LIFETIME),
        obtained_at=now,
        refresh_obtained_at=now,
        open_id=str(data.get("open_id") or ""),
        scope=str(data.get("scope") or ""),
    )


def chain_ends_at(chain: UserTokenChain) -> float:
    """When the authorization ends if every renewal left is spent, each adding one refresh lifetime."""
    renewals_left = max(MAX_RENEWALS - chain.renewals, 0)
    refresh_life = max(chain.refresh_expires_at - chain.refresh_obtained_at, 0.0)
    return chain.refresh_expires_at + renewals_left * refresh_life


class RecordStore(Protocol, Generic[Record]):
    """Persistence for one token record; ``save`` writes it whole in one operation."""

    def load(self) -> Record | None: ...

    def save(self, record: Record) -> None: ...


class InMemoryRecordStore(Generic[Record]):
    """Process-local store for tests and scripts."""

    def __init__(self, record: Record | None = None) -> None:
        self.record = record

    def load(self) -> Record | None:
        return self.record

    def save(self, record: Record) -> None:
        self.record = record


def _lifetime(data: Mapping[str, Any], key: str, method: str) -> float:
    seconds = as_code(data.get(key))
    if seconds is None or seconds <= 0:
        raise DouyinResponseShapeError(f"token reply has no positive {key}", method=method)
    return float(seconds)


def _token(data: Mapping[str, Any], key: str, method: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DouyinResponseShapeError(f"token reply has no {key}", method=method)
    return value


def _margin(margin: float, lifetime: float) -> float:
    # Capped at 10% of the lifetime so compressed (sandbox) lifetimes of seconds still leave most of
    # each token's life usable.
    return min(margin, 0.1 * max(lifetime, 0.0))


class ClientTokenManager:
    """Hands out the app's client token, fetching a new one only near expiry, one fetcher at a time."""

    def __init__(
        self,
        *,
        store: RecordStore[ClientToken],
        call: TokenCall,
        lock_name: str,
        clock: Callable[[], float] = time.time,
        secret_masker: Callable[[str], None] | None = None,
        expiry_margin: float = 600.0,
        lock_directory: str | None = None,
    ) -> None:
        """``lock_name`` identifies the credential (e.g. base URL and client_key) for the machine lock."""
        self._store = store
        self._call = call
        self._lock_name = f"client-token:{lock_name}"
        self._lock_directory = lock_directory
        self._clock = clock
        self._mask = secret_masker or (lambda _secret: None)
        self._expiry_margin = expiry_margin
        self._cached: ClientToken | None = None

    def access_token(self) -> str:
        token = self._cached
        if token is None or self._stale(token):
            token = self._replace_if(self._stale)
        return token.access_token

    def current(self) -> ClientToken | None:
        """The token this manager uses (or the stored one), without fetching."""
        return self._cached or self._store.load()

    def invalidate(self, failed_access_token: str) -> str:
        """After the platform refused ``failed_access_token``: adopt a newer stored token or fetch one."""
        return self._replace_if(lambda token: token.access_token == failed_access_token).access_token

    def _stale(self, token: ClientToken) -> bool:
        lifetime = token.expires_at - token.obtained_at
        return self._clock() >= token.expires_at - _margin(self._expiry_margin, lifetime)

    def _replace_if(self, needed: Callable[[ClientToken], bool]) -> ClientToken:
        with machine_lock(self._lock_name, self._lock_directory):
            stored = self._store.load()
            if stored is not None and self._clock() < stored.expires_at and not needed(stored):
                return self._adopt(stored)
            data = self._call(CLIENT_TOKEN, {"grant_type": "client_credential"})
            now = self._clock()
            fresh = ClientToken(
                access_token=_token(data, "access_token", CLIENT_TOKEN),
                expires_at=now + _lifetime(data, "expires_in", CLIENT_TOKEN),
                obtained_at=now,
            )
            self._store.save(fresh)
            log.info("Fetched a new Douyin client token; it expires at %.0f", fresh.expires_at)
            return self._adopt(fresh)

    def _adopt(self, token: ClientToken) -> ClientToken:
        if token != self._cached:
            self._mask(token.access_token)
            self._cached = token
        return token


class UserTokenManager:
    """Keeps one user's access token fresh and renews the refresh token before it runs out.

    ``renew_before``: renew the refresh token once it has less than this long to live (capped at a
    third of its lifetime). ``warn_days``: warn once the whole chain (refresh token plus renewals left)
    has this many days or fewer, or one renewal or none is left.
    """

    def __init__(
        self,
        *,
        store: RecordStore[UserTokenChain],
        call: TokenCall,
        lock_name: str,
        label: str,
        conn_id: str = "<conn_id>",
        bootstrap_refresh_token: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        secret_masker: Callable[[str], None] | None = None,
        expiry_margin: float = DAY,
        renew_before: float = 7 * DAY,
        warn_days: float = 7.0,
        lock_directory: str | None = None,
    ) -> None:
        self._store = store
        self._call = call
        self._lock_name = f"user-token:{lock_name}"
        self._lock_directory = lock_directory
        self._label = label
        self._conn_id = conn_id
        self._bootstrap = bootstrap_refresh_token
        self._clock = clock
        self._sleep = sleep
        self._mask = secret_masker or (lambda _secret: None)
        self._expiry_margin = expiry_margin
        self._renew_before = renew_before
        self._warn_days = warn_days
        self._cached: UserTokenChain | None = None
        if bootstrap_refresh_token:
            self._mask(bootstrap_refresh_token)

    # -- public -------------------------------------------------------------------------------------
    def access_token(self) -> str:
        chain = self._cached
        if chain is None or self._needs_work(chain):
            chain = self._maintain(force_refresh=None)
        return chain.access_token

    def invalidate(self, failed_access_token: str) -> str:
        """After the platform refused ``failed_access_token``: adopt a newer stored one or refresh."""
        return self._maintain(force_refresh=failed_access_token).access_token

    def maintain(self) -> UserTokenChain:
        """Maintenance path (the token DAG): refresh and renew whatever is due, then report health."""
        return self._maintain(force_refresh=None)

    def health(self, chain: UserTokenChain | None = None) -> dict[str, Any]:
        """Expiries, days and renewals left, and warnings, for logs and XCom; never a token value."""
        chain = chain or self._cached or self._store.load()
        if chain is None:
            return {"authorized": False, "warnings": [f"{self._label} has no stored user authorization"]}
        now = self._clock()
        renewals_left = max(MAX_RENEWALS - chain.renewals, 0)
        days_left = max(chain_ends_at(chain) - now, 0.0) / DAY
        warnings = []
        if days_left <= self._warn_days:
            warnings.append(f"the authorization of {self._label} ends in {days_left:.1f} days")
        if renewals_left <= 1:
            warnings.append(f"{renewals_left} refresh-token renewal(s) left for {self._label}")
        return {
            "authorized": True,
            "open_id": chain.open_id,
            "access_expires_at": chain.access_expires_at,
            "refresh_expires_at": chain.refresh_expires_at,
            "renewals_left": renewals_left,
            "chain_days_left": round(days_left, 2),
            "warnings": warnings,
        }

    # -- decisions ----------------------------------------------------------------------------------
    def _access_stale(self, chain: UserTokenChain) -> bool:
        lifetime = chain.access_expires_at - chain.obtained_at
        return self._clock() >= chain.access_expires_at - _margin(self._expiry_margin, lifetime)

    def _renewal_due(self, chain: UserTokenChain) -> bool:
        if chain.renewals >= MAX_RENEWALS:
            return False
        lifetime = chain.refresh_expires_at - chain.refresh_obtained_at
        window = min(self._renew_before, max(lifetime, 0.0) / 3)
        return self._clock() >= chain.refresh_expires_at - window

    def _needs_work(self, chain: UserTokenChain) -> bool:
        return self._access_stale(chain) or self._renewal_due(chain)

    # -- the one place that changes the chain -------------------------------------------------------
    def _maintain(self, *, force_refresh: str | None) -> UserTokenChain:
        with machine_lock(self._lock_name, self._lock_directory):
            chain = self._store.load()
            if chain is None:
                chain = self._from_bootstrap()
            if self._renewal_due(chain):
                chain = self._renew(chain)
            if self._access_stale(chain) or chain.access_token == force_refresh:
                chain = self._refresh(chain)
            if self._clock() >= chain.access_expires_at:
                raise self._reauth("the stored access token has expired and could not be refreshed")
            if chain != self._cached:
                for warning in self.health(chain)["warnings"]:
                    log.warning(
                        "%s: authorize again before it ends (douyin-oauth url, then exchange)", warning
                    )
            return self._adopt(chain)

    def _from_bootstrap(self) -> UserTokenChain:
        if not self._bootstrap:
            raise self._reauth("the token store is empty and no bootstrap refresh_token is configured")
        now = self._clock()
        placeholder = UserTokenChain(
            access_token="",
            refresh_token=self._bootstrap,
            access_expires_at=0.0,
            refresh_expires_at=now + REFRESH_LIFETIME,
            refresh_obtained_at=now,
        )
        return self._refresh(placeholder)

    def _refresh(self, chain: UserTokenChain) -> UserTokenChain:
        params = {"grant_type": "refresh_token", "refresh_token": chain.refresh_token}
        data = self._guarded_call(REFRESH_TOKEN, params, chain)
        if isinstance(data, UserTokenChain):  # another worker refreshed or renewed meanwhile
            return data
        now = self._clock()
        refresh_token = data.get("refresh_token") or chain.refresh_token
        refresh_in = as_code(data.get("refresh_expires_in"))
        fresh = replace(
            chain,
            access_token=_token(data, "access_token", REFRESH_TOKEN),
            access_expires_at=now + _lifetime(data, "expires_in", REFRESH_TOKEN),
            obtained_at=now,
            refresh_token=str(refresh_token),
            refresh_expires_at=now + refresh_in
            if refresh_in and refresh_in > 0
            else chain.refresh_expires_at,
            open_id=str(data.get("open_id") or chain.open_id),
            scope=str(data.get("scope") or chain.scope),
        )
        self._save(fresh, "refreshed the access token")
        return fresh

    def _renew(self, chain: UserTokenChain) -> UserTokenChain:
        try:
            data = self._guarded_call(RENEW_REFRESH_TOKEN, {"refresh_token": chain.refresh_token}, chain)
        except DouyinReauthorizationRequired as exc:
            if exc.code != 10020 or self._clock() >= chain.refresh_expires_at:
                raise
            # Renewals used up: say so once in the store, and keep using the token until it expires.
            spent = replace(chain, renewals=MAX_RENEWALS)
            self._save(spent, "recorded that no refresh-token renewal is left")
            return spent
        if isinstance(data, UserTokenChain):
            return data
        now = self._clock()
        renewed = replace(
            chain,
            refresh_token=_token(data, "refresh_token", RENEW_REFRESH_TOKEN),
            refresh_expires_at=now + _lifetime(data, "expires_in", RENEW_REFRESH_TOKEN),
            refresh_obtained_at=now,
            renewals=chain.renewals + 1,
        )
        # The old refresh token is dead from this moment: persist the new one before anything uses it.
        self._save(renewed, f"renewed the refresh token ({MAX_RENEWALS - renewed.renewals} renewals left)")
        return renewed

    def _guarded_call(
        self, method: str, params: Mapping[str, Any], chain: UserTokenChain
    ) -> Mapping[str, Any] | UserTokenChain:
        """Call ``method``; if the refresh token is refused, return a newer stored chain when one appears.

        A renewal elsewhere kills the refresh token this worker holds, and that worker saves the new
        chain only after the platform answered it; so a refusal is final only when the store still holds
        the refused refresh token after a bounded wait.
        """
        try:
            return self._call(method, params)
        except DouyinReauthorizationRequired as exc:
            if exc.code == 10020 and method == RENEW_REFRESH_TOKEN:
                raise
            for delay in (0.0, *REFUSAL_BACKOFF):
                self._sleep(delay)
                stored = self._store.load()
                if stored is not None and stored.refresh_token != chain.refresh_token:
                    log.warning("Refresh token of %s was refused; adopting a newer stored one", self._label)
                    return stored
            raise self._reauth(f"{method} refused the newest stored refresh token", exc) from None

    def _save(self, chain: UserTokenChain, what: str) -> None:
        self._mask(chain.access_token)
        self._mask(chain.refresh_token)
        self._store.save(chain)
        log.info(
            "Douyin user tokens of %s: %s; access expires at %.0f, refresh at %.0f",
            self._label,
            what,
            chain.access_expires_at,
            chain.refresh_expires_at,
        )

    def _adopt(self, chain: UserTokenChain) -> UserTokenChain:
        if chain != self._cached:
            self._mask(chain.access_token)
            self._mask(chain.refresh_token)
            self._cached = chain
        return chain

    def _reauth(
        self, reason: str, cause: DouyinReauthorizationRequired | None = None
    ) -> DouyinReauthorizationRequired:
        hint = (
            f"Re-authorization needed for {self._label}: run `douyin-oauth url --conn-id {self._conn_id}`, "
            "have the Douyin account holder open the URL and approve, then run "
            f"`douyin-oauth exchange --conn-id {self._conn_id} <code>` to store the new tokens."
        )
        if cause is None:
            return DouyinReauthorizationRequired(reason, method=REFRESH_TOKEN, hint=hint)
        return DouyinReauthorizationRequired(
            f"{reason}: {cause.msg}" if cause.msg else reason,
            method=cause.method,
            code=cause.code,
            sub_code=cause.sub_code,
            sub_msg=cause.sub_msg,
            log_id=cause.log_id,
            http_status=cause.http_status,
            hint=hint,
        )
