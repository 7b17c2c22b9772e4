"""Comparisons of a Spark-written dataset or clustering run with the embedded engine's, shared
by the Spark tests (``local[N]`` and the standalone cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chainsleuth.spark.parts import SORT_KEYS
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.schema import STORED_TABLES


def sorted_table(ds: Path, table: str) -> pa.Table:
    """Every row of ``table`` of dataset ``ds``, sorted by its ids."""
    rows = pq.read_table(ds / "tables" / table)
    return rows.sort_by([(k, "ascending") for k in SORT_KEYS[table]])


def assert_same_dataset(embedded: Path, spark: Path) -> None:
    """Same tables (names, types, sorted rows), partitions, counts and tip; same files."""
    for table in STORED_TABLES:
        want, got = sorted_table(embedded, table), sorted_table(spark, table)
        assert got.schema == want.schema, table
        assert got.num_rows == want.num_rows, table
        assert got.equals(want), table
    a, b = Manifest.load(embedded), Manifest.load(spark)
    assert (b.tip_height, b.tip_hash) == (a.tip_height, a.tip_hash)
    assert b.partitions == a.partitions
    assert b.counts == a.counts

    def data_files(m: Manifest) -> dict[str, str]:
        return {k: v for k, v in m.files.items() if not k.startswith("state/")}

    assert data_files(b) == data_files(a)  # every part and index file, byte for byte


def _run_table(path: Path) -> pa.Table:
    """A run's Parquet file (or folder of parts), dictionary columns decoded, rows sorted by
    every column that is not floating point."""
    table = pq.read_table(path)
    cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    table = pa.Table.from_arrays(cols, names=table.column_names)
    keys = [c for c in table.column_names if not pa.types.is_floating(table.schema.field(c).type)]
    return table.sort_by([(k, "ascending") for k in keys])


def assert_same_run(embedded: Path, spark: Path) -> None:
    """Two clustering runs (``derived/clusters/<name>``): the same files, the same rows in
    every Parquet file (sorted; NaN equals NaN), the same params.json but for name, creation
    time and engine details."""
    names = sorted(p.name for p in embedded.iterdir())
    assert sorted(p.name for p in spark.iterdir()) == names
    tables = [n for n in names if n.endswith(".parquet")]
    assert "address_cluster.parquet" in tables
    for name in tables:
        want, got = _run_table(embedded / name), _run_table(spark / name)
        assert got.schema.equals(want.schema), name
        assert got.num_rows == want.num_rows, name
        for col in want.column_names:
            a, b = want.column(col).combine_chunks(), got.column(col).combine_chunks()
            if pa.types.is_floating(a.type):
                same = np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True)
            else:
                same = a.equals(b)
            assert same, f"{name}.{col} differs"
    params = [json.loads((p / "params.json").read_text()) for p in (embedded, spark)]
    for p in params:
        for key in ("name", "created"):
            p.pop(key, None)
    assert params[1] == params[0]
