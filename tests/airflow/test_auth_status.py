"""Token maintenance records when it last ran and its last error, for the Douyin page; never a token."""

from __future__ import annotations

import json

import pytest

from airflow_provider_douyin.client.errors import DouyinReauthorizationRequired
from airflow_provider_douyin.hooks.token_store import auth_status_key
from airflow_provider_douyin.operators.tokens import DouyinTokenRefreshOperator
from tests.airflow.conftest import shop_connection

CONN_ID = "douyin_shop_status_test"


@pytest.fixture
def status(airflow_db, monkeypatch):
    """The status Variable in the metadata DB (where the store writes outside a task), read back."""
    from airflow.models.variable import Variable as VariableModel

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", shop_connection("http://127.0.0.1:9"))
    VariableModel.delete(auth_status_key(CONN_ID))
    yield lambda: json.loads(VariableModel.get(auth_status_key(CONN_ID)))
    VariableModel.delete(auth_status_key(CONN_ID))


def test_a_failed_maintenance_records_its_error_and_a_later_success_keeps_it_dated(status, monkeypatch):
    refused = DouyinReauthorizationRequired(
        "the stored refresh token has expired", method="token.refresh", hint="Re-authorization needed"
    )

    def refuse(self):
        raise refused

    monkeypatch.setattr(DouyinTokenRefreshOperator, "_refresh_shop", refuse)
    with pytest.raises(DouyinReauthorizationRequired):
        DouyinTokenRefreshOperator(task_id="refresh", douyin_conn_id=CONN_ID).execute(context={})

    failed = status()
    assert failed["ok"] is False
    assert failed["last_error"] == f"DouyinReauthorizationRequired: {refused}"
    assert "stored refresh token has expired" in failed["last_error"]
    assert failed["last_error_at"] == failed["checked_at"]

    monkeypatch.setattr(DouyinTokenRefreshOperator, "_refresh_shop", lambda self: {"rotated": False})
    DouyinTokenRefreshOperator(task_id="refresh", douyin_conn_id=CONN_ID).execute(context={})

    recovered = status()
    assert recovered["ok"] is True and recovered["checked_at"] > failed["checked_at"]
    assert (recovered["last_error"], recovered["last_error_at"]) == (
        failed["last_error"],
        failed["last_error_at"],
    )
