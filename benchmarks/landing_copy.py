"""Compare ``SqlLanding.upsert`` with a raw PostgreSQL ``COPY`` of the same synthetic order rows.

Run::

    cd /work/main && PYTHONPATH=. .venv/bin/python benchmarks/landing_copy.py --rows 200000

Both targets live in a throwaway schema that is dropped at the end. The server comes from the
``DOUYIN_TEST_PG_*`` variables used by ``tests/dbs.py`` (default ``postgres@127.0.0.1:5432/test``).
``SqlLanding`` goes through ``BaseHook.get_hook`` exactly like a task (a ``PostgresHook`` on an
``AIRFLOW_CONN_*`` JSON connection); ``COPY`` uses psycopg2's ``copy_expert`` directly, with the
CSV formatting counted in its time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2

from airflow_provider_douyin.landing.sql import SqlLanding, dump_json
from airflow_provider_douyin.streams.schema import Column, Table

ORDERS = Table(
    name="bench_orders",
    columns=(
        Column("shop_id", "int"),
        Column("order_id", "str"),
        Column("update_time", "int"),
        Column("create_time", "int"),
        Column("order_status", "int"),
        Column("pay_amount", "int"),
        Column("post_amount", "int"),
        Column("buyer_words", "str"),
        Column("is_paid", "bool"),
        Column("sku_list", "json"),
    ),
    primary_key=("shop_id", "order_id"),
    version_column="update_time",
)


def synthetic_orders(n: int, version_offset: int = 0) -> Iterator[dict[str, Any]]:
    base_id = 6_918_234_567_890_000_000
    for i in range(n):
        yield {
            "shop_id": 1_234_567,
            "order_id": str(base_id + i),
            "update_time": 1_790_000_000 + i + version_offset,
            "create_time": 1_789_990_000 + i,
            "order_status": 2 + i % 4,
            "pay_amount": 9_900 + i % 5_000,
            "post_amount": 0 if i % 3 else 800,
            "buyer_words": "请尽快发货，谢谢" if i % 7 == 0 else None,
            "is_paid": i % 10 != 0,
            "sku_list": [{"sku_id": 3_500_000_000_000_000_000 + i, "num": 1 + i % 3, "name": "抖音好物"}],
        }


def server() -> dict[str, Any]:
    return {
        "host": os.environ.get("DOUYIN_TEST_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("DOUYIN_TEST_PG_PORT", "5432")),
        "login": os.environ.get("DOUYIN_TEST_PG_USER", "postgres"),
        "password": os.environ.get("DOUYIN_TEST_PG_PASSWORD", ""),
        "schema": os.environ.get("DOUYIN_TEST_PG_DB", "test"),
    }


def pg2_connect(srv: dict[str, Any], schema: str | None = None):
    return psycopg2.connect(
        host=srv["host"],
        port=srv["port"],
        user=srv["login"],
        password=srv["password"],
        dbname=srv["schema"],
        options=f"-c search_path={schema}" if schema else None,
    )


def copy_rows(conn, table: str, rows: Iterator[dict[str, Any]], chunk: int = 50_000) -> None:
    """Format rows as CSV and stream them through COPY in chunks (bounded memory)."""
    cols = ORDERS.column_names
    json_cols = {c.name for c in ORDERS.columns if c.type == "json"}
    sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"
    with conn.cursor() as cur:
        while True:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            count = 0
            for row in rows:
                writer.writerow(
                    [
                        ""
                        if row.get(c) is None
                        else dump_json(row[c])
                        if c in json_cols
                        else ("t" if row[c] else "f")
                        if isinstance(row[c], bool)
                        else row[c]
                        for c in cols
                    ]
                )
                count += 1
                if count == chunk:
                    break
            if not count:
                break
            buf.seek(0)
            cur.copy_expert(sql, buf)
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    args = parser.parse_args()

    from airflow.sdk import BaseHook

    srv = server()
    schema = f"douyin_bench_{uuid.uuid4().hex[:8]}"
    admin = pg2_connect(srv)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    try:
        os.environ["AIRFLOW_CONN_DOUYIN_BENCH_POSTGRES"] = json.dumps(
            {"conn_type": "postgres", **srv, "extra": {"options": f"-c search_path={schema}"}}
        )
        hook = BaseHook.get_hook("douyin_bench_postgres")
        landing = SqlLanding(hook, ORDERS, batch_size=args.batch_size)
        landing.ensure_table()
        probe = hook.get_conn()
        driver = type(probe).__module__.split(".")[0]
        probe.close()

        t0 = time.perf_counter()
        result = landing.upsert(synthetic_orders(args.rows))
        upsert_s = time.perf_counter() - t0
        assert result.rows_written == args.rows, result

        t0 = time.perf_counter()
        landing.upsert(synthetic_orders(args.rows, version_offset=1))
        update_s = time.perf_counter() - t0

        with admin.cursor() as cur:
            cur.execute(
                f'CREATE TABLE "{schema}".copy_scratch (LIKE "{schema}".douyin_bench_orders INCLUDING ALL)'
            )
        conn = pg2_connect(srv, schema)
        try:
            t0 = time.perf_counter()
            copy_rows(conn, "copy_scratch", synthetic_orders(args.rows))
            copy_s = time.perf_counter() - t0
        finally:
            conn.close()
        with admin.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{schema}".copy_scratch')
            assert cur.fetchone()[0] == args.rows
            cur.execute(
                f'SELECT count(*) FROM "{schema}".copy_scratch c JOIN "{schema}".douyin_bench_orders o '
                "USING (shop_id, order_id) WHERE c.sku_list = o.sku_list"
            )
            assert cur.fetchone()[0] == args.rows  # same rows, same JSON text
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()

    n = args.rows
    print(f"rows: {n:,}  batch_size: {args.batch_size:,}  SqlLanding driver: {driver}")
    print(f"SqlLanding.upsert (insert):      {upsert_s:7.2f} s  {n / upsert_s:>10,.0f} rows/s")
    print(f"SqlLanding.upsert (all updates): {update_s:7.2f} s  {n / update_s:>10,.0f} rows/s")
    print(f"COPY (psycopg2 copy_expert):     {copy_s:7.2f} s  {n / copy_s:>10,.0f} rows/s")
    print(f"ratio COPY / upsert (insert): {upsert_s / copy_s:.1f}x faster")


if __name__ == "__main__":
    main()
