"""Land rows into any SQL database reachable through a common-sql ``DbApiHook``.

Guarantees of :meth:`SqlLanding.upsert`:

* rows are read lazily and written in batches of ``batch_size``, one transaction per batch
  (:class:`SqlBatchWriter` writes several tables' batches on one connection, in one transaction);
* inside a batch rows are deduplicated by primary key, keeping the greatest version (on a tie
  the later row wins);
* a stored row is only replaced when the incoming version is ``>=`` the stored one, so reruns are
  idempotent and overlapping windows can be applied in any order;
* a batch is validated completely before any of it is written: a missing primary-key or version
  value, or an unknown column, raises :class:`ValueError` and that batch is not written (earlier
  batches stay committed).
"""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from airflow.utils.log.logging_mixin import LoggingMixin

from airflow_provider_douyin.landing.dialects import LandingDialect, Placeholders, dialect_class

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_douyin.streams.schema import Table

DEFAULT_TABLE_PREFIX = "douyin_"
T = TypeVar("T")


_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
"""One encoder for every value: ``json.dumps`` with options builds a new one per call."""


def dump_json(value: Any) -> str:
    """The canonical text of a ``json`` column: compact, sorted keys, non-ASCII kept as is.

    orjson writes the same text about seven times faster (an order's ``_extra`` is kilobytes, on
    every row); what it refuses (keys that are not strings, integers beyond 64 bits) goes through
    the standard encoder. A NaN or infinity (which ``json.loads`` accepts, but which no JSON column
    type stores) is written as ``null``.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return _JSON.encode(value)


@dataclass(frozen=True)
class UpsertResult:
    rows_received: int = 0
    """Rows read from the input iterable."""
    rows_written: int = 0
    """Rows sent to the database after in-batch deduplication (including ones the version rule
    then kept from replacing a newer stored row)."""
    batches: int = 0
    """Committed transactions."""

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.rows_received + other.rows_received,
            self.rows_written + other.rows_written,
            self.batches + other.batches,
        )


def _paramstyle(conn: Any, hook: DbApiHook) -> str:
    """The DB-API ``paramstyle`` of the driver behind ``conn``; the hook's placeholder otherwise."""
    module = sys.modules.get(type(conn).__module__.split(".")[0])
    style = getattr(module, "paramstyle", None)
    if style in ("qmark", "format", "pyformat", "numeric", "named"):
        return style
    return "qmark" if hook.placeholder == "?" else "format"


def create_table(conn: Any, cur: Any, ddl: str) -> None:
    """Run a ``CREATE TABLE IF NOT EXISTS`` and commit, once more if a concurrent creation won.

    Two workers racing on ``CREATE TABLE IF NOT EXISTS`` can still collide in PostgreSQL (pg_type
    unique violation); the table exists afterwards either way.
    """
    try:
        cur.execute(ddl)
        conn.commit()
    except Exception:
        conn.rollback()
        cur.execute(ddl)
        conn.commit()


