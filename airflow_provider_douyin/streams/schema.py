"""Table declarations shared by the stream catalog and every landing target.

A table is data, not code: the landing layer turns it into DDL and upserts for any
dialect, and the stream reader uses the column paths to flatten API records.

Every landed table also has the JSON column ``_extra`` (:data:`EXTRA_COLUMN`): the part of each
API record that no declared column holds, so a field the API adds is landed, not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["int", "str", "bool", "json"]
"""``int`` is a 64-bit integer (epoch seconds, fen amounts, int64 ids); ``str`` is text
(string ids, "yyyy-MM-dd HH:mm:ss" times); ``json`` holds nested values as compact JSON."""


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    path: str | None = None
    """Dotted path into the API record; ``None`` means the column name itself."""
    exact_twin: str | None = None
    """Path of the value's text twin (``room_id_str`` for ``room_id``), read first when present:
    ids above 2**53 are only exact as text once anything between the API and us went through a
    float."""

    @property
    def source(self) -> str:
        return self.path or self.name


EXTRA_COLUMN = Column("_extra", "json")
"""The record's fields no declared column reads, nested as in the record (NULL when there are none)."""


@dataclass(frozen=True)
class Table:
    name: str
    """Unprefixed name; the landed table is ``<table_prefix><name>``, e.g. ``douyin_orders``."""
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    version_column: str
    """An upsert never replaces a row whose version is greater than the incoming one."""
    description: str = field(default="", compare=False)
    child_lists: tuple[str, ...] = ()
    """Paths of the record's nested lists that child tables land (``sku_order_list``), so they are
    not copied into this table's ``_extra`` as well."""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r} declares a column twice")
        if EXTRA_COLUMN.name in names:
            raise ValueError(f"table {self.name!r}: {EXTRA_COLUMN.name!r} is reserved for unlanded fields")
        for key in (*self.primary_key, self.version_column):
            if key not in names:
                raise ValueError(f"table {self.name!r}: {key!r} is not a declared column")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def landed_columns(self) -> tuple[Column, ...]:
        """The declared columns, then ``_extra``: what a landing target creates and writes."""
        return (*self.columns, EXTRA_COLUMN)

    @property
    def landed_column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.landed_columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)
