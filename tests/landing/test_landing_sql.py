from __future__ import annotations

import json
import random
from typing import Any
from unittest import mock

import pytest

from airflow_provider_douyin.landing.dialects import (
    LandingDialect,
    MySqlLandingDialect,
    Placeholders,
    PostgresLandingDialect,
    SqliteLandingDialect,
    dialect_class,
)
from airflow_provider_douyin.landing.sql import SqlLanding, UpsertResult, dump_json
from airflow_provider_douyin.streams.schema import Column, Table

ORDERS = Table(
    name="orders",
    columns=(
        Column("shop_id", "int"),
        Column("order_id", "str"),
        Column("update_time", "int"),
        Column("amount", "int"),
        Column("buyer", "str"),
        Column("paid", "bool"),
        Column("detail", "json"),
    ),
    primary_key=("shop_id", "order_id"),
    version_column="update_time",
)

ITEMS = Table(
    name="items",
    columns=(Column("item_id", "int"), Column("v", "int"), Column("name", "str")),
    primary_key=("item_id",),
    version_column="v",
)


def order(order_id: str, version: int, **extra: Any) -> dict[str, Any]:
    row = {
        "shop_id": 77,
        "order_id": order_id,
        "update_time": version,
        "amount": version * 100,
        "buyer": f"buyer-{order_id}-{version}",
        "paid": version % 2 == 0,
        "detail": {"v": version, "items": [order_id]},
    }
    row.update(extra)
    return row


def q(hook, name: str) -> str:
    close = hook.escape_word_format[-1]
    return hook.escape_word_format.format(name.replace(close, close * 2))


def fetch(hook, table: Table, prefix: str = "douyin_") -> list[dict[str, Any]]:
    """All rows, normalised to Python values comparable with the input rows."""
    cols = table.column_names
    sql = (
        f"SELECT {', '.join(q(hook, c) for c in cols)} FROM {q(hook, prefix + table.name)} "
        f"ORDER BY {', '.join(q(hook, k) for k in table.primary_key)}"
    )
    out = []
    for rec in hook.get_records(sql):
        row = {}
        for col, value in zip(table.columns, rec, strict=True):
            if value is not None and col.type == "bool":
                value = bool(value)
            elif value is not None and col.type == "json":
                assert isinstance(value, str)
                value = json.loads(value)
            row[col.name] = value
        out.append(row)
    return out


def expected(rows: list[dict[str, Any]], table: Table = ORDERS) -> list[dict[str, Any]]:
    full = [{c: r.get(c) for c in table.column_names} for r in rows]
    return sorted(full, key=lambda r: tuple(r[k] for k in table.primary_key))


def land(hook, table: Table = ORDERS, **kwargs) -> SqlLanding:
    landing = SqlLanding(hook, table, **kwargs)
    landing.ensure_table()
    return landing


