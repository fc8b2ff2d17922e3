"""Land one window of rows as files on any ``ObjectStoragePath`` (``file://``, ``s3://conn@bucket``, …).

Layout (deterministic, so a rerun of a window overwrites it)::

    <base>/<prefix><table>/window_start=20261121T000000Z/window_end=20261122T000000Z/
        part-00000.jsonl.gz
        part-00001.jsonl.gz
        _manifest.json

``_manifest.json`` is written last: a reader should only trust a window folder once its manifest
exists and read exactly the files it lists. A rerun first deletes the old manifest, then the old
parts, then writes the new parts and finally the new manifest.

Formats:

``jsonl.gz`` (default)
    One JSON object per line, keys in declared column order then ``_extra`` (the record's fields
    no column holds, or null), UTF-8, gzip (``mtime=0`` so the bytes
    are reproducible). ``int`` columns are JSON integers (exact at any size), ``json`` columns are
    nested JSON values with sorted keys.
``parquet``
    Needs ``pyarrow``. Explicit schema from the declared types: ``int`` → int64, ``str`` → string,
    ``bool`` → bool, ``json`` → string holding compact JSON (same text as the SQL landing).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowOptionalProviderFeatureException
from airflow.sdk import ObjectStoragePath
from airflow.utils.log.logging_mixin import LoggingMixin

from airflow_provider_douyin.landing.sql import DEFAULT_TABLE_PREFIX, dump_json

if TYPE_CHECKING:
    from airflow_provider_douyin.streams.schema import Table

MANIFEST_NAME = "_manifest.json"
PART_PREFIX = "part-"
FORMATS = ("jsonl.gz", "parquet")
"""The landing formats; each is also its part files' extension."""


