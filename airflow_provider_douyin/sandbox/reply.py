"""What a transport-free request handler hands back to the HTTP layer, on both platforms.

A ``Reply`` to perform (send, delay, or reset the connection), a ``ControlError`` for a bad
control-API request, and the shared pieces of the two control APIs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
TRUTH_CHUNK = 2000

T = TypeVar("T")


@dataclass
class Reply:
    """What the HTTP layer must do. ``action`` is ``reply`` or ``reset`` (no response)."""

    status: int = 200
    body: bytes | Iterator[bytes] = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    action: str = "reply"


class ControlError(Exception):
    """A control-API request error, returned as HTTP ``status`` with a JSON message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def lookup(by_id: Mapping[int, T], key: Any, name: str) -> T:
    """The shop or merchant a control request names by ``name``, or a 404."""
    try:
        return by_id[int(key)]
    except (TypeError, ValueError, KeyError) as exc:
        raise ControlError(404, f"unknown {name} {key!r}") from exc


def check_truth_table(table: str, tables: tuple[str, ...]) -> None:
    if table not in tables:
        raise ControlError(404, f"unknown truth table {table!r}; one of {', '.join(tables)}")


def stream_locked(
    sources: Iterable[Iterator[dict[str, Any]]], lock: AbstractContextManager[Any]
) -> Iterator[dict[str, Any]]:
    """Stream truth rows in chunks, taking the data lock per chunk so the API is not starved."""
    for source in sources:
        while True:
            with lock:
                chunk = [row for _, row in zip(range(TRUTH_CHUNK), source, strict=False)]
            if not chunk:
                break
            yield from chunk
