from __future__ import annotations

import gzip
import io
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_douyin.landing.storage import StorageLanding, basic_utc
from airflow_provider_douyin.streams.schema import Column, Table

ORDERS = Table(
    name="orders",
    columns=(
        Column("order_id", "int"),
        Column("update_time", "int"),
        Column("buyer", "str"),
        Column("paid", "bool"),
        Column("detail", "json"),
    ),
    primary_key=("order_id",),
    version_column="update_time",
)
START = datetime(2026, 11, 21, tzinfo=timezone.utc)
END = START + timedelta(days=1)
WINDOW = "douyin_orders/window_start=20261121T000000Z/window_end=20261122T000000Z"


def rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "order_id": 2**62 + offset + i,
            "update_time": 1_790_000_000 + i,
            "buyer": f"买家{i} 🛒",
            "paid": i % 2 == 0,
            "detail": {"sku": [i, 2**63 - 1], "名": None} if i % 3 else None,
            "_extra": {"新字段": {"n": i}} if i % 2 else None,
        }
        for i in range(n)
    ]


def read_jsonl(path: ObjectStoragePath) -> list[dict]:
    with path.open("rb") as fh, gzip.open(fh, "rt", encoding="utf-8") as gz:
        return [json.loads(line) for line in gz]


def read_window(folder: ObjectStoragePath) -> tuple[dict, list[dict]]:
    manifest = json.loads((folder / "_manifest.json").read_text())
    out: list[dict] = []
    for f in manifest["files"]:
        part = read_jsonl(folder / f["path"])
        assert len(part) == f["rows"]
        out.extend(part)
    return manifest, out


def listing(folder: ObjectStoragePath) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def memory_base() -> ObjectStoragePath:
    return ObjectStoragePath(f"memory://landing-{uuid.uuid4().hex}/raw")


@pytest.fixture(params=["memory", "file"])
def base(request, tmp_path) -> ObjectStoragePath:
    if request.param == "memory":
        return ObjectStoragePath(f"memory://landing-{uuid.uuid4().hex}/raw")
    return ObjectStoragePath(f"file://{tmp_path}/raw")


