"""Test-wide setup: an isolated Airflow home, before anything imports Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = ROOT / ".airflow-test"

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "tests" / "airflow" / "dag_files")
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "0Fq9gL9xOQ7oYVZ8cKq1VYgm2cN5cW9xgk1Uu2Jd3XE=")
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
AIRFLOW_HOME.mkdir(exist_ok=True)

from tests.dbs import mysql_hook, postgres_hook, sql_hook, sqlite_hook  # noqa: E402, F401  (shared fixtures)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database, which ``dag.test()`` needs; created once per session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    return AIRFLOW_HOME / "airflow.db"


@pytest.fixture(scope="session", autouse=True)
def _memory_filesystem() -> None:
    """``memory://`` is not a registered ObjectStoragePath scheme in Airflow 3.3; attach fsspec's."""
    import fsspec
    from airflow.sdk.io.store import attach

    attach("memory", fs=fsspec.filesystem("memory"))
