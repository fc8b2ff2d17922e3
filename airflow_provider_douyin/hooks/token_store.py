"""Token persistence in an Airflow Variable, inside a task or anywhere else.

Airflow 3 tasks cannot write Connections, but they can write Variables, which are
encrypted at rest and masked by key name ("token"). One Variable per connection holds
both tokens and their absolute expiry times, written in a single ``Variable.set`` so a
reader never sees a new access token next to a stale refresh token.

Inside a running task the task SDK talks to the supervisor. Outside one (a notebook, a
script, the UI's Test button) there is no supervisor, so the store writes the metadata
database's Variables through the ORM when a database is configured and reachable, and
otherwise keeps the pair in process memory, warning once that rotated tokens will not persist.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol

from airflow_provider_douyin.client.redaction import get_logger, redact
from airflow_provider_douyin.client.tokens import TokenPair

log = get_logger(__name__)

MIN_MASKED_LENGTH = 8
"""Shorter values are never passed to ``mask_secret``: Airflow refuses to mask them and logs
"Skipping masking for a secret as it's too short", and no real secret here is that short."""

DESCRIPTION = "Douyin tokens, rotated by airflow-provider-douyin"


def mask_long_secret(secret: str | None) -> None:
    """Mask ``secret`` in Airflow's logs; values shorter than :data:`MIN_MASKED_LENGTH` are skipped."""
    if secret and len(secret) >= MIN_MASKED_LENGTH:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)


def token_variable_key(conn_id: str) -> str:
    return f"douyin_token__{conn_id}"


def auth_status_key(conn_id: str) -> str:
    return f"douyin_auth_status__{conn_id}"


class _Backend(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class _TaskVariables:
    """The task SDK's Variables (through the supervisor)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        return Variable.get(key, default=None)

    def set(self, key: str, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value, description=DESCRIPTION)


class _MetadataDbVariables:
    """The metadata database's Variables through the ORM, for code running outside a task."""

    @staticmethod
    def probe() -> None:
        """Raise unless a migrated metadata database answers (``Variable.get`` would only log it)."""
        from airflow.utils.session import create_session
        from sqlalchemy import text

        with create_session() as session:
            session.execute(text("SELECT 1 FROM variable WHERE 1 = 0"))

    def get(self, key: str) -> str | None:
        from airflow.models.variable import Variable

        return Variable.get(key, default_var=None)

    def set(self, key: str, value: str) -> None:
        from airflow.models.variable import Variable

        Variable.set(key, value, description=DESCRIPTION)


class _ProcessMemory:
    """Last resort: the pair lives as long as the process, shared by every hook of the connection."""

    _values: ClassVar[dict[str, str]] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        self._values[key] = value


def _in_task() -> bool:
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


_warned_in_memory = False


def _outside_task_backend() -> _Backend:
    global _warned_in_memory
    try:
        _MetadataDbVariables.probe()
    except Exception as exc:  # no metadata DB configured or reachable: any driver or ORM error
        if not _warned_in_memory:
            _warned_in_memory = True
            log.warning(
                "No Airflow task context and no reachable metadata database (%s): Douyin tokens are "
                "kept in this process only and will not persist",
                type(exc).__name__,
            )
        return _ProcessMemory()
    return _MetadataDbVariables()


class VariableTokenStore:
    """Token store backed by one Variable (``douyin_token__<conn_id>`` by default), wherever the code runs.

    ``record`` is the stored type: a Doudian :class:`TokenPair`, or an Open Platform client token or
    user chain; anything with ``to_json``/``from_json`` and ``access_token`` (and ``refresh_token``).
    """

    def __init__(self, conn_id: str, *, record: Any = TokenPair, key: str | None = None) -> None:
        self.key = key or token_variable_key(conn_id)
        self.record = record
        self._backend: _Backend | None = None

    @property
    def backend(self) -> Any:
        """Chosen on first use: the task SDK in a task, else the metadata DB, else process memory."""
        if self._backend is None:
            self._backend = _TaskVariables() if _in_task() else _outside_task_backend()
        return self._backend

    @property
    def persistent(self) -> bool:
        """Whether saved tokens outlive this process (False only for the in-process fallback)."""
        return not isinstance(self.backend, _ProcessMemory)

    def load(self) -> Any:
        raw = self.backend.get(self.key)
        if not raw:
            return None
        stored = self.record.from_json(raw)
        _mask_tokens(stored)
        return stored

    def save(self, stored: Any) -> None:
        _mask_tokens(stored)
        self.backend.set(self.key, stored.to_json())
        log.info("Stored rotated Douyin tokens in Variable %s", self.key)

    def __repr__(self) -> str:
        return f"VariableTokenStore(key={self.key!r})"


def _mask_tokens(stored: Any) -> None:
    mask_long_secret(getattr(stored, "access_token", None))
    mask_long_secret(getattr(stored, "refresh_token", None))


def record_auth_outcome(conn_id: str, error: BaseException | None) -> None:
    """Remember when token maintenance last ran for ``conn_id`` and its last error, for the Douyin page.

    Stored beside the tokens, never with them: the error's class and message, which name the problem
    but carry no token (and pass through the provider's redaction all the same).
    """
    store = VariableTokenStore(conn_id, key=auth_status_key(conn_id))
    previous = json.loads(store.backend.get(store.key) or "{}")
    now = datetime.now(timezone.utc).isoformat()
    status = {
        "checked_at": now,
        "ok": error is None,
        "last_error": previous.get("last_error"),
        "last_error_at": previous.get("last_error_at"),
    }
    if error is not None:
        status.update(last_error=redact(f"{type(error).__name__}: {error}")[:500], last_error_at=now)
    store.backend.set(store.key, json.dumps(status))