class TestJsonLines:
    def test_round_trip(self, base):
        data = rows(7)
        landing = StorageLanding(base, ORDERS, rows_per_file=3)
        manifest = landing.write_window(START, END, iter(data))
        folder = base / WINDOW
        assert landing.window_path(START, END) == folder
        assert listing(folder) == [
            "_manifest.json",
            "part-00000.jsonl.gz",
            "part-00001.jsonl.gz",
            "part-00002.jsonl.gz",
        ]
        got_manifest, got = read_window(folder)
        assert got_manifest == manifest
        assert got == data  # ints (2**62 + i, 2**63 - 1) exact, nested json intact, Chinese kept
        assert [f["rows"] for f in manifest["files"]] == [3, 3, 1]

    def test_lines_are_canonical(self, memory_base):
        StorageLanding(memory_base, ORDERS).write_window(
            START, END, [{"order_id": 2**53 + 1, "update_time": 1, "detail": {"b": 1, "a": "值"}}]
        )
        with (memory_base / WINDOW / "part-00000.jsonl.gz").open("rb") as fh:
            text = gzip.decompress(fh.read()).decode()
        assert text == (
            '{"order_id":9007199254740993,"update_time":1,"buyer":null,"paid":null,'
            '"detail":{"a":"值","b":1},"_extra":null}\n'
        )

    def test_manifest_contents(self, memory_base):
        manifest = StorageLanding(memory_base, ORDERS, rows_per_file=2).write_window(START, END, rows(3))
        assert manifest == {
            "table": "douyin_orders",
            "window_start": "2026-11-21T00:00:00Z",
            "window_end": "2026-11-22T00:00:00Z",
            "format": "jsonl.gz",
            "rows": 3,
            "files": [{"path": "part-00000.jsonl.gz", "rows": 2}, {"path": "part-00001.jsonl.gz", "rows": 1}],
            "columns": [
                {"name": "order_id", "type": "int"},
                {"name": "update_time", "type": "int"},
                {"name": "buyer", "type": "str"},
                {"name": "paid", "type": "bool"},
                {"name": "detail", "type": "json"},
                {"name": "_extra", "type": "json"},
            ],
            "primary_key": ["order_id"],
            "version_column": "update_time",
        }
        assert json.loads((memory_base / WINDOW / "_manifest.json").read_text()) == manifest

    def test_deterministic_paths_and_bytes(self, base):
        tz = timezone(timedelta(hours=8))  # Beijing time: same instants as START/END
        a = StorageLanding(base, ORDERS).write_window(START.astimezone(tz), END.astimezone(tz), rows(4))
        first = (base / WINDOW / "part-00000.jsonl.gz").read_bytes()
        b = StorageLanding(str(base), ORDERS).write_window(START, END, rows(4))
        assert a == b
        assert (base / WINDOW / "part-00000.jsonl.gz").read_bytes() == first
        assert basic_utc(datetime(2026, 1, 2, 3, 4, 5)) == "20260102T030405Z"  # naive = UTC
        assert basic_utc(datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=timezone.utc)) == "20260102T030405.000120Z"

    def test_table_prefix(self, memory_base):
        landing = StorageLanding(memory_base, ORDERS, table_prefix="dy_")
        assert landing.window_path(START, END) == (
            memory_base / "dy_orders/window_start=20261121T000000Z/window_end=20261122T000000Z"
        )
        assert landing.write_window(START, END, rows(1))["table"] == "dy_orders"

    def test_rerun_with_fewer_rows_leaves_no_stale_part(self, base):
        landing = StorageLanding(base, ORDERS, rows_per_file=2)
        landing.write_window(START, END, rows(7))
        folder = base / WINDOW
        assert len(listing(folder)) == 5
        (folder / "unrelated.txt").write_text("kept")
        manifest = landing.write_window(START, END, rows(3, offset=100))
        assert listing(folder) == [
            "_manifest.json",
            "part-00000.jsonl.gz",
            "part-00001.jsonl.gz",
            "unrelated.txt",
        ]
        assert read_window(folder)[1] == rows(3, offset=100)
        assert manifest["rows"] == 3
        # other windows are untouched
        landing.write_window(END, END + timedelta(days=1), rows(1))
        landing.write_window(START, END, [])
        assert listing(folder) == ["_manifest.json", "unrelated.txt"]
        assert read_window(folder)[0]["files"] == []
        assert read_window(landing.window_path(END, END + timedelta(days=1)))[1] == rows(1)

    def test_manifest_is_written_last(self, memory_base):
        landing = StorageLanding(memory_base, ORDERS, rows_per_file=2)
        landing.write_window(START, END, rows(2))
        manifest = memory_base / WINDOW / "_manifest.json"

        def stream():
            for i, row in enumerate(rows(5)):
                assert not manifest.exists(), f"manifest visible while row {i} is being written"
                yield row

        landing.write_window(START, END, stream())
        assert manifest.exists()

    def test_failure_midway_leaves_no_manifest(self, memory_base):
        landing = StorageLanding(memory_base, ORDERS, rows_per_file=2)
        landing.write_window(START, END, rows(2))
        bad = [*rows(3), {"order_id": 1, "nope": 1}]
        with pytest.raises(ValueError, match=r"douyin_orders.*#3.*'nope'"):
            landing.write_window(START, END, bad)
        assert not (memory_base / WINDOW / "_manifest.json").exists()

    def test_streams_at_most_rows_per_file(self, memory_base):
        pulled = 0

        def stream():
            nonlocal pulled
            for row in rows(10):
                pulled += 1
                yield row

        landing = StorageLanding(memory_base, ORDERS, rows_per_file=4)
        seen = []
        original = landing._write_jsonl

        def spy(path, values, start):
            seen.append(pulled)
            return original(path, values, start)

        landing._write_jsonl = spy
        landing.write_window(START, END, stream())
        assert seen == [1, 5, 9]  # each part starts after pulling only its first row

    def test_bad_arguments(self, memory_base):
        with pytest.raises(ValueError, match="format"):
            StorageLanding(memory_base, ORDERS, format="csv")
        with pytest.raises(ValueError, match="rows_per_file"):
            StorageLanding(memory_base, ORDERS, rows_per_file=0)


class TestParquet:
    def test_round_trip(self, base):
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = rows(5)
        landing = StorageLanding(base, ORDERS, format="parquet", rows_per_file=2)
        manifest = landing.write_window(START, END, data)
        folder = base / WINDOW
        assert [f["path"] for f in manifest["files"]] == [
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet",
        ]
        tables = [pq.read_table(io.BytesIO((folder / f["path"]).read_bytes())) for f in manifest["files"]]
        assert all(t.schema == tables[0].schema for t in tables)
        schema = tables[0].schema
        assert schema.field("order_id").type == pa.int64()
        assert schema.field("paid").type == pa.bool_()
        assert schema.field("detail").type == schema.field("_extra").type == pa.string()
        got = [row for t in tables for row in t.to_pylist()]

        def text(value):
            return (
                None
                if value is None
                else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            )

        want = [{**r, "detail": text(r["detail"]), "_extra": text(r["_extra"])} for r in data]
        assert got == want
        assert got[0]["order_id"] == 2**62  # exact int64

    def test_value_that_does_not_fit(self, memory_base):
        landing = StorageLanding(memory_base, ORDERS, format="parquet")
        with pytest.raises(ValueError, match="'order_id'"):
            landing.write_window(START, END, [{"order_id": 2**64, "update_time": 1}])

    def test_missing_pyarrow(self, memory_base, monkeypatch):
        from airflow.exceptions import AirflowOptionalProviderFeatureException

        monkeypatch.setitem(sys.modules, "pyarrow", None)
        monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
        with pytest.raises(AirflowOptionalProviderFeatureException, match="pyarrow"):
            StorageLanding(memory_base, ORDERS, format="parquet")
        StorageLanding(memory_base, ORDERS)  # JSON Lines needs nothing extra
