"""Executor work of the Spark ingest: the finished rows written as the dataset's parts.

A table's rows reach :func:`part_writer`'s function sorted by (partition, id) with every
partition's rows in one Spark task; it streams them through the embedded engine's
:class:`~chainsleuth.store.parts.PartWriter` (same row groups, compression, temp file + fsync
+ rename) into ``tables/<table>/h<lo>-<hi>.parquet``, cast back to the contract's schema
(:func:`to_contract`), and reports each part's row count and sha256.

>>> import pyarrow as pa
>>> rows = pa.table({"out_id": [4], "tx_id": [2], "vin": pa.array([0], pa.int32()),
...                  "height": pa.array([7], pa.int32())})
>>> to_contract("spends", rows).schema == TABLES["spends"]
True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainsleuth.chain.script import SCRIPT_TYPES
from chainsleuth.store.parts import PartWriter, part_name, sha256_file
from chainsleuth.store.schema import TABLES

__all__ = ["PART_COLUMN", "SORT_KEYS", "WRITTEN", "WRITTEN_DDL", "part_writer", "to_contract"]

PART_COLUMN = "part"
"""The column holding a row's partition index (its height // span)."""

SORT_KEYS: dict[str, tuple[str, ...]] = {
    "blocks": ("height",),
    "txs": ("tx_id",),
    "outputs": ("out_id",),
    "inputs": ("tx_id", "vin"),
    "addresses": ("addr_id",),
    "spends": ("out_id",),
}
"""The order of a part's rows (the embedded engine's: chain order, spends by ``out_id``)."""

WRITTEN = pa.schema(
    [("table", pa.string()), ("part", pa.int64()), ("rows", pa.int64()), ("sha256", pa.string())]
)
"""What a writer task reports for each part it wrote."""
WRITTEN_DDL = "table string, part long, rows long, sha256 string"
"""The same as the Spark schema of the writer's output."""

_NAMES = pa.array(SCRIPT_TYPES, pa.string())


def to_contract(table: str, rows: pa.Table | pa.RecordBatch) -> pa.Table:
    """``rows`` of ``table`` as Spark hands them over (binary hashes, int64 for uint32 and
    times, script types as their ``code``) in the stored schema :data:`TABLES` names."""
    schema = TABLES[table]
    columns = []
    for f in schema:
        if f.name == "script_type":
            columns.append(pc.take(_NAMES, rows.column("code").cast(pa.int32())))
        else:
            columns.append(rows.column(f.name).cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def part_writer(
    table: str, data: str, span: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function writing ``table``'s parts of the dataset at ``data``."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        folder = Path(data) / "tables" / table
        writer: PartWriter | None = None
        current = -1
        done: list[tuple[int, int, str]] = []

        def finish() -> None:
            if writer is not None:
                rows = writer.close()
                done.append((current, rows, sha256_file(writer.path)))

        try:
            for batch in batches:
                parts = batch.column(PART_COLUMN).to_numpy()
                cuts = [0, *(np.flatnonzero(np.diff(parts)) + 1).tolist(), batch.num_rows]
                for start, end in itertools.pairwise(cuts):
                    if end == start:
                        continue
                    part = int(parts[start])
                    if part != current:
                        finish()
                        writer = PartWriter(folder / part_name(part * span, span), TABLES[table])
                        current = part
                    assert writer is not None
                    writer.write(to_contract(table, batch.slice(start, end - start)))
            finish()
            writer = None
        finally:
            if writer is not None:
                writer.abort()
        yield pa.record_batch(
            [
                pa.array([table] * len(done), pa.string()),
                pa.array([d[0] for d in done], pa.int64()),
                pa.array([d[1] for d in done], pa.int64()),
                pa.array([d[2] for d in done], pa.string()),
            ],
            schema=WRITTEN,
        )

    return write
