"""Landing tests use the shared database fixtures from ``tests/dbs.py``.

Importing them here is harmless if ``tests/conftest.py`` imports them as well.
"""

from __future__ import annotations

import fsspec
import pytest

from tests.dbs import mysql_hook, postgres_hook, sql_hook, sqlite_hook  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _memory_filesystem() -> None:
    """``memory://`` is not a registered ObjectStoragePath scheme in Airflow 3.3; attach fsspec's."""
    from airflow.sdk.io.store import attach

    attach("memory", fs=fsspec.filesystem("memory"))
