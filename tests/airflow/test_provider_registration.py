"""After `pip install`, Airflow discovers the provider, its hook and its connection form."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from airflow_provider_douyin.get_provider_info import get_provider_info


def airflow_cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_provider_info_validates_against_airflows_schema():
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


@pytest.mark.parametrize(
    "command,expected",
    [
        (("providers", "list"), "airflow-provider-douyin"),
        (("providers", "hooks"), "douyin_shop"),
        (("providers", "triggers"), "airflow_provider_douyin.triggers.shop"),
    ],
)
def test_airflow_cli_lists_the_provider(command, expected):
    assert expected in airflow_cli(*command, "--output", "plain")
