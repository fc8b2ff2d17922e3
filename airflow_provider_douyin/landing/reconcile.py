"""Read a landed table back for reconciliation: counts and rows by version range or by key.

One connection for the reader's life (``with SqlReconcileTarget(...) as target``), read-only
statements, on any database the landing writes (SQLite, PostgreSQL, MySQL/MariaDB, generic).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_douyin.landing.dialects import LandingDialect, Placeholders, dialect_class
from airflow_provider_douyin.landing.sql import DEFAULT_TABLE_PREFIX, _paramstyle
from airflow_provider_douyin.streams.windows import Window

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_douyin.streams.schema import Table

KEYS_PER_QUERY = 500
"""Keys in one ``IN (...)`` list: far below every driver's parameter limit."""


class SqlReconcileTarget:
    """The :class:`~airflow_provider_douyin.streams.reconcile.ReconcileTarget` of one landed SQL table.

    Keys are the single primary-key column as text; a composite key is refused.
    """

    def __init__(
        self,
        hook: DbApiHook,
        table: Table,
        *,
        table_prefix: str = DEFAULT_TABLE_PREFIX,
        schema: str | None = None,
    ) -> None:
        if len(table.primary_key) != 1:
            raise ValueError(f"table {table.name!r} has a composite key; reconciliation needs one column")
        self.hook = hook
        self.table = table
        self.name = f"{table_prefix}{table.name}"
        self.schema = schema
        self._columns = [c.name for c in table.columns if c.type != "json"]
        self._conn: Any = None
        self._dialect: LandingDialect | None = None

    def __enter__(self) -> SqlReconcileTarget:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        held, self._conn = self._conn, None
        if held is not None:
            held.close()

    def _connect(self) -> LandingDialect:
        """Open the connection on first use; the dialect's markers follow its driver."""
        if self._conn is None:
            self._conn = self.hook.get_conn()
            placeholders = Placeholders(_paramstyle(self._conn, self.hook))
            self._dialect = dialect_class(self.hook.dialect_name)(self.hook.escape_word_format, placeholders)
        return self._dialect

    def _query(self, where: str, params: list[Any], select: str | None = None) -> list[tuple]:
        d = self._connect()
        if select is None:
            select = ", ".join(d.quote(c, with_params=True) for c in self._columns)
        target = d.qualified(self.name, self.schema, with_params=True)
        sql = f"SELECT {select} FROM {target} WHERE {where}"
        cur = self._conn.cursor()
        try:
            cur.execute(sql, d.placeholders.params(params))
            return list(cur.fetchall())
        finally:
            cur.close()
            self._conn.rollback()  # end the read transaction: the next query sees new commits

    def _in_window(self) -> str:
        d = self._connect()
        version = d.quote(self.table.version_column, with_params=True)
        first, second = d.placeholders.markers(2)
        return f"{version} >= {first} AND {version} < {second}"

    def count(self, window: Window) -> int:
        (row,) = self._query(self._in_window(), [window.start, window.end], select="COUNT(*)")
        return int(row[0])

    def rows_in(self, window: Window) -> dict[str, dict[str, Any]]:
        return self._by_key(self._query(self._in_window(), [window.start, window.end]))

    def rows_for(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        d = self._connect()
        name = self.table.primary_key[0]
        as_int = self.table.column(name).type == "int"
        column = d.quote(name, with_params=True)
        found: dict[str, dict[str, Any]] = {}
        pending = iter(keys)
        while chunk := [int(k) if as_int else k for k in islice(pending, KEYS_PER_QUERY)]:
            markers = ", ".join(d.placeholders.markers(len(chunk)))
            found.update(self._by_key(self._query(f"{column} IN ({markers})", chunk)))
        return found

    def _by_key(self, rows: list[tuple]) -> dict[str, dict[str, Any]]:
        key = self._columns.index(self.table.primary_key[0])
        return {str(row[key]): dict(zip(self._columns, row, strict=True)) for row in rows}
