"""All tables of a flush land in one transaction, on the one connection a sync keeps open."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from airflow_provider_douyin.landing.sinks import SqlStreamSink
from airflow_provider_douyin.landing.sql import SqlLanding
from airflow_provider_douyin.streams.schema import Column, Table
from tests.landing.test_landing_sql import fetch

PARENTS = Table("parents", (Column("id", "str"), Column("v", "int")), primary_key=("id",), version_column="v")
CHILDREN = Table(
    "children",
    (Column("id", "str"), Column("parent_id", "str"), Column("v", "int")),
    primary_key=("id",),
    version_column="v",
)


def flush(*parent_ids: str, version: int = 1) -> dict[str, list[dict[str, Any]]]:
    return {
        "parents": [{"id": p, "v": version} for p in parent_ids],
        "children": [{"id": f"{p}-{n}", "parent_id": p, "v": version} for p in parent_ids for n in (1, 2)],
    }


def landed(hook) -> tuple[list[str], list[str]]:
    return [r["id"] for r in fetch(hook, PARENTS)], [r["id"] for r in fetch(hook, CHILDREN)]


def test_a_flush_with_an_invalid_child_writes_none_of_its_parents(sql_hook):
    with SqlStreamSink(sql_hook, [PARENTS, CHILDREN]) as sink:
        sink.write(flush("a", "b"))
        bad = flush("c")
        del bad["children"][1]["v"]
        with pytest.raises(ValueError, match="douyin_children.*'v'"):
            sink.write(bad)
        sink.write(flush("d"))
        stats = sink.finish()
    assert landed(sql_hook) == (["a", "b", "d"], ["a-1", "a-2", "b-1", "b-2", "d-1", "d-2"])
    assert stats["parents"] == {"table": "douyin_parents", "rows_received": 3, "rows_written": 3}


def test_a_database_error_on_the_children_rolls_back_their_parents(sql_hook):
    with SqlStreamSink(sql_hook, [PARENTS, CHILDREN]) as sink:
        sink.write(flush("a"))
        sink.commit()
        original = SqlLanding._executemany

        def fail_on_children(cur, sql, params):
            if "children" in sql:
                raise RuntimeError("connection lost")
            return original(cur, sql, params)

        with (
            mock.patch.object(SqlLanding, "_executemany", side_effect=fail_on_children),
            pytest.raises(RuntimeError),
        ):
            sink.write(flush("b", version=2))
    assert landed(sql_hook) == (["a"], ["a-1", "a-2"])


def test_one_connection_for_the_whole_sync_closed_at_the_end(sqlite_hook, monkeypatch):
    opened = []
    get_conn = sqlite_hook.get_conn

    def counting_get_conn():
        opened.append(get_conn())
        return opened[-1]

    monkeypatch.setattr(sqlite_hook, "get_conn", counting_get_conn)
    with SqlStreamSink(sqlite_hook, [PARENTS, CHILDREN]) as sink:
        for n in range(5):
            sink.write(flush(f"p{n}"))
            sink.commit()
    assert len(opened) == 1
    with pytest.raises(Exception, match="closed"):
        opened[0].cursor()
    assert len(landed(sqlite_hook)[1]) == 10
