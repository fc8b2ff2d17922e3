"""Every field the API returns lands, and tables landed by an older release are migrated in place.

The sandbox's shop streams are landed into SQLite, PostgreSQL and MariaDB. Each landed row,
its typed columns plus its ``_extra`` JSON, must give back the sandbox's truth record: nothing
lost, nothing in ``_extra`` that a column already holds.
"""

from __future__ import annotations

import copy
import json
from contextlib import closing
from typing import Any

import pytest

from airflow_provider_douyin.landing.dialects import Placeholders, dialect_class
from airflow_provider_douyin.landing.sql import SqlLanding
from airflow_provider_douyin.streams.catalog import ORDER_ITEMS_TABLE, STREAMS
from airflow_provider_douyin.streams.records import lookup
from airflow_provider_douyin.streams.schema import Column, Table
from tests.landing.test_landing_sql import q
from tests.streams.test_exactness import (
    SAFETY_LAG,
    SHOP_ID,
    SHOP_STREAMS,
    full_history,
    make_client,
    sync,
    wait_past,
)


def truth_records(server: Any, table: str) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(record, parent record) pairs the sandbox holds for ``table``."""
    if table == "order_items":
        return [
            (item, order)
            for order in server.truth("orders", shop_id=SHOP_ID)
            for item in order["sku_order_list"]
        ]
    return [(record, None) for record in server.truth(table, shop_id=SHOP_ID)]


def column_value(column: Column, record: dict[str, Any], parent: dict[str, Any] | None) -> Any:
    """What the column should hold: the API's value, integers given to a text column as text."""
    value = lookup(record, column.source, parent)
    if column.type == "str" and isinstance(value, int):
        return str(value)
    if column.type == "int" and value == "":
        return None
    if column.type == "int" and isinstance(value, str):
        return int(value)
    return value


def unlanded(record: dict[str, Any], paths: list[str]) -> dict[str, Any] | None:
    """``record`` without ``paths``, dropping the objects that removal empties; None if nothing is left."""
    rest = copy.deepcopy(record)
    for path in paths:
        *parents, leaf = path.split(".")
        trail, node = [], rest
        for part in parents:
            if not isinstance(node.get(part), dict):
                node = None
                break
            trail.append((node, part))
            node = node[part]
        if node is None:
            continue
        node.pop(leaf, None)
        for holder, key in reversed(trail):
            if not holder[key]:
                del holder[key]
    return rest or None


def landed_by_key(hook: Any, table: Table, prefix: str) -> dict[tuple, dict[str, Any]]:
    names = table.landed_column_names
    rows = hook.get_records(
        f"SELECT {', '.join(q(hook, c) for c in names)} FROM {q(hook, prefix + table.name)}"
    )
    out = {}
    for values in rows:
        row = dict(zip(names, values, strict=True))
        for column in table.landed_columns:
            if column.type == "json" and row[column.name] is not None:
                row[column.name] = json.loads(row[column.name])
        out[tuple(row[k] for k in table.primary_key)] = row
    return out


def test_every_field_the_sandbox_sends_lands_in_a_column_or_in_extra(douyin_sandbox_factory, sql_hook):
    server = douyin_sandbox_factory(orders=150, seed=21)
    wait_past(SAFETY_LAG)
    client = make_client(server)
    window = full_history()
    for name in SHOP_STREAMS:
        sync(client, sql_hook, name, window, "douyin_")

    extras_seen = 0
    for name in SHOP_STREAMS:
        for binding in STREAMS[name].tables:
            table = binding.table
            if binding.fan_out_method:
                continue  # skus come from a per-product call the truth does not mirror record by record
            landed = landed_by_key(sql_hook, table, "douyin_")
            truth = truth_records(server, table.name)
            assert truth and len(landed) == len(truth), table.name
            own_paths = [c.source for c in table.columns if not c.source.startswith("^")]
            for record, parent in truth:
                expected = {c.name: column_value(c, record, parent) for c in table.columns}
                row = landed[tuple(expected[k] for k in table.primary_key)]
                extra = row.pop("_extra")
                assert row == expected, table.name
                assert extra == unlanded(record, own_paths + list(table.child_lists)), table.name
                extras_seen += extra is not None
    # The sandbox sends fields no column declares (masked receivers, product pictures, …): they landed.
    assert extras_seen > 0


def table_columns(hook: Any, name: str) -> list[str]:
    with closing(hook.get_conn()) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM {q(hook, name)} WHERE 1 = 0")
        names = [d[0] for d in cur.description]
        cur.close()
    return names


def test_a_table_from_an_older_release_gains_the_new_columns_with_its_rows_intact(
    douyin_sandbox_factory, sql_hook
):
    """``order_items`` as a release without attribution columns or ``_extra`` created it."""
    old_columns = ORDER_ITEMS_TABLE.columns[: ORDER_ITEMS_TABLE.column_names.index("order_update_time") + 1]
    new_columns = [c.name for c in ORDER_ITEMS_TABLE.landed_columns if c not in old_columns]
    assert {"room_id", "room_id_str", "author_id", "c_biz", "first_cid", "_extra"} <= set(new_columns)
    dialect = dialect_class(sql_hook.dialect_name)(sql_hook.escape_word_format, Placeholders("qmark"))
    target = q(sql_hook, "douyin_order_items")
    sql_hook.run(dialect.create_table_sql(target, old_columns, ORDER_ITEMS_TABLE.primary_key))
    old_row = {c.name: None for c in old_columns}
    old_row.update(
        order_id="1", parent_order_id="1", product_name="旧的商品", item_num=2, order_update_time=7
    )
    sql_hook.insert_rows("douyin_order_items", [tuple(old_row.values())], target_fields=list(old_row))
    assert table_columns(sql_hook, "douyin_order_items") == [c.name for c in old_columns]

    server = douyin_sandbox_factory(orders=60, seed=22)
    wait_past(SAFETY_LAG)
    sync(make_client(server), sql_hook, "orders", full_history(), "douyin_")

    # ALTER TABLE … ADD COLUMN appends, in declared order.
    assert table_columns(sql_hook, "douyin_order_items") == list(ORDER_ITEMS_TABLE.landed_column_names)
    landed = landed_by_key(sql_hook, ORDER_ITEMS_TABLE, "douyin_")
    kept = landed.pop(("1",))
    assert {k: kept[k] for k in old_row} == old_row
    assert all(kept[name] is None for name in new_columns)
    items = [item for item, _ in truth_records(server, "order_items")]
    assert set(landed) == {(item["order_id"],) for item in items}
    for item in items:
        row = landed[(item["order_id"],)]
        assert (row["room_id"], row["first_cid"]) == (item["room_id"], item["first_cid"])
        assert row["_extra"] is not None and "order_id" not in row["_extra"]


def test_a_table_without_its_primary_key_column_is_refused_not_migrated(sql_hook):
    """Adding a key column cannot make old rows upsertable: the operator stops and names the column."""
    columns = [c for c in ORDER_ITEMS_TABLE.columns if c.name != "order_id"]
    dialect = dialect_class(sql_hook.dialect_name)(sql_hook.escape_word_format, Placeholders("qmark"))
    sql_hook.run(dialect.create_table_sql(q(sql_hook, "douyin_order_items"), columns, ("parent_order_id",)))
    with pytest.raises(ValueError, match="without primary-key column 'order_id'"):
        SqlLanding(sql_hook, ORDER_ITEMS_TABLE).ensure_table()