class TestSqlLanding:
    def test_exact_rows_landed(self, sql_hook):
        rows = [order(f"o{i}", 10 + i) for i in range(25)]
        rows[3]["buyer"] = None
        rows[4]["detail"] = None
        del rows[5]["amount"]  # a missing non-key column lands as NULL
        result = land(sql_hook, batch_size=10).upsert(iter(rows))
        assert result == UpsertResult(rows_received=25, rows_written=25, batches=3)
        assert fetch(sql_hook, ORDERS) == expected(rows)

    def test_table_created_if_missing_and_reused(self, sql_hook):
        landing = SqlLanding(sql_hook, ORDERS)
        landing.ensure_table()
        landing.upsert([order("a", 1)])
        landing.ensure_table()  # idempotent, keeps the data
        SqlLanding(sql_hook, ORDERS).ensure_table()
        assert fetch(sql_hook, ORDERS) == expected([order("a", 1)])

    def test_existing_table_gains_new_declared_columns(self, sql_hook):
        narrow = Table(ITEMS.name, ITEMS.columns[:2], ITEMS.primary_key, ITEMS.version_column)
        land(sql_hook, narrow).upsert([{"item_id": 1, "v": 1}])
        wide = land(sql_hook, ITEMS)
        wide.upsert([{"item_id": 2, "v": 1, "name": "新"}])
        assert fetch(sql_hook, ITEMS) == [
            {"item_id": 1, "v": 1, "name": None},
            {"item_id": 2, "v": 1, "name": "新"},
        ]

    def test_table_prefix(self, sql_hook):
        land(sql_hook, ITEMS, table_prefix="raw_dy_").upsert([{"item_id": 1, "v": 1, "name": "x"}])
        assert fetch(sql_hook, ITEMS, prefix="raw_dy_") == [{"item_id": 1, "v": 1, "name": "x"}]

    def test_explicit_schema(self, sql_hook):
        landing = land(sql_hook, ITEMS, schema=sql_hook.douyin_test_schema)
        landing.upsert([{"item_id": 1, "v": 1, "name": "x"}])
        assert fetch(sql_hook, ITEMS) == [{"item_id": 1, "v": 1, "name": "x"}]

    def test_newer_wins(self, sql_hook):
        landing = land(sql_hook)
        landing.upsert([order("a", 5), order("b", 5), order("c", 5)])
        older = order("a", 4, buyer="stale")
        equal = order("b", 5, buyer="same version, later run")
        newer = order("c", 6, buyer="fresh")
        landing.upsert([older, equal, newer])
        assert fetch(sql_hook, ORDERS) == expected([order("a", 5), equal, newer])

    def test_version_goes_up_then_an_older_replay_is_ignored(self, sql_hook):
        landing = land(sql_hook)
        landing.upsert([order("a", 1)])
        landing.upsert([order("a", 2)])
        landing.upsert([order("a", 1)])
        assert fetch(sql_hook, ORDERS) == expected([order("a", 2)])

    def test_in_batch_duplicates(self, sql_hook):
        rows = [
            order("a", 2, buyer="a2"),
            order("a", 3, buyer="a3"),
            order("a", 1, buyer="a1"),
            order("b", 7, buyer="b7-first"),
            order("b", 7, buyer="b7-second"),
            order("c", 1),
        ]
        result = land(sql_hook).upsert(rows)
        assert result == UpsertResult(rows_received=6, rows_written=3, batches=1)
        assert fetch(sql_hook, ORDERS) == expected([rows[1], rows[4], rows[5]])

    def test_rerun_identical(self, sql_hook):
        rows = [order(f"o{i}", i % 4 + 1) for i in range(30)]
        landing = land(sql_hook, batch_size=7)
        landing.upsert(rows)
        first = fetch(sql_hook, ORDERS)
        landing.upsert(rows)
        assert fetch(sql_hook, ORDERS) == first == expected(rows)

    def test_overlapping_windows_any_order(self, sql_hook):
        w1 = [order(f"o{i:02d}", 1) for i in range(10)] + [order(f"o{i:02d}", 4) for i in range(5, 10)]
        w2 = [order(f"o{i:02d}", 3, buyer=f"w2-{i}") for i in range(5, 15)]
        other_table = Table("orders_b", ORDERS.columns, ORDERS.primary_key, ORDERS.version_column)
        a = land(sql_hook, batch_size=4)
        a.upsert(w1)
        a.upsert(w2)
        b = land(sql_hook, other_table, batch_size=3)
        b.upsert(w2)
        b.upsert(w1)
        assert fetch(sql_hook, ORDERS) == fetch(sql_hook, other_table)
        random.seed(7)
        shuffled = w1 + w2
        random.shuffle(shuffled)
        c_table = Table("orders_c", ORDERS.columns, ORDERS.primary_key, ORDERS.version_column)
        land(sql_hook, c_table, batch_size=5).upsert(shuffled)
        assert fetch(sql_hook, ORDERS) == fetch(sql_hook, c_table)

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            ({"order_id": "x", "update_time": 1}, "'shop_id'"),
            ({"shop_id": 77, "order_id": None, "update_time": 1}, "'order_id'"),
            ({"shop_id": 77, "order_id": "x"}, "'update_time'"),
            ({"shop_id": 77, "order_id": "x", "update_time": 1, "bogus": 1}, "'bogus'"),
            ({"shop_id": 77, "order_id": "x", "update_time": 1, "detail": {1, 2}}, "'detail'"),
        ],
        ids=["missing-pk", "null-pk", "missing-version", "unknown-column", "unserialisable-json"],
    )
    def test_bad_row_writes_nothing_from_its_batch(self, sql_hook, bad, message):
        landing = land(sql_hook, batch_size=3)
        good = [order(f"g{i}", 1) for i in range(3)]
        same_batch = [order("h0", 1), order("h1", 1)]
        with pytest.raises(ValueError, match=message) as exc_info:
            landing.upsert([*good, *same_batch, bad, order("later", 1)])
        assert "douyin_orders" in str(exc_info.value)
        assert "#5" in str(exc_info.value)
        # the first batch was committed; nothing from the failing batch was written
        assert fetch(sql_hook, ORDERS) == expected(good)

    def test_ids_above_2_53_exact(self, sql_hook):
        ids = [2**53 + 1, 2**62 + 12345, 2**63 - 1, -(2**63), 6918234567890123457]
        rows = [{"item_id": i, "v": 2**53 + 3, "name": str(i)} for i in ids]
        land(sql_hook, ITEMS).upsert(rows)
        got = fetch(sql_hook, ITEMS)
        assert got == expected(rows, ITEMS)
        assert all(type(r["item_id"]) is int and str(r["item_id"]) == r["name"] for r in got)

    def test_chinese_text_roundtrip(self, sql_hook):
        rows = [
            order("订单-一", 1, buyer="张三 · 北京市朝阳区"),
            order("订单-二", 1, buyer="emoji 🛒✨ and 𠮷"),
        ]
        land(sql_hook).upsert(rows)
        assert fetch(sql_hook, ORDERS) == expected(rows)

    def test_string_keys_are_case_and_accent_sensitive(self, sql_hook):
        rows = [order("abc", 1), order("ABC", 1), order("ábc", 1)]
        land(sql_hook).upsert(rows)
        assert sorted(r["order_id"] for r in fetch(sql_hook, ORDERS)) == sorted(["abc", "ABC", "ábc"])

    def test_json_column_roundtrip(self, sql_hook):
        detail = {"z": [1, 2**60, None, True], "a": {"名": "值", "x": 1.5}, "empty": {}}
        landing = land(sql_hook)
        landing.upsert(
            [order("j", 1, detail=detail), order("k", 1, detail=["list", 1]), order("s", 1, detail="s")]
        )
        got = {r["order_id"]: r["detail"] for r in fetch(sql_hook, ORDERS)}
        assert got == {"j": detail, "k": ["list", 1], "s": "s"}
        (text,) = sql_hook.get_records(
            f"SELECT {q(sql_hook, 'detail')} FROM {q(sql_hook, 'douyin_orders')} "
            f"WHERE {q(sql_hook, 'order_id')} = 'j'"
        )[0]
        assert text == dump_json(detail)
        assert text.startswith('{"a":{"x":1.5,"名":"值"},"empty":{}')

    def test_awkward_identifiers(self, sql_hook):
        pct = "" if sql_hook.dialect_name == "mysql" else "%"
        table = Table(
            name=f'we"ird`{pct}tab',
            columns=(
                Column("order", "str"),
                Column("select", "int"),
                Column(f"per{pct}cent", "str"),
                Column('quo"te`s', "bool"),
            ),
            primary_key=("order",),
            version_column="select",
        )
        landing = land(sql_hook, table)
        landing.upsert([{"order": "1", "select": 1, f"per{pct}cent": "%s", 'quo"te`s': True}])
        landing.upsert([{"order": "1", "select": 2, f"per{pct}cent": "%d", 'quo"te`s': False}])
        landing.upsert([{"order": "1", "select": 0, f"per{pct}cent": "old", 'quo"te`s': True}])
        assert fetch(sql_hook, table) == [
            {"order": "1", "select": 2, f"per{pct}cent": "%d", 'quo"te`s': False}
        ]

    def test_percent_in_mysql_names_is_refused(self, mysql_hook):
        table = Table("per%cent", ITEMS.columns, ITEMS.primary_key, ITEMS.version_column)
        with pytest.raises(ValueError, match="'%' is not supported"):
            SqlLanding(mysql_hook, table).ensure_table()

    def test_only_key_and_version_columns(self, sql_hook):
        table = Table("keys", (Column("k", "str"), Column("v", "int")), ("k", "v"), "v")
        landing = land(sql_hook, table)
        landing.upsert([{"k": "a", "v": 1}, {"k": "a", "v": 1}])
        landing.upsert([{"k": "a", "v": 1}])
        assert fetch(sql_hook, table) == [{"k": "a", "v": 1}]

    def test_streams_batches_lazily(self, sql_hook):
        landing = land(sql_hook, batch_size=10)
        pulled = 0
        seen_at_write: list[int] = []

        def rows():
            nonlocal pulled
            for i in range(35):
                pulled += 1
                yield order(f"o{i:03d}", 1)

        original = SqlLanding._executemany

        def spy(cur, sql, params):
            seen_at_write.append(pulled)
            return original(cur, sql, params)

        with mock.patch.object(SqlLanding, "_executemany", side_effect=spy):
            result = landing.upsert(rows())
        assert result == UpsertResult(35, 35, 4)
        assert seen_at_write == [10, 20, 30, 35]
        assert len(fetch(sql_hook, ORDERS)) == 35

    def test_empty_input(self, sql_hook):
        assert land(sql_hook).upsert([]) == UpsertResult(0, 0, 0)
        assert fetch(sql_hook, ORDERS) == []

    def test_landing_dialect_follows_hook(self, sql_hook):
        expected_cls = {
            "sqlite": SqliteLandingDialect,
            "postgresql": PostgresLandingDialect,
            "mysql": MySqlLandingDialect,
        }[sql_hook.dialect_name]
        assert dialect_class(SqlLanding(sql_hook, ORDERS).dialect_name) is expected_cls


