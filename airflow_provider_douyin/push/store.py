"""The durable message store: one table of messages and one of rejection counters, in any SQL database.

A message is committed here before its push is acked, so a receiver killed right after the ack
loses nothing; ``(conn_id, msg_id)`` is unique, so a redelivery is acked again but stored once.
Processing state lives beside it: ``pending`` messages are handed out by :meth:`PushStore.claim`
with a lease (a run that dies leaves them to be handed out again when the lease ends), and end
``done``, or ``parked`` with the reason after the last failed attempt. ``unknown`` messages (a tag
nothing reads) are kept and counted, never handed out.

Rejected requests store nothing but one counter per connection, minute and reason: an attacker
can neither fill the database nor get a byte of what they sent kept.

SQLAlchemy Core only, no Airflow: the standalone receiver, the Airflow plugin, the trigger and the
DAG's task all open the same tables through :func:`open_store`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from airflow_provider_douyin.push.protocol import Platform, PushMessage, PushRejected, kind_of

PENDING, DONE, PARKED, UNKNOWN = "pending", "done", "parked", "unknown"
RETAIN_MINUTES = 24 * 60
"""How long refusal counters are kept."""


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conn_id: str
    platform: Platform
    msg_id: str
    tag: str
    kind: str | None
    data: str
    received_at: float
    status: str
    attempts: int
    reason: str | None

    @property
    def message(self) -> PushMessage:
        return PushMessage(msg_id=self.msg_id, tag=self.tag, data=self.data)


@dataclass(frozen=True)
class Accepted:
    stored: int
    duplicates: int


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the receiver write while the trigger and tasks read; FULL syncs every commit to disk
    # before the ack goes out.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_store(url: str | sa.engine.URL, *, prefix: str = "douyin_push_") -> PushStore:
    """A store on the database at ``url`` (a SQLAlchemy URL), its tables created if missing."""
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    store = PushStore(engine, prefix=prefix)
    store.ensure()
    return store


class PushStore:
    def __init__(self, engine: sa.engine.Engine, *, prefix: str = "douyin_push_") -> None:
        self.engine = engine
        meta = sa.MetaData()
        big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        self.messages = sa.Table(
            f"{prefix}messages",
            meta,
            sa.Column("id", big_id, primary_key=True, autoincrement=True),
            sa.Column("conn_id", sa.String(250), nullable=False),
            sa.Column("platform", sa.String(16), nullable=False),
            sa.Column("msg_id", sa.String(255), nullable=False),
            sa.Column("tag", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(16)),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("body_sha256", sa.String(64), nullable=False),
            sa.Column("received_at", sa.Double, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False, default=0),
            sa.Column("next_attempt_at", sa.Double, nullable=False),
            sa.Column("reason", sa.Text),
            sa.Column("processed_at", sa.Double),
            sa.UniqueConstraint("conn_id", "msg_id", name=f"{prefix}messages_msg"),
            sa.Index(f"{prefix}messages_due", "status", "next_attempt_at"),
            sa.Index(f"{prefix}messages_body", "conn_id", "body_sha256"),
        )
        self.rejections = sa.Table(
            f"{prefix}rejections",
            meta,
            sa.Column("conn_id", sa.String(250), primary_key=True),
            sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("reason", sa.String(32), primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
        )
        self._meta = meta

    def __repr__(self) -> str:
        return f"PushStore({self.engine.url.render_as_string(hide_password=True)})"

    @property
    def location(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def ensure(self) -> None:
        self._meta.create_all(self.engine, checkfirst=True)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- receiving ---------------------------------------------------------------------------
    def _insert_ignoring(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> bool:
        """INSERT unless the key exists; whether a row was inserted.

        Counted with RETURNING where the dialect has it: some drivers report no rowcount for an INSERT.
        """
        name = self.engine.dialect.name
        if name in ("sqlite", "postgresql"):
            dialect = __import__(f"sqlalchemy.dialects.{name}", fromlist=["insert"])
            statement = dialect.insert(table).on_conflict_do_nothing()
        elif name in ("mysql", "mariadb"):
            statement = sa.insert(table).prefix_with("IGNORE")
        else:
            raise PushRejected(500, f"no message store support for {name}")
        if self.engine.dialect.insert_returning:
            return bool(conn.execute(statement.returning(table.c.conn_id), values).all())
        return conn.execute(statement, values).rowcount > 0

    def accept(
        self,
        conn_id: str,
        platform: Platform,
        messages: Sequence[PushMessage],
        body_sha256: str,
        now: float | None = None,
    ) -> Accepted:
        """Store ``messages`` (one transaction, committed on return); known msg_ids are duplicates.

        A body already stored under other msg_ids is a replay and raises :class:`PushRejected`
        without storing anything: a webhook's Msg-Id is outside its signature, so only the body
        tells a replay from a new delivery.
        """
        now = time.time() if now is None else now
        ids = {m.msg_id for m in messages}
        with self.engine.begin() as conn:
            seen = conn.execute(
                sa.select(self.messages.c.msg_id).where(
                    self.messages.c.conn_id == conn_id, self.messages.c.body_sha256 == body_sha256
                )
            ).scalars()
            if any(msg_id not in ids for msg_id in seen):
                raise PushRejected(409, "body already received under another msg_id")
            stored = 0
            for m in messages:
                kind = kind_of(platform, m)
                stored += self._insert_ignoring(
                    conn,
                    self.messages,
                    {
                        "conn_id": conn_id,
                        "platform": platform,
                        "msg_id": m.msg_id,
                        "tag": m.tag,
                        "kind": kind,
                        "data": m.data,
                        "body_sha256": body_sha256,
                        "received_at": now,
                        "status": PENDING if kind else UNKNOWN,
                        "attempts": 0,
                        "next_attempt_at": now,
                    },
                )
        return Accepted(stored=stored, duplicates=len(messages) - stored)

    def count_rejection(self, conn_id: str, reason: str, now: float | None = None) -> None:
        minute = int((time.time() if now is None else now) // 60)
        key = {"conn_id": conn_id, "minute": minute, "reason": reason[:32]}
        t = self.rejections
        increment = (
            t.update()
            .where(t.c.conn_id == conn_id, t.c.minute == minute, t.c.reason == key["reason"])
            .values(count=t.c.count + 1)
        )
        with self.engine.begin() as conn:
            if conn.execute(increment).rowcount:
                return
            if not self._insert_ignoring(conn, t, {**key, "count": 1}):
                conn.execute(increment)  # another request inserted the row in between
                return
            # The first refusal of a minute also drops the connection's counters older than a day,
            # so refusals cost at most one row per connection, reason and minute of the last day.
            conn.execute(t.delete().where(t.c.conn_id == conn_id, t.c.minute < minute - RETAIN_MINUTES))

    # -- processing --------------------------------------------------------------------------
    def claim(
        self,
        *,
        limit: int = 500,
        lease_s: float = 300.0,
        conn_ids: Iterable[str] | None = None,
        now: float | None = None,
    ) -> dict[str, list[int]]:
        """Hand out due pending messages, grouped by connection, and hide them for ``lease_s``.

        A message comes back once the lease ends unless :meth:`finish` or :meth:`fail` ran first, so
        a batch lost with its run is handed out again.
        """
        now = time.time() if now is None else now
        m = self.messages
        due = sa.and_(m.c.status == PENDING, m.c.next_attempt_at <= now)
        if conn_ids is not None:
            due = sa.and_(due, m.c.conn_id.in_(list(conn_ids)))
        with self.engine.connect() as conn, conn.begin() as tx:
            rows = conn.execute(sa.select(m.c.id, m.c.conn_id).where(due).order_by(m.c.id).limit(limit)).all()
            if not rows:
                return {}
            claimed = conn.execute(
                m.update().where(due, m.c.id.in_([r.id for r in rows])).values(next_attempt_at=now + lease_s)
            ).rowcount
            if claimed != len(rows):  # a concurrent claimer took some: hand out none, retry next poll
                tx.rollback()
                return {}
        batches: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            batches[row.conn_id].append(row.id)
        return dict(batches)

    def load(self, ids: Iterable[int]) -> list[StoredMessage]:
        m = self.messages
        cols = [getattr(m.c, f) for f in StoredMessage.__dataclass_fields__]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols).where(m.c.id.in_(list(ids))).order_by(m.c.id)).all()
        return [StoredMessage(*row) for row in rows]

    def finish(self, ids: Iterable[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        m = self.messages
        with self.engine.begin() as conn:
            conn.execute(
                m.update()
                .where(m.c.id.in_(list(ids)), m.c.status == PENDING)
                .values(status=DONE, processed_at=now, reason=None, attempts=m.c.attempts + 1)
            )

    def fail(
        self,
        ids: Iterable[int],
        reason: str,
        *,
        max_attempts: int,
        backoff_s: float,
        now: float | None = None,
    ) -> None:
        """Count one failed attempt: retry after ``backoff_s`` × attempts, or park after ``max_attempts``."""
        now = time.time() if now is None else now
        m = self.messages
        with self.engine.begin() as conn:
            for message_id, attempts in conn.execute(
                sa.select(m.c.id, m.c.attempts).where(m.c.id.in_(list(ids)), m.c.status == PENDING)
            ).all():
                attempts += 1
                parked = attempts >= max_attempts
                conn.execute(
                    m.update()
                    .where(m.c.id == message_id)
                    .values(
                        attempts=attempts,
                        reason=reason[:2000],
                        status=PARKED if parked else PENDING,
                        processed_at=now if parked else None,
                        next_attempt_at=now + backoff_s * attempts,
                    )
                )

    def requeue_parked(self, conn_id: str | None = None, now: float | None = None) -> int:
        """Make parked messages pending again (after fixing what parked them); returns how many."""
        now = time.time() if now is None else now
        m = self.messages
        where = m.c.status == PARKED
        if conn_id is not None:
            where = sa.and_(where, m.c.conn_id == conn_id)
        with self.engine.begin() as conn:
            return conn.execute(
                m.update().where(where).values(status=PENDING, attempts=0, next_attempt_at=now)
            ).rowcount

    # -- health ------------------------------------------------------------------------------
    def health(self, now: float | None = None, window_s: float = 3600.0) -> dict[str, dict[str, Any]]:
        """Per conn_id: messages received and rejections counted within ``window_s``, messages parked and
        pending and unknown now, and the last message's receive time (epoch seconds)."""
        now = time.time() if now is None else now
        since = now - window_s
        m, r = self.messages, self.rejections
        out: dict[str, dict[str, Any]] = defaultdict(
            lambda: {
                "messages_last_hour": 0,
                "rejected_signatures_last_hour": 0,
                "rejected_last_hour": 0,
                "parked": 0,
                "pending": 0,
                "unknown_tags": 0,
                "last_message_at": None,
            }
        )
        with self.engine.connect() as conn:
            for conn_id, recent, last in conn.execute(
                sa.select(
                    m.c.conn_id,
                    sa.func.sum(sa.case((m.c.received_at >= since, 1), else_=0)),
                    sa.func.max(m.c.received_at),
                ).group_by(m.c.conn_id)
            ):
                out[conn_id]["messages_last_hour"] = int(recent or 0)
                out[conn_id]["last_message_at"] = last
            for conn_id, status, n in conn.execute(
                sa.select(m.c.conn_id, m.c.status, sa.func.count())
                .where(m.c.status.in_([PARKED, PENDING, UNKNOWN]))
                .group_by(m.c.conn_id, m.c.status)
            ):
                out[conn_id][{PARKED: "parked", PENDING: "pending", UNKNOWN: "unknown_tags"}[status]] = n
            for conn_id, reason, n in conn.execute(
                sa.select(r.c.conn_id, r.c.reason, sa.func.sum(r.c.count))
                .where(r.c.minute >= int(since // 60))
                .group_by(r.c.conn_id, r.c.reason)
            ):
                out[conn_id]["rejected_last_hour"] += int(n)
                if reason == "signature":
                    out[conn_id]["rejected_signatures_last_hour"] += int(n)
        return dict(out)

    def parked(self, conn_id: str | None = None, limit: int = 100) -> list[StoredMessage]:
        m = self.messages
        where = m.c.status == PARKED
        if conn_id is not None:
            where = sa.and_(where, m.c.conn_id == conn_id)
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(m.c.id).where(where).order_by(m.c.id).limit(limit)).scalars().all()
        return self.load(ids)
