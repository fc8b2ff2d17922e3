"""Turn API records into rows of a declared table.

Values keep the API's meaning (epoch seconds and fen stay integers, ids stay exact),
but some endpoints serialise the same field as a number in one place and a string in
another (older settle bills send ``"950"``), so each value is normalised to its column
type here, once, and a value that cannot be normalised fails loudly with the column name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_douyin.streams.schema import Column, Table


class RecordShapeError(ValueError):
    """An API record does not fit its declared table."""


def lookup(record: Mapping[str, Any], path: str, parent: Mapping[str, Any] | None = None) -> Any:
    """Resolve a dotted path; ``^`` reads the parent record. Missing keys give ``None``."""
    if path.startswith("^"):
        if parent is None:
            raise RecordShapeError(f"path {path!r} needs a parent record")
        record, path = parent, path[1:]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _coerce(value: Any, column: Column, table: Table) -> Any:
    if value is None:
        return None
    kind = column.type
    if kind == "json":
        return value
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if value == "":
            return None
    elif kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1", "true", "false"):
            return value in (1, "1", "true")
    raise RecordShapeError(
        f"table {table.name!r} column {column.name!r} ({kind}) cannot hold {type(value).__name__} value"
    )


def to_row(
    table: Table, record: Mapping[str, Any], parent: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    row = {c.name: _coerce(lookup(record, c.source, parent), c, table) for c in table.columns}
    missing = [k for k in table.primary_key if row[k] in (None, "")]
    if missing:
        raise RecordShapeError(f"table {table.name!r}: record without primary key {missing}")
    return row


def nested_rows(table: Table, record: Mapping[str, Any], records_path: str) -> Iterator[dict[str, Any]]:
    """Rows for a child table read from a list nested inside ``record``."""
    children = lookup(record, records_path) or []
    if not isinstance(children, list):
        raise RecordShapeError(f"table {table.name!r}: {records_path!r} is not a list")
    for child in children:
        yield to_row(table, child, parent=record)
