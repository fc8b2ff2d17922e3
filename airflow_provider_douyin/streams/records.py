"""Turn API records into rows of a declared table.

Values keep the API's meaning (epoch seconds and fen stay integers, ids stay exact),
but some endpoints serialise the same field as a number in one place and a string in
another (older settle bills send ``"950"``), so each value is normalised to its column
type here, once, and a value that cannot be normalised fails loudly with the column name.

What no database accepts is rejected or repaired here rather than deep inside a driver:
integers beyond signed 64 bits fail, floats never stand in for ids or integers (a float
has already lost an int64 id's digits), NUL characters are dropped and lone surrogates
become U+FFFD. Messages name the table, column, method and log_id, never the value: a
record carries buyers' personal data.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_douyin.client.errors import DouyinRecordError
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.streams.schema import Column, Table

log = get_logger(__name__)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class RecordShapeError(DouyinRecordError):
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


def _repair_text(value: str) -> str | None:
    """``value`` without NUL characters and with lone surrogates replaced, or None if it was clean."""
    if "\x00" not in value and (value.isascii() or not _LONE_SURROGATE.search(value)):
        return None
    return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))


class RowBuilder:
    """Builds the rows of one read: repairs text and warns once per column, however many rows need it.

    :param method: the API method the records came from, named in errors.
    """

    def __init__(self, method: str = "") -> None:
        self.method = method
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def row(
        self,
        table: Table,
        record: Mapping[str, Any],
        parent: Mapping[str, Any] | None = None,
        *,
        log_id: str = "",
    ) -> dict[str, Any]:
        if not isinstance(record, Mapping):
            raise self._error(table, f"record is {type(record).__name__}, not an object", log_id)
        row = {
            c.name: self._coerce(lookup(record, c.source, parent), c, table, log_id) for c in table.columns
        }
        missing = [k for k in table.primary_key if row[k] in (None, "")]
        if missing:
            raise self._error(table, f"record without primary key {missing}", log_id)
        return row

    def nested(
        self, table: Table, record: Mapping[str, Any], records_path: str, *, log_id: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Rows for a child table read from a list nested inside ``record``."""
        children = lookup(record, records_path) or []
        if not isinstance(children, list):
            raise self._error(table, f"{records_path!r} is not a list", log_id)
        for child in children:
            yield self.row(table, child, parent=record, log_id=log_id)

    def _error(self, table: Table, detail: str, log_id: str) -> RecordShapeError:
        return RecordShapeError(f"table {table.name!r}: {detail}", method=self.method, log_id=log_id)

    def _coerce(self, value: Any, column: Column, table: Table, log_id: str) -> Any:
        if value is None:
            return None
        kind = column.type
        if kind == "json":
            return self._repair_nested(value, column, table)
        if kind == "int":
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                number = value
            elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
                number = int(value)
            elif value == "":
                return None
            else:
                number = None
            if number is not None:
                if INT64_MIN <= number <= INT64_MAX:
                    return number
                raise self._error(
                    table, f"column {column.name!r} (int) got an integer outside signed 64 bits", log_id
                )
        elif kind == "str":
            if isinstance(value, str):
                return self._repair(value, column, table)
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
        elif kind == "bool":
            if isinstance(value, bool):
                return value
            if value in (0, 1, "0", "1", "true", "false"):
                return value in (1, "1", "true")
        raise self._error(
            table, f"column {column.name!r} ({kind}) cannot hold {type(value).__name__} value", log_id
        )

    def _repair(self, value: str, column: Column, table: Table) -> str:
        repaired = _repair_text(value)
        if repaired is None:
            return value
        key = (table.name, column.name)
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            log.warning(
                "%s: table %r column %r holds NUL characters or lone surrogates, which no database "
                "stores; landing them without NULs and with U+FFFD (warned once per column per read)",
                self.method or "records",
                table.name,
                column.name,
            )
        return repaired

    def _repair_nested(self, value: Any, column: Column, table: Table) -> Any:
        if isinstance(value, str):
            return self._repair(value, column, table)
        if isinstance(value, list):
            return [self._repair_nested(v, column, table) for v in value]
        if isinstance(value, Mapping):
            return {
                self._repair(str(k), column, table): self._repair_nested(v, column, table)
                for k, v in value.items()
            }
        return value


def to_row(
    table: Table, record: Mapping[str, Any], parent: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return RowBuilder().row(table, record, parent)


def nested_rows(table: Table, record: Mapping[str, Any], records_path: str) -> Iterator[dict[str, Any]]:
    """Rows for a child table read from a list nested inside ``record``."""
    return RowBuilder().nested(table, record, records_path)