class TestGenericDialectOnSqlite:
    """The delete-then-insert fallback, forced on SQLite."""

    def test_generic_path(self, sqlite_hook):
        landing = land(sqlite_hook, dialect="generic", batch_size=4)
        with mock.patch.object(SqlLanding, "_executemany", wraps=SqlLanding._executemany) as spy:
            landing.upsert([order("a", 5), order("b", 5), order("c", 5)])
        statements = [c.args[1] for c in spy.call_args_list]
        assert statements[0].startswith("DELETE FROM") and "NOT EXISTS" in statements[1]
        result = landing.upsert(
            [
                order("a", 4, buyer="stale"),
                order("b", 5, buyer="equal"),
                order("c", 6, buyer="newer"),
                order("d", 1),
                order("d", 2, buyer="dup-newer"),
                order("d", 2, buyer="dup-tie-later"),
            ]
        )
        assert result == UpsertResult(6, 5, 2)  # batch 1: a b c d1; batch 2: d2 twice -> one
        assert fetch(sqlite_hook, ORDERS) == expected(
            [
                order("a", 5),
                order("b", 5, buyer="equal"),
                order("c", 6, buyer="newer"),
                order("d", 2, buyer="dup-tie-later"),
            ]
        )

    def test_generic_rerun_and_order_independence(self, sqlite_hook):
        w1 = [order(f"o{i}", 1) for i in range(8)]
        w2 = [order(f"o{i}", 2, buyer="w2") for i in range(4, 12)]
        a = land(sqlite_hook, dialect="generic", batch_size=3)
        a.upsert(w1)
        a.upsert(w2)
        a.upsert(w1)
        t_b = Table("orders_b", ORDERS.columns, ORDERS.primary_key, ORDERS.version_column)
        b = land(sqlite_hook, t_b)  # the native ON CONFLICT path
        b.upsert(w2)
        b.upsert(w1)
        assert fetch(sqlite_hook, ORDERS) == fetch(sqlite_hook, t_b)

    def test_generic_bad_row(self, sqlite_hook):
        landing = land(sqlite_hook, dialect="generic", batch_size=2)
        with pytest.raises(ValueError, match="'order_id'"):
            landing.upsert([order("a", 1), order("b", 1), order("c", 1), {"shop_id": 1, "update_time": 1}])
        assert [r["order_id"] for r in fetch(sqlite_hook, ORDERS)] == ["a", "b"]

    def test_generic_sql_shape(self):
        d = LandingDialect('"{}"', Placeholders("qmark"))
        (delete, _), (insert, to_params) = d.upsert_statements('"t"', ["k", "v", "x"], ["k"], "v")
        assert delete == 'DELETE FROM "t" WHERE "k" = ? AND "v" <= ?'
        assert insert == (
            'INSERT INTO "t" ("k", "v", "x") SELECT ?, ?, ? '
            'WHERE NOT EXISTS (SELECT 1 FROM "t" WHERE "k" = ?)'
        )
        assert to_params(("a", 1, "x")) == ("a", 1, "x", "a")


