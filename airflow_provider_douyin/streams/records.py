"""Turn API records into rows of a declared table.

Values keep the API's meaning (epoch seconds and fen stay integers, ids stay exact),
but some endpoints serialise the same field as a number in one place and a string in
another (older settle bills send ``"950"``), so each value is normalised to its column
type here, once.

Nothing the API sends is lost. ``_extra`` holds the record minus what the declared columns
read, nested as in the record: a column reading ``aftersale_info.aftersale_id`` takes that one
key, so an unknown ``aftersale_info.new_field`` lands as ``{"aftersale_info": {"new_field": …}}``;
a ``json`` column takes its whole subtree; a nested list a child table lands
(``Table.child_lists``, e.g. ``sku_order_list``) is left to the child rows and their own
``_extra``; values a child reads from its parent (``^`` paths) are the parent row's. ``_extra``
is NULL when nothing is left over.

A value that cannot be normalised to its column's type (the API changed a field's type) lands
in ``_extra`` at its own place, the column is NULL, and one warning per column and read names
the table, the field and the method. Primary-key and version columns are the exception: a row
without an exact key or version cannot be upserted exactly, so there such a value fails the
read with :class:`RecordShapeError`.

What no database accepts is rejected or repaired here rather than deep inside a driver:
integers beyond signed 64 bits never reach an integer column, floats never stand in for ids or
integers (a float has already lost an int64 id's digits), NUL characters are dropped and lone
surrogates become U+FFFD. Messages name the table, column, method and log_id, never the value: a
record carries buyers' personal data.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from airflow_provider_douyin.client.errors import DouyinRecordError
from airflow_provider_douyin.client.redaction import get_logger
from airflow_provider_douyin.streams.schema import EXTRA_COLUMN, Column, Table

log = get_logger(__name__)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SCALARS = frozenset({int, float, bool, type(None)})


class RecordShapeError(DouyinRecordError):
    """An API record does not fit its declared table."""


class _Misfit(DouyinRecordError):
    """A value that its column's type cannot hold; ``detail`` says why without showing the value.

    Caught inside the row builder (a key or version column turns it into a :class:`RecordShapeError`,
    any other column into ``_extra``); a DouyinError like everything else the provider raises."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


_ReadTree = dict[str, Union["_ReadTree", None]]
"""The record keys a table's columns read: ``None`` takes the key's whole value, a subtree
takes only those keys of a nested object."""


@dataclass(frozen=True)
class _ColumnPlan:
    column: Column
    parts: tuple[str, ...]
    """The path's keys, without the ``^``."""
    key: str | None
    """The one key of a path without dots (most columns), read without walking ``parts``."""
    from_parent: bool
    strict: bool
    """A primary-key or version column: a misfit value fails the read."""
    twin: tuple[str, ...] | None = None
    """The keys of the column's exact text twin, read first (``Column.exact_twin``)."""


@dataclass(frozen=True)
class _TablePlan:
    """What building a row of one table needs, worked out once per table and read."""

    cells: tuple[tuple[str, str, str | None, _ColumnPlan], ...]
    """Per column: name, type, the record key it reads when that is all there is to it (a key of
    the record itself, no twin), and its plan; plain tuples, so the row loop unpacks instead of
    looking up attributes (a large page builds tens of thousands of cells)."""
    read_tree: _ReadTree

    @classmethod
    def of(cls, table: Table) -> _TablePlan:
        strict = {*table.primary_key, table.version_column}
        columns = tuple(
            _ColumnPlan(
                c,
                parts,
                parts[0] if len(parts) == 1 else None,
                c.source.startswith("^"),
                c.name in strict,
                tuple(c.exact_twin.split(".")) if c.exact_twin else None,
            )
            for c in table.columns
            for parts in [tuple(c.source.lstrip("^").split("."))]
        )
        cells = tuple(
            (p.column.name, p.column.type, p.key if not p.from_parent and p.twin is None else None, p)
            for p in columns
        )
        return cls(cells, _read_tree(table))


