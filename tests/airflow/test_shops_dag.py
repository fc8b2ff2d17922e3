"""``douyin_shops_hourly`` reads its shops from the ``douyin_shop_conn_ids`` Variable and maps over them.

The landing itself, every shop exact on two Celery workers, is in ``test_celery_executor.py``.
"""

from __future__ import annotations

import json

import pytest

from tests.airflow.example_dag_runs import DAGS_FOLDER, parse_example_dags

VARIABLE_ENV = "AIRFLOW_VAR_DOUYIN_SHOP_CONN_IDS"


@pytest.fixture
def shops_dag(monkeypatch):
    monkeypatch.syspath_prepend(str(DAGS_FOLDER))
    return parse_example_dags("douyin_shops_hourly.py").get_dag("douyin_shops_hourly")


def test_every_stream_is_mapped_over_the_shop_list_in_the_api_pool(shops_dag):
    listing = shops_dag.get_task("shop_connections")
    for task_id in ("land_orders", "land_after_sales"):
        task = shops_dag.get_task(task_id)
        assert task.is_mapped and task.pool == "douyin_api"
        assert task.upstream_task_ids == {listing.task_id}


@pytest.mark.parametrize("value", ['["douyin_shop_1001", "douyin_shop_1002"]', '["douyin_shop_default"]'])
def test_the_shop_list_is_the_variable(shops_dag, monkeypatch, value):
    monkeypatch.setenv(VARIABLE_ENV, value)
    assert shops_dag.get_task("shop_connections").python_callable() == json.loads(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be a JSON list of douyin_shop connection ids"),
        ('"douyin_shop_1001"', "must be a JSON list"),
        ("[]", "must be a JSON list"),
        ('["douyin_shop_1001", ""]', "must be a JSON list"),
        ('["douyin_shop_1001", "douyin_shop_1001"]', "names a connection twice"),
    ],
)
def test_a_missing_or_malformed_shop_list_fails_saying_what_to_set(shops_dag, monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv(VARIABLE_ENV, raising=False)
    else:
        monkeypatch.setenv(VARIABLE_ENV, value)
    with pytest.raises(ValueError, match=message) as caught:
        shops_dag.get_task("shop_connections").python_callable()
    assert "douyin_shop_conn_ids" in str(caught.value)
