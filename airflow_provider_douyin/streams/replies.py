"""What a reply must be before its records count, and the typed errors when it is not.

A success envelope whose ``data``, record list, ``total``, record time or key is missing or of
the wrong type is a :class:`DouyinResponseShapeError` naming the method and log_id, never "no
rows". Pagers build their page checks from these; the reader re-reads a page that fails them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_douyin.client.errors import DouyinIncompleteReadError, DouyinResponseShapeError
from airflow_provider_douyin.client.transport import ApiResponse
from airflow_provider_douyin.streams.records import RecordShapeError, lookup
from airflow_provider_douyin.streams.windows import parse_time

if TYPE_CHECKING:
    from airflow_provider_douyin.streams.catalog import TimeFormat
    from airflow_provider_douyin.streams.schema import Table


class StreamReadError(DouyinIncompleteReadError):
    """The API's answers cannot be read without risking a lost record."""


@dataclass(frozen=True)
class Page:
    """One checked answer: its records with their keys and cursor times, and what comes next."""

    records: list[Mapping[str, Any]]
    keys: list[tuple]
    times: list[int]
    total: int
    response: ApiResponse
    cursor: Any = None

    @property
    def log_id(self) -> str:
        return self.response.log_id

    @property
    def clean(self) -> bool:
        """Every string of the page is storable as it is (``ApiResponse.text_clean``)."""
        return self.response.text_clean


def kind(value: Any) -> str:
    """How a wrong value is named in an error: its type, never the value (it may be personal data)."""
    return "missing or null" if value is None else type(value).__name__


def shape_error(response: ApiResponse, detail: str) -> DouyinResponseShapeError:
    return DouyinResponseShapeError(detail, method=response.method, log_id=response.log_id)


def data_object(response: ApiResponse) -> Mapping[str, Any]:
    if not isinstance(response.data, Mapping):
        raise shape_error(response, f"data is {kind(response.data)}, not an object")
    return response.data


def record_list(response: ApiResponse, data: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    records = lookup(data, path)
    if not isinstance(records, list):
        raise shape_error(response, f"data.{path} is {kind(records)}, not a list")
    if not all(isinstance(r, Mapping) for r in records):
        raise shape_error(response, f"data.{path} holds a record that is not an object")
    return records


def record_total(response: ApiResponse, data: Mapping[str, Any]) -> int:
    total = data.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise shape_error(response, f"total is {kind(total)}, not a count")
    return total


def record_time(record: Mapping[str, Any], path: str, fmt: TimeFormat, response: ApiResponse) -> int:
    at = time_value(lookup(record, path), fmt)
    if at is None:
        raise shape_error(response, f"a record's {path} is {kind(lookup(record, path))}, not a {fmt} time")
    return at


def record_key(table: Table, record: Mapping[str, Any], response: ApiResponse) -> tuple:
    key = tuple(lookup(record, table.column(k).source) for k in table.primary_key)
    for name, value in zip(table.primary_key, key, strict=True):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise RecordShapeError(
                f"table {table.name!r}: primary key {name!r} is {kind(value)}, not a string or integer",
                method=response.method,
                log_id=response.log_id,
            )
    return key


def time_value(value: Any, fmt: TimeFormat) -> int | None:
    """``value`` as epoch seconds, or None when it is not a time of format ``fmt``."""
    if fmt == "epoch":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, fmt)
    except ValueError:
        return None