def _read_tree(table: Table) -> _ReadTree:
    tree: _ReadTree = {}
    own_paths = [c.source for c in table.columns if not c.source.startswith("^")]
    for path in (*own_paths, *table.child_lists):
        *parents, leaf = path.split(".")
        node: _ReadTree | None = tree
        for part in parents:
            if part in node and node[part] is None:
                node = None  # an enclosing object is already taken whole
                break
            node = node.setdefault(part, {})
        if node is not None:
            node[leaf] = None
    return tree


def _unread(record: Mapping[str, Any], tree: _ReadTree) -> dict[str, Any]:
    """``record`` without what ``tree`` reads; objects left empty are dropped, nothing is mutated."""
    rest: dict[str, Any] = {}
    for key, value in record.items():
        if key not in tree:
            rest[key] = value
            continue
        below = tree[key]
        if below is None:
            continue
        if isinstance(value, (dict, Mapping)):
            value = _unread(value, below)
            if not value:
                continue
        # A non-object where the columns expect one: they read NULL, and the value stays here.
        rest[key] = value
    return rest


def _place(extra: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    """Put ``value`` at the path ``parts`` of ``extra``, creating the objects on the way."""
    *parents, leaf = parts
    node = extra
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def lookup(record: Mapping[str, Any], path: str, parent: Mapping[str, Any] | None = None) -> Any:
    """Resolve a dotted path; ``^`` reads the parent record. Missing keys give ``None``."""
    if path.startswith("^"):
        if parent is None:
            raise RecordShapeError(f"path {path!r} needs a parent record")
        record, path = parent, path[1:]
    return _resolve(record, path.split("."))


def _resolve(record: Any, parts: Iterable[str]) -> Any:
    value = record
    for part in parts:
        # dict first: records are JSON-decoded dicts, and the Mapping ABC check is slow per value.
        if not isinstance(value, (dict, Mapping)):
            return None
        value = value.get(part)
    return value


def _storable(value: str) -> bool:
    """No NUL character and no lone surrogate: every database stores ``value`` as it is."""
    return "\x00" not in value and (value.isascii() or not _LONE_SURROGATE.search(value))


def _repair_text(value: str) -> str | None:
    """``value`` without NUL characters and with lone surrogates replaced, or None if it was clean."""
    if _storable(value):
        return None
    return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))


