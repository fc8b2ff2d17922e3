"""SQL generation for landing tables, one small class per database family.

The landing layer needs two things common-sql dialects do not offer: DDL built from a declared
:class:`~airflow_provider_douyin.streams.schema.Table`, and an upsert that never lets an older row
replace a newer one. Everything else comes from the hook: the identifier quote format
(``hook.escape_word_format``, which a connection extra may override), the dialect name
(``hook.dialect_name``) and the driver's DB-API ``paramstyle``.

Supported families:

``sqlite`` (3.24+) and ``postgresql``
    ``INSERT … ON CONFLICT (pk) DO UPDATE SET … WHERE excluded.<version> >= <target>.<version>``.
``mysql`` (MySQL and MariaDB)
    ``INSERT … ON DUPLICATE KEY UPDATE c = IF(VALUES(v) >= v, VALUES(c), c), …, v = …`` with the
    version column assigned last, because MySQL evaluates the assignments left to right and later
    expressions already see the updated version.
``generic`` (anything else)
    Two statements in one transaction: ``DELETE`` the stored rows whose version is ``<=`` the
    incoming one, then ``INSERT … SELECT … WHERE NOT EXISTS`` so that only keys absent after the
    delete are inserted (a stored newer row survives both statements). This needs a database that
    accepts ``SELECT`` without ``FROM`` (not Oracle or DB2) and is not safe against a concurrent
    writer inserting the same new key: the loser gets a primary-key violation and its batch rolls
    back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_douyin.streams.schema import Column


class Placeholders:
    """Parameter markers for one DB-API ``paramstyle``; rows are passed as tuples or dicts."""

    def __init__(self, paramstyle: str) -> None:
        if paramstyle not in ("qmark", "format", "pyformat", "numeric", "named"):
            raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")
        self.paramstyle = paramstyle

    @property
    def percent_escaping(self) -> bool:
        """``format``/``pyformat`` drivers treat ``%`` in the SQL text as a marker."""
        return self.paramstyle in ("format", "pyformat")

    def marker(self, index: int) -> str:
        if self.paramstyle == "qmark":
            return "?"
        if self.paramstyle in ("format", "pyformat"):
            return "%s"
        if self.paramstyle == "numeric":
            return f":{index + 1}"
        return f":p{index}"

    def markers(self, count: int, start: int = 0) -> list[str]:
        return [self.marker(i) for i in range(start, start + count)]

    def params(self, values: Sequence[Any]) -> Sequence[Any] | dict[str, Any]:
        if self.paramstyle == "named":
            return {f"p{i}": v for i, v in enumerate(values)}
        return tuple(values)


class LandingDialect:
    """The generic dialect; subclasses override the type map and the upsert statement."""

    name = "generic"

    def __init__(self, escape_word_format: str, placeholders: Placeholders) -> None:
        if "{}" not in escape_word_format:
            raise ValueError(f"escape_word_format {escape_word_format!r} has no '{{}}'")
        self._open, self._close = escape_word_format.split("{}", 1)
        self.placeholders = placeholders

    # -- identifiers -------------------------------------------------------------------------
    def quote(self, identifier: str, *, with_params: bool = False) -> str:
        """Always quote, doubling the closing quote character inside the name.

        ``with_params``: the text goes into a statement executed with parameters, where
        ``format``/``pyformat`` drivers need a literal ``%`` doubled.
        """
        if not identifier or "\x00" in identifier:
            raise ValueError(f"invalid SQL identifier {identifier!r}")
        body = identifier.replace(self._close, self._close * 2) if self._close else identifier
        quoted = f"{self._open}{body}{self._close}"
        if with_params and self.placeholders.percent_escaping:
            return quoted.replace("%", "%%")
        return quoted

    def qualified(self, table: str, schema: str | None, *, with_params: bool = False) -> str:
        name = self.quote(table, with_params=with_params)
        return f"{self.quote(schema, with_params=with_params)}.{name}" if schema else name

    # -- DDL ---------------------------------------------------------------------------------
    def column_type(self, column: Column, *, primary_key: bool) -> str:
        return {"int": "BIGINT", "str": "TEXT", "bool": "BOOLEAN", "json": "TEXT"}[column.type]

    def table_options(self) -> str:
        return ""

    def create_table_sql(self, target: str, columns: Sequence[Column], primary_key: Sequence[str]) -> str:
        pk = set(primary_key)
        defs = [
            f"{self.quote(c.name)} {self.column_type(c, primary_key=c.name in pk)}"
            + (" NOT NULL" if c.name in pk else "")
            for c in columns
        ]
        defs.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in primary_key)})")
        body = ",\n  ".join(defs)
        return f"CREATE TABLE IF NOT EXISTS {target} (\n  {body}\n){self.table_options()}"

    def add_column_sql(self, target: str, column: Column) -> str:
        column_type = self.column_type(column, primary_key=False)
        return f"ALTER TABLE {target} ADD COLUMN {self.quote(column.name)} {column_type}"

    def probe_sql(self, target: str) -> str:
        """A query whose cursor description lists the table's columns."""
        return f"SELECT * FROM {target} WHERE 1 = 0"

    def _dml_quote(self, identifier: str) -> str:
        return self.quote(identifier, with_params=True)

    # -- upsert ------------------------------------------------------------------------------
    def upsert_statements(
        self, target: str, columns: Sequence[str], primary_key: Sequence[str], version: str
    ) -> list[tuple[str, Any]]:
        """Statements to run with ``executemany`` for one batch, each with a row→params function.

        ``columns`` is the full ordered column list; each row reaching the params functions is a
        tuple in that order.
        """
        ph = self.placeholders
        q = self._dml_quote
        index = {c: i for i, c in enumerate(columns)}
        pk_idx = [index[k] for k in primary_key]
        v_idx = index[version]
        pk_match = " AND ".join(
            f"{q(k)} = {m}" for k, m in zip(primary_key, ph.markers(len(primary_key)), strict=True)
        )
        delete = f"DELETE FROM {target} WHERE {pk_match} AND {q(version)} <= {ph.marker(len(primary_key))}"
        n = len(columns)
        absent = " AND ".join(
            f"{q(k)} = {m}" for k, m in zip(primary_key, ph.markers(len(primary_key), start=n), strict=True)
        )
        insert = (
            f"INSERT INTO {target} ({', '.join(q(c) for c in columns)}) "
            f"SELECT {', '.join(ph.markers(n))} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {absent})"
        )
        return [
            (delete, lambda row: ph.params([row[i] for i in pk_idx] + [row[v_idx]])),
            (insert, lambda row: ph.params(list(row) + [row[i] for i in pk_idx])),
        ]


