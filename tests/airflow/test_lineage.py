"""OpenLineage: what the OpenLineage provider's own extractor reports for a finished transfer.

The provider's ``ExtractorManager`` picks the extractor for the operator (its ``DefaultExtractor``,
which calls ``get_openlineage_facets_on_complete``) and validates the result, exactly as its
listener does after a task succeeds; the events are then serialized with the client's ``Serde``.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_douyin.streams.catalog import get_stream
from airflow_provider_douyin.transfers.douyin_to_sql import DouyinToSqlOperator
from airflow_provider_douyin.transfers.douyin_to_storage import DouyinToStorageOperator
from tests.airflow.test_watermark_store import FakeVariables

pytest.importorskip("airflow.providers.openlineage", reason="the [openlineage] extra is not installed")

NOW = datetime.now(timezone.utc)
MONTH = {"window_start": (NOW - timedelta(days=32)).isoformat(), "window_end": NOW.isoformat()}
SOURCE = {"namespace": "douyin://doudian/1000001", "name": "orders"}


@pytest.fixture
def variables(monkeypatch) -> FakeVariables:
    fake = FakeVariables()
    monkeypatch.setattr("airflow_provider_douyin.transfers.watermarks.Variable", fake)
    return fake


def extracted(task: Any) -> tuple[dict, list[dict]]:
    """The input and outputs the OpenLineage provider extracts after ``task`` succeeded, as event JSON."""
    from airflow.providers.openlineage.extractors.base import DefaultExtractor
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.utils.state import TaskInstanceState
    from openlineage.client.serde import Serde

    manager = ExtractorManager()
    assert isinstance(manager._get_extractor(task), DefaultExtractor)
    run = SimpleNamespace(run_id="manual__lineage")
    instance = SimpleNamespace(task=task, dag_id="lineage", task_id=task.task_id, run_id=run.run_id)
    lineage = manager.extract_metadata(run, task, TaskInstanceState.SUCCESS, instance)
    (source,) = (Serde.to_dict(d) for d in lineage.inputs)
    return source, [Serde.to_dict(d) for d in lineage.outputs]


def landed_columns(table: str) -> list[dict[str, str]]:
    declared = next(b.table for b in get_stream("orders").tables if b.table.name == table)
    return [{"name": c.name, "type": c.type} for c in declared.landed_columns]


def check_outputs(outputs: list[dict], expected: dict[str, tuple[str, str, int]]) -> None:
    """``expected``: declared table -> (namespace, name, rows landed)."""
    assert [(o["namespace"], o["name"]) for o in outputs] == [v[:2] for v in expected.values()]
    for output, (table, (_, _, rows)) in zip(outputs, expected.items(), strict=True):
        assert output["outputFacets"]["outputStatistics"]["rowCount"] == rows
        fields = output["facets"]["schema"]["fields"]
        assert [{"name": f["name"], "type": f["type"]} for f in fields] == landed_columns(table)
        assert rows > 0


def test_a_sql_transfer_reports_the_stream_and_the_tables_it_landed(
    shop, in_memory_tokens, variables, sql_hook
):
    task = DouyinToSqlOperator(
        task_id="land_orders", stream="orders", sql_conn_id=sql_hook.get_conn_id(), lookback=0, **MONTH
    )
    task.execute(context={})

    source, outputs = extracted(task)

    assert {k: source[k] for k in ("namespace", "name")} == SOURCE
    count = {t: sql_hook.get_first(f"SELECT COUNT(*) FROM douyin_{t}")[0] for t in ("orders", "order_items")}
    conn = sql_hook.get_connection(sql_hook.get_conn_id())
    if conn.conn_type == "sqlite":
        namespace, qualifier = f"sqlite://{conn.host}", ""
    elif conn.conn_type == "postgres":
        schema = sql_hook.get_first("SELECT current_schema()")[0]
        namespace, qualifier = f"postgres://{conn.host}:{conn.port or 5432}", f"{conn.schema}.{schema}."
    else:
        namespace, qualifier = f"mysql://{conn.host}:{conn.port or 3306}", f"{conn.schema}."
    check_outputs(
        outputs,
        {t: (namespace, f"{qualifier}douyin_{t}", count[t]) for t in ("orders", "order_items")},
    )


def test_a_storage_transfer_reports_the_stream_and_the_folders_it_wrote(
    shop, in_memory_tokens, variables, tmp_path
):
    lake = tmp_path / "lake"
    task = DouyinToStorageOperator(
        task_id="land_orders", stream="orders", path=f"file://{lake}", lookback=0, **MONTH
    )
    task.execute(context={})

    source, outputs = extracted(task)

    assert {k: source[k] for k in ("namespace", "name")} == SOURCE
    lines = {
        t: sum(
            len(gzip.decompress(p.read_bytes()).splitlines())
            for p in (lake / f"douyin_{t}").rglob("*.jsonl.gz")
        )
        for t in ("orders", "order_items")
    }
    check_outputs(
        outputs, {t: ("file", str(lake / f"douyin_{t}"), lines[t]) for t in ("orders", "order_items")}
    )