class RowBuilder:
    """Builds the rows of one read: repairs text and warns once per column, however many rows need it.

    :param method: the API method the records came from, named in errors.
    """

    def __init__(self, method: str = "") -> None:
        self.method = method
        self._warned: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._plans: dict[int, tuple[Table, _TablePlan]] = {}

    def _plan(self, table: Table) -> _TablePlan:
        # Keyed by identity: hashing a table hashes every column, on every row.
        held = self._plans.get(id(table))
        if held is None or held[0] is not table:
            held = (table, _TablePlan.of(table))
            with self._lock:
                self._plans[id(table)] = held
        return held[1]

    def row(
        self,
        table: Table,
        record: Mapping[str, Any],
        parent: Mapping[str, Any] | None = None,
        *,
        log_id: str = "",
        clean: bool = False,
    ) -> dict[str, Any]:
        """The row of ``table`` for ``record``. ``clean``: no string in it holds a NUL or a lone
        surrogate (known from the raw reply), so values are not checked one by one."""
        if not isinstance(record, Mapping):
            raise self._error(table, f"record is {type(record).__name__}, not an object", log_id)
        plan = self._plan(table)
        extra = _unread(record, plan.read_tree)
        row: dict[str, Any] = {}
        is_dict = type(record) is dict
        for name, kind, key, step in plan.cells:
            if key is not None and is_dict:
                value = record.get(key)
            else:
                source = record
                if step.from_parent:
                    if parent is None:
                        raise RecordShapeError(f"path {step.column.source!r} needs a parent record")
                    source = parent
                if step.key is not None and type(source) is dict:
                    value = source.get(step.key)
                else:
                    value = _resolve(source, step.parts)
                if step.twin is not None:
                    exact = self._twin(record, step.twin, step.column, table)
                    if exact is not None:
                        row[name] = exact
                        continue
            if value is None:
                row[name] = None
                continue
            # The common cases of _coerce, without its calls: most of a row's cost on a large page.
            cls = type(value)
            if (
                (cls is str and kind == "str" and (clean or _storable(value)))
                or (cls is int and kind == "int" and INT64_MIN <= value <= INT64_MAX)
                or (kind == "json" and clean)
            ):
                row[name] = value
                continue
            try:
                row[name] = self._coerce(value, step.column, table)
            except _Misfit as misfit:
                if step.strict:
                    raise self._error(table, f"column {name!r} {misfit.detail}", log_id) from None
                row[name] = None
                if not step.from_parent:  # a parent's value is the parent row's to keep
                    _place(extra, step.parts, value)
                self._warn_once(
                    table,
                    step.column.source,
                    "%s: table %r field %r %s; landing it in _extra with the column NULL "
                    "(warned once per column per read)",
                    misfit.detail,
                )
        missing = [k for k in table.primary_key if row[k] in (None, "")]
        if missing:
            raise self._error(table, f"record without primary key {missing}", log_id)
        if not extra:
            row[EXTRA_COLUMN.name] = None
        else:
            row[EXTRA_COLUMN.name] = extra if clean else self._repair_nested(extra, EXTRA_COLUMN, table)
        return row

    def nested(
        self,
        table: Table,
        record: Mapping[str, Any],
        records_path: str,
        *,
        log_id: str = "",
        clean: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Rows for a child table read from a list nested inside ``record``."""
        children = lookup(record, records_path) or []
        if not isinstance(children, list):
            raise self._error(table, f"{records_path!r} is not a list", log_id)
        for child in children:
            yield self.row(table, child, parent=record, log_id=log_id, clean=clean)

    def _twin(self, record: Mapping[str, Any], parts: tuple[str, ...], column: Column, table: Table) -> Any:
        """The column's value read from its text twin; ``None`` when the twin is absent, empty or unfit
        (then the column reads its own field)."""
        twin = _resolve(record, parts)
        if twin in (None, ""):
            return None
        try:
            return self._coerce(twin, column, table)
        except _Misfit:
            return None

    def _error(self, table: Table, detail: str, log_id: str) -> RecordShapeError:
        return RecordShapeError(f"table {table.name!r}: {detail}", method=self.method, log_id=log_id)

    def _coerce(self, value: Any, column: Column, table: Table) -> Any:
        """``value`` as the column's type; raises :class:`_Misfit` when the type cannot hold it."""
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
                raise _Misfit("(int) got an integer outside signed 64 bits")
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
        raise _Misfit(f"({kind}) cannot hold {type(value).__name__} value")

    def _repair(self, value: str, column: Column, table: Table) -> str:
        repaired = _repair_text(value)
        if repaired is None:
            return value
        self._warn_once(
            table,
            column.name,
            "%s: table %r column %r holds NUL characters or lone surrogates, which no database "
            "stores; landing them without NULs and with U+FFFD (warned once per column per read)",
        )
        return repaired

    def _warn_once(self, table: Table, field: str, message: str, *args: Any) -> None:
        """Log ``message`` (formatted with method, table, field, ``args``) once per message and field."""
        key = (message, table.name, field)
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            log.warning(message, self.method or "records", table.name, field, *args)

    def _repair_nested(self, value: Any, column: Column, table: Table) -> Any:
        """``value`` with every string (keys too) in a form every database stores: ``value`` itself
        when nothing needs repair (the common case, found without copying), else a repaired copy."""
        if not _needs_repair(value):
            return value
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


def _needs_repair(value: Any) -> bool:
    """Whether a JSON value holds a string (or key) no database stores, or anything but JSON types.

    One loop over the whole tree instead of a call per value: an order's ``_extra`` and ``json``
    columns hold hundreds of values, and every row of a read passes here.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        cls = type(item)
        if cls is str:
            if "\x00" in item or not (item.isascii() or not _LONE_SURROGATE.search(item)):
                return True
        elif cls is dict:
            for key in item:
                if type(key) is not str or not _storable(key):
                    return True
            stack.extend(item.values())
        elif cls is list:
            stack.extend(item)
        elif cls not in _SCALARS:
            return True
    return False


def to_row(
    table: Table, record: Mapping[str, Any], parent: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return RowBuilder().row(table, record, parent)


def nested_rows(table: Table, record: Mapping[str, Any], records_path: str) -> Iterator[dict[str, Any]]:
    """Rows for a child table read from a list nested inside ``record``."""
    return RowBuilder().nested(table, record, records_path)