class TestDialectSql:
    def test_mysql_version_assigned_last(self):
        d = MySqlLandingDialect("`{}`", Placeholders("format"))
        [(sql, _)] = d.upsert_statements("`t`", ["k", "v", "a", "b"], ["k"], "v")
        assert sql.endswith(
            "ON DUPLICATE KEY UPDATE `a` = IF(VALUES(`v`) >= `v`, VALUES(`a`), `a`), "
            "`b` = IF(VALUES(`v`) >= `v`, VALUES(`b`), `b`), `v` = IF(VALUES(`v`) >= `v`, VALUES(`v`), `v`)"
        )

    def test_postgres_on_conflict(self):
        d = PostgresLandingDialect('"{}"', Placeholders("pyformat"))
        [(sql, to_params)] = d.upsert_statements('"s"."t%%x"', ["k", "v"], ["k"], "v")
        assert sql == (
            'INSERT INTO "s"."t%%x" AS "tgt" ("k", "v") VALUES (%s, %s) ON CONFLICT ("k") '
            'DO UPDATE SET "v" = excluded."v" WHERE excluded."v" >= "tgt"."v"'
        )
        assert to_params(["a", 1]) == ("a", 1)

    def test_named_and_numeric_paramstyles(self):
        d = LandingDialect('"{}"', Placeholders("named"))
        (delete, params), _ = d.upsert_statements('"t"', ["k", "v"], ["k"], "v")
        assert delete == 'DELETE FROM "t" WHERE "k" = :p0 AND "v" <= :p1'
        assert params(("a", 3)) == {"p0": "a", "p1": 3}
        d = SqliteLandingDialect('"{}"', Placeholders("numeric"))
        [(sql, _)] = d.upsert_statements('"t"', ["k", "v"], ["k"], "v")
        assert "VALUES (:1, :2)" in sql

    def test_ddl_types(self):
        my = MySqlLandingDialect("`{}`", Placeholders("format"))
        ddl = my.create_table_sql("`douyin_orders`", ORDERS.columns, ORDERS.primary_key)
        assert "`order_id` VARCHAR(191) NOT NULL" in ddl and "`buyer` TEXT" in ddl
        assert "`detail` LONGTEXT" in ddl and "COLLATE=utf8mb4_bin" in ddl
        lite = SqliteLandingDialect('"{}"', Placeholders("qmark"))
        assert lite.column_type(ORDERS.column("shop_id"), primary_key=True) == "INTEGER"
        pg = PostgresLandingDialect('"{}"', Placeholders("pyformat"))
        ddl = pg.create_table_sql('"douyin_orders"', ORDERS.columns, ORDERS.primary_key)
        assert ddl.startswith('CREATE TABLE IF NOT EXISTS "douyin_orders"')
        assert '"shop_id" BIGINT NOT NULL' in ddl and '"paid" BOOLEAN' in ddl
        assert 'PRIMARY KEY ("shop_id", "order_id")' in ddl

    def test_quote_rejects_empty_and_nul(self):
        d = LandingDialect('"{}"', Placeholders("qmark"))
        for bad in ("", "a\x00b"):
            with pytest.raises(ValueError, match="identifier"):
                d.quote(bad)

    def test_unknown_dialect_is_generic(self):
        assert dialect_class("snowflake") is LandingDialect
        assert dialect_class("mariadb") is MySqlLandingDialect

    def test_batch_size_validated(self, sqlite_hook):
        with pytest.raises(ValueError, match="batch_size"):
            SqlLanding(sqlite_hook, ORDERS, batch_size=0)