class SqlLanding(LoggingMixin):
    """Create and upsert one landed table through a common-sql hook.

    :param hook: any ``DbApiHook`` (e.g. from ``BaseHook.get_hook(conn_id)``).
    :param table: the declared table.
    :param table_prefix: prepended to ``table.name`` to form the landed table name.
    :param batch_size: rows per transaction.
    :param schema: optional schema (Postgres schema, MySQL database, SQLite attached database)
        to qualify the table with; by default the connection's current one is used.
    :param dialect: force a landing dialect (``"sqlite"``, ``"postgresql"``, ``"mysql"`` or
        ``"generic"``) instead of deriving it from ``hook.dialect_name``.
    """

    def __init__(
        self,
        hook: DbApiHook,
        table: Table,
        *,
        table_prefix: str = DEFAULT_TABLE_PREFIX,
        batch_size: int = 1000,
        schema: str | None = None,
        dialect: str | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.hook = hook
        self.table = table
        self.table_name = f"{table_prefix}{table.name}"
        self.batch_size = batch_size
        self.schema = schema
        self._dialect_name = dialect
        self._columns = table.landed_column_names
        self._known = frozenset(self._columns)
        columns = self._columns
        self._values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
        )
        self._pk_idx = [self._columns.index(k) for k in table.primary_key]
        self._v_idx = self._columns.index(table.version_column)
        self._json_idx = [i for i, c in enumerate(table.landed_columns) if c.type == "json"]

    @property
    def dialect_name(self) -> str:
        return self._dialect_name or self.hook.dialect_name

    def _dialect_for(self, conn: Any) -> LandingDialect:
        cls = dialect_class(self.dialect_name)
        return cls(self.hook.escape_word_format, Placeholders(_paramstyle(conn, self.hook)))

    # -- DDL ---------------------------------------------------------------------------------
    def ensure_table(self) -> None:
        """``CREATE TABLE IF NOT EXISTS``; migrate an existing table by adding the columns it lacks.

        A table landed by an older version gains every column declared since (and ``_extra``) with
        ``ALTER TABLE … ADD COLUMN``; its rows keep their values and read NULL in the new columns
        until a load fills them. Existing columns are never altered or dropped. A missing
        primary-key column is an error.
        """
        with SqlBatchWriter([self]) as writer:
            writer.ensure_tables()

    def ensure_table_on(self, conn: Any, cur: Any, dialect: LandingDialect) -> None:
        """:meth:`ensure_table` on an open manual-commit connection."""
        target = dialect.qualified(self.table_name, self.schema)
        ddl = dialect.create_table_sql(target, self.table.landed_columns, self.table.primary_key)
        self.log.debug("ensure_table %s: %s", self.table_name, ddl)
        create_table(conn, cur, ddl)
        cur.execute(dialect.probe_sql(target))
        existing = {d[0].lower() for d in cur.description or ()}
        cur.fetchall()
        conn.commit()
        for column in self.table.landed_columns:
            if column.name.lower() in existing:
                continue
            if column.name in self.table.primary_key:
                raise ValueError(
                    f"table {self.table_name!r} exists without primary-key column "
                    f"{column.name!r}; migrate or drop it"
                )
            self.log.info("Adding column %r to %s", column.name, self.table_name)
            cur.execute(dialect.add_column_sql(target, column))
            conn.commit()

    # -- upsert ------------------------------------------------------------------------------
    def _prepare(self, batch: Sequence[Mapping[str, Any]], offset: int = 0) -> list[tuple[Any, ...]]:
        """Validate, deduplicate and serialise one batch (raises before anything is written).

        Error messages name the table, the column and the row's position in the input, never the
        row's values (they may hold personal data).
        """
        chosen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        pk_idx, v_idx = self._pk_idx, self._v_idx
        for n, row in enumerate(batch, start=offset):
            if not isinstance(row, Mapping):
                raise ValueError(
                    f"table {self.table_name!r}: row #{n} is a {type(row).__name__}, not a mapping"
                )
            try:
                # A row holding exactly the declared columns (a stream's rows): one C-level read.
                values = list(self._values(row)) if len(row) == len(self._columns) else None
            except KeyError:
                values = None
            if values is None:
                unknown = row.keys() - self._known
                if unknown:
                    raise ValueError(
                        f"table {self.table_name!r}: row #{n} has unknown column(s) {sorted(unknown)!r} "
                        f"(declared: {list(self._columns)!r})"
                    )
                values = [row.get(c) for c in self._columns]
            for i in (*pk_idx, v_idx):
                if values[i] is None:
                    kind = "primary-key" if i in pk_idx else "version"
                    raise ValueError(
                        f"table {self.table_name!r}: row #{n} has no value for {kind} column "
                        f"{self._columns[i]!r}"
                    )
            for i in self._json_idx:
                if values[i] is not None:
                    try:
                        values[i] = dump_json(values[i])
                    except (TypeError, ValueError) as exc:
                        raise ValueError(
                            f"table {self.table_name!r}: row #{n} column {self._columns[i]!r} "
                            f"is not JSON-serialisable: {exc}"
                        ) from exc
            key = tuple(values[i] for i in pk_idx)
            previous = chosen.get(key)
            try:
                keep_new = previous is None or values[v_idx] >= previous[v_idx]
            except TypeError as exc:
                raise ValueError(
                    f"table {self.table_name!r}: row #{n} version column {self._columns[v_idx]!r} "
                    f"is not comparable with an earlier row's: {exc}"
                ) from exc
            if keep_new:
                chosen.pop(key, None)  # re-insert so the surviving row keeps arrival order
                chosen[key] = tuple(values)
        return list(chosen.values())

    @staticmethod
    def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
        it = iter(rows)
        while batch := list(islice(it, size)):
            yield batch

    @staticmethod
    def _executemany(cur: Any, sql: str, params: list[Any]) -> None:
        if type(cur).__module__.startswith("psycopg2"):
            # psycopg2's executemany is one round trip per row; execute_batch pages them.
            from psycopg2.extras import execute_batch

            execute_batch(cur, sql, params, page_size=500)
        else:
            cur.executemany(sql, params)

    def statements(self, dialect: LandingDialect) -> list[tuple[str, Any]]:
        target = dialect.qualified(self.table_name, self.schema, with_params=True)
        return dialect.upsert_statements(
            target, self._columns, self.table.primary_key, self.table.version_column
        )

    def upsert(self, rows: Iterable[Mapping[str, Any]]) -> UpsertResult:
        """Upsert ``rows`` (dicts keyed by column name) batch by batch; see the module docstring."""
        with SqlBatchWriter([self]) as writer:
            for batch in self._batches(rows, self.batch_size):
                writer.write({self.table.name: batch})
        return writer.results[self.table.name]


