"""Land a Doudian stream's window as files on object storage, written only when the window is complete."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_douyin.landing.sinks import StorageTableSink
from airflow_provider_douyin.streams.catalog import Stream
from airflow_provider_douyin.streams.sync import TableSinks
from airflow_provider_douyin.streams.windows import Window
from airflow_provider_douyin.transfers.base import BaseDouyinTransferOperator
from airflow_provider_douyin.transfers.lineage import TableDataset, storage_dataset


class DouyinToStorageOperator(BaseDouyinTransferOperator):
    """Write a stream's window to object storage (``file://``, ``s3://``, ``gs://`` ...).

    Each table and window gets a deterministic folder with parts and a ``_manifest.json``,
    so a rerun overwrites its window instead of duplicating it.

    :param path: base ``ObjectStoragePath`` URI, e.g. ``s3://aws_default@bucket/douyin``.
    :param format: ``jsonl.gz`` (default) or ``parquet`` (needs pyarrow).
    """

    template_fields: Sequence[str] = (*BaseDouyinTransferOperator.template_fields, "path", "table_prefix")

    def __init__(self, *, path: str, format: str = "jsonl.gz", table_prefix: str = "douyin_", **kwargs: Any):
        super().__init__(**kwargs)
        self.path = path
        self.format = format
        self.table_prefix = table_prefix

    @property
    def target_id(self) -> str:
        return f"{self.path}.{self.table_prefix}"

    def lineage_target(self) -> TableDataset:
        return storage_dataset(ObjectStoragePath(self.path), self.table_prefix)

    @contextmanager
    def open_sink(self, stream: Stream, window: Window | None) -> Iterator[TableSinks]:
        with ExitStack() as spools:
            yield TableSinks(
                {
                    b.table.name: spools.enter_context(
                        StorageTableSink(
                            self.path, b.table, window, format=self.format, table_prefix=self.table_prefix
                        )
                    )
                    for b in stream.tables
                }
            )