class OnConflictDialect(LandingDialect):
    """``INSERT … ON CONFLICT … DO UPDATE … WHERE`` (SQLite 3.24+, PostgreSQL 9.5+)."""

    target_alias = "tgt"

    def upsert_statements(self, target, columns, primary_key, version):
        ph = self.placeholders
        q = self._dml_quote
        alias = q(self.target_alias)
        updates = [c for c in columns if c not in primary_key]
        conflict = ", ".join(q(k) for k in primary_key)
        sql = (
            f"INSERT INTO {target} AS {alias} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join(ph.markers(len(columns)))}) ON CONFLICT ({conflict}) "
        )
        if updates:
            assignments = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in updates)
            sql += f"DO UPDATE SET {assignments} WHERE excluded.{q(version)} >= {alias}.{q(version)}"
        else:
            sql += "DO NOTHING"
        return [(sql, ph.params)]


class SqliteLandingDialect(OnConflictDialect):
    name = "sqlite"

    def column_type(self, column, *, primary_key):
        # INTEGER (not BIGINT) is SQLite's native 64-bit integer affinity name.
        return {"int": "INTEGER", "str": "TEXT", "bool": "BOOLEAN", "json": "TEXT"}[column.type]


class PostgresLandingDialect(OnConflictDialect):
    name = "postgresql"


class MySqlLandingDialect(LandingDialect):
    """MySQL 5.7+/8.x and MariaDB 10.3+.

    ``VALUES(col)`` inside ``ON DUPLICATE KEY UPDATE`` is deprecated (not removed) in MySQL
    8.0.20+ and is the only form MariaDB knows, so it is used for both.
    """

    name = "mysql"

    def quote(self, identifier: str, *, with_params: bool = False) -> str:
        # mysqlclient's executemany %-formats the INSERT prefix but not the ON DUPLICATE KEY
        # postfix, so no escaping of '%' is right for both parts: refuse such names instead.
        if "%" in identifier:
            raise ValueError(f"identifier {identifier!r}: '%' is not supported in MySQL/MariaDB names")
        return super().quote(identifier, with_params=with_params)

    def column_type(self, column, *, primary_key):
        if column.type == "str":
            # An index on TEXT needs a prefix length; 191 characters * 4 bytes fits InnoDB's
            # 767-byte index limit on old row formats.
            return "VARCHAR(191)" if primary_key else "TEXT"
        # TEXT caps at 64 KiB; nested API payloads can be larger.
        return {"int": "BIGINT", "bool": "BOOLEAN", "json": "LONGTEXT"}[column.type]

    def table_options(self) -> str:
        # utf8mb4 for Chinese text and emoji; a binary collation so that ids compare exactly
        # (the server default utf8mb4_general_ci would merge 'ab' and 'AB' into one key).
        return " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

    def upsert_statements(self, target, columns, primary_key, version):
        ph = self.placeholders
        q = self._dml_quote
        v = q(version)
        # The version column goes last: every earlier IF() must still see the stored version.
        updates = [c for c in columns if c not in primary_key and c != version]
        if version not in primary_key:
            updates.append(version)
        if updates:
            assignments = ", ".join(
                f"{q(c)} = IF(VALUES({v}) >= {v}, VALUES({q(c)}), {q(c)})" for c in updates
            )
        else:
            first = q(primary_key[0])
            assignments = f"{first} = {first}"
        sql = (
            f"INSERT INTO {target} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join(ph.markers(len(columns)))}) ON DUPLICATE KEY UPDATE {assignments}"
        )
        return [(sql, ph.params)]


DIALECTS: dict[str, type[LandingDialect]] = {
    "generic": LandingDialect,
    "sqlite": SqliteLandingDialect,
    "postgresql": PostgresLandingDialect,
    "postgres": PostgresLandingDialect,
    "mysql": MySqlLandingDialect,
    "mariadb": MySqlLandingDialect,
}


def dialect_class(name: str) -> type[LandingDialect]:
    """The landing dialect for a common-sql ``dialect_name``; unknown names get the generic one."""
    cls = DIALECTS.get((name or "").lower(), LandingDialect)
    if cls is SqliteLandingDialect and sqlite3.sqlite_version_info < (3, 24, 0):
        return LandingDialect  # no UPSERT clause before SQLite 3.24
    return cls
