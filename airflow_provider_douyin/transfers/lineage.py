"""OpenLineage datasets of a transfer: the Douyin stream it read and the tables or folders it landed.

Input: ``douyin://<platform>/<shop or account>`` (namespace) and the stream (name), so one shop's
``orders`` is one dataset however many targets land it. Outputs follow OpenLineage's naming for the
target: ``postgres://host:port`` with ``database.schema.table``, ``s3://bucket`` with the key,
``file`` with the path. Each output carries the landed columns (schema facet) and the rows this run
wrote (output statistics facet).

The ``openlineage`` imports are local: the ``[openlineage]`` extra is optional, and Airflow only
calls these functions when its OpenLineage provider is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_douyin.streams.catalog import Stream

TableDataset = Callable[[str], tuple[str, str]]
"""A declared table's name (``orders``) to the OpenLineage (namespace, name) it lands in."""


def input_namespace(platform: str, account: str) -> str:
    return f"douyin://{platform}/{account}"


def transfer_lineage(stream: Stream, account: str, rows: Mapping[str, int], target: TableDataset) -> Any:
    """The ``OperatorLineage`` of one finished transfer run."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset, OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset, schema_dataset

    outputs = []
    for binding in stream.tables:
        table = binding.table
        namespace, name = target(table.name)
        field = schema_dataset.SchemaDatasetFacetFields
        columns = [field(name=c.name, type=c.type) for c in table.landed_columns]
        schema = schema_dataset.SchemaDatasetFacet(fields=columns)
        statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=int(rows.get(table.name, 0))
        )
        outputs.append(
            OutputDataset(
                namespace=namespace,
                name=name,
                facets={"schema": schema},
                outputFacets={"outputStatistics": statistics},
            )
        )
    source = Dataset(namespace=input_namespace(stream.platform, account), name=stream.name)
    return OperatorLineage(inputs=[source], outputs=outputs)


def sql_table_dataset(db_hook: Any, table_prefix: str) -> TableDataset:
    """OpenLineage naming of tables in ``db_hook``'s database, as its provider defines it when it does.

    Postgres and MySQL hooks report their scheme and host (names are ``database.schema.table`` and
    ``database.table``); others (SQLite) fall back to ``<conn_type>://<host>`` and the bare table name.
    """
    conn = db_hook.get_connection(db_hook.get_conn_id())
    info = db_hook.get_openlineage_database_info(conn)
    if info is None:
        namespace = f"{conn.conn_type}://{conn.host or ''}"
        return lambda table: (namespace, f"{table_prefix}{table}")
    from airflow.providers.openlineage.sqlparser import SQLParser

    namespace = SQLParser.create_namespace(info)
    schema = db_hook.get_openlineage_default_schema()
    # MySQL reports no database: tables live in the connection's default database (its schema field).
    qualifier = "".join(f"{part}." for part in (info.database or conn.schema, schema) if part)
    return lambda table: (namespace, f"{qualifier}{table_prefix}{table}")


def storage_dataset(base: Any, table_prefix: str) -> TableDataset:
    """OpenLineage naming of the folders under ``base`` (an ``ObjectStoragePath``): the bucket is the
    namespace (``s3://bucket``), the key the name; a local path is ``file`` and its absolute path."""
    protocol = {"gcs": "gs", "s3a": "s3"}.get(base.protocol, base.protocol)
    if base.bucket:
        return lambda table: (f"{protocol}://{base.bucket}", str((base / f"{table_prefix}{table}").key))
    return lambda table: (protocol, str((base / f"{table_prefix}{table}").path))
