"""Helpers for tests that run the example DAGs in-process with ``dag.test``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_douyin.transfers.watermarks import watermark_key
from tests.conftest import ROOT

DAGS_FOLDER = ROOT / "dags"


def parse_example_dags(name: str = "") -> Any:
    """A freshly parsed ``DagBag`` of ``dags/`` (or of one file in it).

    Parse anew for every run: ``dag.test`` renders templates onto the task objects themselves, so
    a DAG object reused after a run with conf windows would keep them (a worker parses each time).
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER / name) if name else str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag


def register(bag: Any) -> None:
    """Serialize the DAGs into the metadata DB, which ``dag.test`` needs to create their runs.

    The ``dags-folder`` bundle row they belong to is created first: a fresh metadata DB has none
    until some DAG processor or earlier test wrote it, and the DAG rows reference it.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)


def delete_watermarks(dags: Iterable[Any]) -> None:
    """Runs record the windows they landed in Variables of the shared test metadata DB; a test
    that runs the example DAGs starts and ends without them."""
    from airflow.models.variable import Variable as VariableModel

    from airflow_provider_douyin.transfers.base import BaseDouyinTransferOperator

    for dag in dags:
        for task in dag.tasks:
            # A mapped task's shops vary per run; the realtime DAG's push task keeps no watermark.
            if isinstance(task, BaseDouyinTransferOperator) and not task.is_mapped:
                VariableModel.delete(watermark_key(task.douyin_conn_id, task.stream, task.target_id))