def _utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def basic_utc(value: datetime) -> str:
    """``20261121T000000Z`` (microseconds appended only when present)."""
    value = _utc(value)
    text = value.strftime("%Y%m%dT%H%M%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def extended_utc(value: datetime) -> str:
    """``2026-11-21T00:00:00Z``."""
    return _utc(value).isoformat().replace("+00:00", "Z")


def _require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise AirflowOptionalProviderFeatureException(
            "format='parquet' needs the 'pyarrow' package: pip install 'airflow-provider-douyin[parquet]'"
        ) from exc
    return pyarrow


class StorageLanding(LoggingMixin):
    """Write windows of one declared table as files under ``base``.

    :param base: root folder, an ``ObjectStoragePath`` or a URL string for one.
    :param table: the declared table.
    :param format: ``"jsonl.gz"`` or ``"parquet"``.
    :param rows_per_file: a new part file is started after this many rows; it is also the most
        rows held in memory at once (parquet buffers one file; JSON Lines streams).
    :param table_prefix: prepended to ``table.name`` to form the folder name.
    """

    def __init__(
        self,
        base: ObjectStoragePath | str,
        table: Table,
        *,
        format: str = "jsonl.gz",
        rows_per_file: int = 50_000,
        table_prefix: str = DEFAULT_TABLE_PREFIX,
    ) -> None:
        super().__init__()
        if format not in FORMATS:
            raise ValueError(f"unknown landing format {format!r}; expected one of {sorted(FORMATS)}")
        if rows_per_file < 1:
            raise ValueError(f"rows_per_file must be >= 1, got {rows_per_file}")
        self._pa = _require_pyarrow() if format == "parquet" else None
        self.base = base if isinstance(base, ObjectStoragePath) else ObjectStoragePath(base)
        self.table = table
        self.table_name = f"{table_prefix}{table.name}"
        self.format = format
        self.rows_per_file = rows_per_file
        self._columns = table.landed_column_names
        self._known = frozenset(self._columns)

    # -- paths -------------------------------------------------------------------------------
    def window_path(self, window_start: datetime, window_end: datetime) -> ObjectStoragePath:
        return (
            self.base
            / self.table_name
            / f"window_start={basic_utc(window_start)}"
            / f"window_end={basic_utc(window_end)}"
        )

    def part_name(self, number: int) -> str:
        return f"{PART_PREFIX}{number:05d}.{self.format}"

    # -- rows --------------------------------------------------------------------------------
    def _values(self, row: Mapping[str, Any], n: int) -> list[Any]:
        if not isinstance(row, Mapping):
            raise ValueError(f"table {self.table_name!r}: row #{n} is a {type(row).__name__}, not a mapping")
        unknown = row.keys() - self._known
        if unknown:
            raise ValueError(
                f"table {self.table_name!r}: row #{n} has unknown column(s) {sorted(unknown)!r} "
                f"(declared: {list(self._columns)!r})"
            )
        return [row.get(c) for c in self._columns]

    def _chunks(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Iterator[list[Any]]]:
        """Split the row stream into per-file sub-streams without buffering them."""
        it = iter(rows)
        n = 0
        size = self.rows_per_file
        while True:
            try:
                first = next(it)
            except StopIteration:
                return

            def part(first: Mapping[str, Any] = first, start: int = n) -> Iterator[list[Any]]:
                yield self._values(first, start)
                for k in range(1, size):
                    try:
                        row = next(it)
                    except StopIteration:
                        return
                    yield self._values(row, start + k)

            sub = part()
            yield sub
            for _ in sub:  # drain whatever the writer did not consume
                pass
            n += size

    def _jsonl_line(self, values: list[Any], n: int) -> bytes:
        fields = []
        for name, value in zip(self._columns, values, strict=True):
            try:
                fields.append(f"{json.dumps(name, ensure_ascii=False)}:{dump_json(value)}")
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"table {self.table_name!r}: row #{n} column {name!r} is not JSON-serialisable: {exc}"
                ) from exc
        return ("{" + ",".join(fields) + "}\n").encode("utf-8")

    def _write_jsonl(self, path: ObjectStoragePath, values: Iterator[list[Any]], start: int) -> int:
        count = 0
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            buffer: list[bytes] = []
            for count, row in enumerate(values, start=1):
                buffer.append(self._jsonl_line(row, start + count - 1))
                if len(buffer) >= 1000:
                    gz.write(b"".join(buffer))
                    buffer.clear()
            if buffer:
                gz.write(b"".join(buffer))
        return count

    def _arrow_schema(self) -> Any:
        pa = self._pa
        types = {"int": pa.int64(), "str": pa.string(), "bool": pa.bool_(), "json": pa.string()}
        return pa.schema([pa.field(c.name, types[c.type]) for c in self.table.landed_columns])

    def _write_parquet(self, path: ObjectStoragePath, values: Iterator[list[Any]], start: int) -> int:
        import pyarrow.parquet as pq

        pa = self._pa
        schema = self._arrow_schema()
        json_idx = {i for i, c in enumerate(self.table.landed_columns) if c.type == "json"}
        buffers: list[list[Any]] = [[] for _ in self._columns]
        count = 0
        for count, row in enumerate(values, start=1):
            for i, value in enumerate(row):
                if i in json_idx and value is not None:
                    try:
                        value = dump_json(value)
                    except (TypeError, ValueError) as exc:
                        raise ValueError(
                            f"table {self.table_name!r}: row #{start + count - 1} column "
                            f"{self._columns[i]!r} is not JSON-serialisable: {exc}"
                        ) from exc
                buffers[i].append(value)
        arrays = []
        for field, buf in zip(schema, buffers, strict=True):
            try:
                arrays.append(pa.array(buf, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise ValueError(
                    f"table {self.table_name!r}: column {field.name!r} does not fit parquet type "
                    f"{field.type} (rows #{start}..#{start + count - 1}): {exc}"
                ) from exc
        with path.open("wb") as fh:
            pq.write_table(pa.Table.from_arrays(arrays, schema=schema), fh)
        return count

    # -- window ------------------------------------------------------------------------------
    def _clear(self, folder: ObjectStoragePath) -> None:
        """Remove a previous run's manifest (first, so readers stop trusting it), then its parts."""
        (folder / MANIFEST_NAME).unlink(missing_ok=True)
        try:
            children = list(folder.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return
        for child in children:
            if child.name.startswith(PART_PREFIX):
                self.log.debug("Removing stale part %s", child)
                child.unlink(missing_ok=True)

    def write_window(
        self,
        window_start: datetime,
        window_end: datetime,
        rows: Iterable[Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Write ``rows`` as the window's part files, then its manifest; return the manifest."""
        folder = self.window_path(window_start, window_end)
        self._clear(folder)
        folder.mkdir(parents=True, exist_ok=True)

        writer = self._write_parquet if self.format == "parquet" else self._write_jsonl
        files: list[dict[str, Any]] = []
        total = 0
        for number, chunk in enumerate(self._chunks(rows)):
            name = self.part_name(number)
            count = writer(folder / name, chunk, total)
            files.append({"path": name, "rows": count})
            total += count
            self.log.debug("Wrote %s (%d rows)", folder / name, count)

        manifest: dict[str, Any] = {
            "table": self.table_name,
            "window_start": extended_utc(window_start),
            "window_end": extended_utc(window_end),
            "format": self.format,
            "rows": total,
            "files": files,
            "columns": [{"name": c.name, "type": c.type} for c in self.table.landed_columns],
            "primary_key": list(self.table.primary_key),
            "version_column": self.table.version_column,
        }
        (folder / MANIFEST_NAME).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        return manifest
