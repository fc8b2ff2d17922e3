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


def test_built_wheel_ships_the_sandbox_reference(tmp_path):
    """The README links the sandbox's behaviour reference; an installed package must contain it."""
    import shutil
    import zipfile

    from tests.conftest import ROOT

    source = tmp_path / "src"  # build from a copy: a build writes build/ and *.egg-info next to pyproject
    shutil.copytree(ROOT / "airflow_provider_douyin", source / "airflow_provider_douyin")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("airflow_provider_douyin-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "airflow_provider_douyin/sandbox/README_SECTION.md" in names
    assert "airflow_provider_douyin/sandbox/server.py" in names