class SqlBatchWriter:
    """Several landed tables on ONE connection held for the writer's life; each :meth:`write` is ONE
    transaction (or several :meth:`stage` calls and then :meth:`commit`).

    A write carrying an order and its items commits both or neither, so a killed or failed
    sync never leaves a parent row without its children. Every table's batch is validated
    before any statement runs. The connection is opened on first use, in manual-commit mode;
    the dialect is detected and the statements are built once, then. :meth:`close` (or leaving
    the ``with`` block) closes it, after rolling back whatever an error left uncommitted.

    :param landings: the tables, all on the same hook.
    """

    def __init__(self, landings: Sequence[SqlLanding]) -> None:
        if len({id(landing.hook) for landing in landings}) != 1:
            raise ValueError("SqlBatchWriter needs one or more landings sharing one hook")
        self.landings = {landing.table.name: landing for landing in landings}
        self.results = {name: UpsertResult() for name in self.landings}
        self._open: _OpenConnection | None = None
        self._closed = False

    def __enter__(self) -> SqlBatchWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        self.close(rollback=exc_type is not None)

    def _connection(self) -> _OpenConnection:
        if self._open is None:
            if self._closed:
                raise RuntimeError(f"the SQL writer of {sorted(self.landings)} is closed")
            self._open = _OpenConnection.connect(self.landings.values())
        return self._open

    def close(self, *, rollback: bool = False) -> None:
        """Close the connection (idempotent); ``rollback`` first discards an uncommitted transaction."""
        self._closed = True
        held, self._open = self._open, None
        if held is not None:
            held.close(rollback=rollback)

    def ensure_tables(self) -> None:
        """Create or widen every table (see :meth:`SqlLanding.ensure_table`); a failure closes the writer."""
        try:
            held = self._connection()
            for landing in self.landings.values():
                landing.ensure_table_on(held.conn, held.cur, held.dialect)
        except BaseException:
            self.close(rollback=True)
            raise

    def run(self, work: Callable[[Any, Any, LandingDialect], T]) -> T:
        """``work(conn, cur, dialect)`` on the writer's connection; it commits its own transactions,
        and whatever it leaves uncommitted when it raises is rolled back."""
        held = self._connection()
        try:
            return work(held.conn, held.cur, held.dialect)
        except BaseException:
            held.conn.rollback()
            raise

    def write(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Upsert every table's rows in one transaction (nothing is written if any row is invalid)."""
        self.stage(rows)
        self.commit()

    def commit(self) -> None:
        """Commit what :meth:`stage` wrote (nothing to do before the first write)."""
        if self._open is not None:
            self._open.conn.commit()

    def stage(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Upsert every table's rows in the open transaction, uncommitted; an invalid row or a failed
        statement rolls the whole transaction back, rows staged before it included."""
        prepared = {
            name: self.landings[name]._prepare(batch, offset=self.results[name].rows_received)
            for name, batch in rows.items()
            if batch
        }
        if not prepared:
            return
        held = self._connection()
        try:
            for name, batch in prepared.items():
                for sql, to_params in held.statements[name]:
                    SqlLanding._executemany(held.cur, sql, [to_params(r) for r in batch])
        except BaseException:
            held.conn.rollback()
            raise
        for name, batch in prepared.items():
            self.results[name] += UpsertResult(len(rows[name]), len(batch), 1)
            landing = self.landings[name]
            landing.log.debug(
                "%s batch %d: %d rows received, %d written after dedupe (%d so far)",
                landing.table_name,
                self.results[name].batches,
                len(rows[name]),
                len(batch),
                self.results[name].rows_written,
            )


@dataclass
class _OpenConnection:
    """A manual-commit connection, its one cursor, and what was derived from it once."""

    conn: Any
    cur: Any
    dialect: LandingDialect
    statements: dict[str, list[tuple[str, Any]]]

    @classmethod
    def connect(cls, landings: Iterable[SqlLanding]) -> _OpenConnection:
        landings = list(landings)
        hook = landings[0].hook
        conn = hook.get_conn()
        try:
            if hook.supports_autocommit:
                hook.set_autocommit(conn, False)
            dialect = landings[0]._dialect_for(conn)
            statements = {landing.table.name: landing.statements(dialect) for landing in landings}
            return cls(conn, conn.cursor(), dialect, statements)
        except BaseException:
            conn.close()
            raise

    def close(self, *, rollback: bool) -> None:
        try:
            self.cur.close()
            if rollback:
                self.conn.rollback()
        except Exception:
            # Closing discards an open transaction anyway; a connection broken by the error being
            # handled must not replace that error with its own.
            if not rollback:
                raise
        finally:
            self.conn.close()
