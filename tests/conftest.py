"""Test-wide setup: an isolated Airflow home, before anything imports Airflow."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import traceback
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

from airflow_provider_douyin.sandbox import SANDBOX_APP_SECRET, SANDBOX_CLIENT_SECRET  # noqa: E402
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


SECRET_PATTERNS = (
    re.compile(re.escape(SANDBOX_APP_SECRET)),
    re.compile(re.escape(SANDBOX_CLIENT_SECRET)),
    re.compile(r"\b(?:act|rft|clt)\.[a-z0-9]{40}\b"),  # every token the sandbox issues
)


class SecretScan(logging.Handler):
    """Sees every log record of the whole suite, at DEBUG, and remembers any that carries a secret."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = record.getMessage()
        except Exception:  # a record whose args do not format is still scanned as raw text
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        if any(p.search(text) for p in SECRET_PATTERNS):
            self.leaks.append(f"{record.name}: {text[:300]}")


SECRET_SCAN = SecretScan()


@pytest.fixture(autouse=True)
def _scan_logs_for_secrets():
    """Airflow reconfigures logging during dag.test(), so the handler is re-attached for every test."""
    root = logging.getLogger()
    if SECRET_SCAN not in root.handlers:
        root.addHandler(SECRET_SCAN)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield
    root.setLevel(previous)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.ensure_newline()
    if SECRET_SCAN.leaks:
        session.exitstatus = 1
        if reporter:
            reporter.write_line(f"SECRET LEAK in {len(SECRET_SCAN.leaks)} log records:", red=True)
            for leak in SECRET_SCAN.leaks[:20]:
                reporter.write_line(f"  {leak}")
    elif reporter:
        reporter.write_line(f"secret scan: {SECRET_SCAN.records} log records, no app_secret or token value")