class TestOtherDrivers:
    """The same hooks with the other driver each provider supports."""

    def test_postgres_with_psycopg2(self, postgres_hook, monkeypatch):
        import psycopg2

        c = postgres_hook.connection
        monkeypatch.setattr(
            postgres_hook,
            "get_conn",
            lambda: psycopg2.connect(
                host=c.host,
                port=c.port,
                user=c.login,
                password=c.password or "",
                dbname=c.schema,
                options=c.extra_dejson["options"],
            ),
        )
        self._scenario(postgres_hook)

    def test_mysql_with_mysql_connector_python(self, mysql_hook, monkeypatch):
        pytest.importorskip("mysql.connector")
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        c = mysql_hook.connection
        conn = {
            "conn_type": "mysql",
            "host": c.host,
            "port": c.port,
            "login": c.login,
            "password": c.password or "",
            "schema": c.schema,
            "extra": {"client": "mysql-connector-python"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_DOUYIN_TEST_MYSQL_CONNECTOR", json.dumps(conn))
        hook = MySqlHook(mysql_conn_id="douyin_test_mysql_connector")
        probe = hook.get_conn()
        try:
            assert type(probe).__module__.startswith("mysql.connector")
        finally:
            probe.close()
        self._scenario(hook, reader=mysql_hook)

    @staticmethod
    def _scenario(hook, reader=None):
        reader = reader or hook
        landing = land(hook, batch_size=2)
        landing.upsert([order("a", 5), order("b", 5), order("c", 5, buyer="张三")])
        landing.upsert(
            [order("a", 4, buyer="stale"), order("b", 6, buyer="new"), order("b", 6, buyer="newer")]
        )
        assert fetch(reader, ORDERS) == expected(
            [order("a", 5), order("b", 6, buyer="newer"), order("c", 5, buyer="张三")]
        )
