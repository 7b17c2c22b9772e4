"""Rows of a dataset's Parquet parts read by position: only the row groups that hold them.

Ids are dense and in chain order, and every part holds its partition's rows in id order, so the
row of ``tx_id`` / ``out_id`` / ``addr_id`` is found without a scan: the manifest's
``partitions[].first_*_id`` name the part, ``id - first_id`` the row in it. Rows in small row
groups (≤ 64 Ki rows in all; ingest writes 16 Ki-row groups) are read by pyarrow
decoding just those groups (~1–4 ms). Where the groups are bigger (datasets written before)
and a DuckDB connection is given, a read of a few rows is ``read_parquet(part,
file_row_number = true)`` filtered on the row numbers: DuckDB decodes the wanted columns only
around the rows (~5–7 ms whatever the group, against 11–21 ms for pyarrow decoding a whole 256
Ki-row group of the demo). Either way the id column is read back and checked, so a part written
out of order is reported, never misread.

>>> import tempfile
>>> from chainsleuth.ingest import ingest_blocks
>>> from chainsleuth.store.manifest import Manifest
>>> path = Path(tempfile.mkdtemp()) / "ds"
>>> _ = ingest_blocks("tests/data/regtest-core-a/blocks", path, "regtest", to_height=120,
...                   partition_span=50)
>>> rows = PartRows(path, Manifest.load(path))
>>> rows.by_id("txs", np.array([120, 3]), ["tx_id", "height"]).to_pylist()
[{'tx_id': 120, 'height': 120}, {'tx_id': 3, 'height': 3}]
>>> rows.by_id("txs", np.array([121]), ["tx_id"]).num_rows  # beyond the tip: no row
0
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chainsleuth.errors import DatasetError
from chainsleuth.store.manifest import Manifest, Partition
from chainsleuth.store.parts import part_name
from chainsleuth.store.schema import TABLES

__all__ = ["ID_COLUMNS", "PartRows", "as_dicts", "numpy_of"]

I64 = NDArray[np.int64]
_OPEN_READERS = 32
_FOOTERS_KEPT = 256
_SQL_RUNS = 5
_PYARROW_ROWS = 64 * 1024
"""Read by pyarrow when the row groups holding the wanted rows have at most this many rows
in all (measured on the demo's parts rewritten: one 64 Ki-row group 3.3 ms by pyarrow, 4.7–7.5
ms by DuckDB; 32 Ki: 1.9 vs 5.2 ms)."""

ID_COLUMNS: dict[str, tuple[str, str, str]] = {
    "txs": ("tx_id", "first_tx_id", "n_txs"),
    "outputs": ("out_id", "first_out_id", "n_outputs"),
    "addresses": ("addr_id", "first_addr_id", "n_addresses"),
}
"""Tables whose rows are addressed by a dense id: (id column, partition's first id, count)."""


class PartRows:
    """Reads rows of the parts a manifest lists, by dense id or by position within a part.

    ``con`` (optional): the DuckDB connection for reads of a few rows in big row groups.
    Part footers are read once and the 256 most recently used kept (~1 KiB per row group: at
    most ~0.3 GiB for 256 parts of mainnet's biggest partitions, a few MiB on the demo); the
    32 most recently read parts stay open until :meth:`close`.
    """

    def __init__(
        self, data: Path, manifest: Manifest, con: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        self.data = data
        self.manifest = manifest
        self.con = con
        self.partitions: list[Partition] = list(manifest.partitions)
        self._first: dict[str, I64] = {
            table: np.array([getattr(p, first) for p in self.partitions], dtype=np.int64)
            for table, (_, first, _) in ID_COLUMNS.items()
        }
        self._count: dict[str, I64] = {
            table: np.array([getattr(p, count) for p in self.partitions], dtype=np.int64)
            for table, (_, _, count) in ID_COLUMNS.items()
        }
        self._meta: OrderedDict[tuple[str, int], tuple[pq.FileMetaData, I64]] = OrderedDict()
        self._readers: dict[tuple[str, int], pq.ParquetFile] = {}

    # -- where rows live ---------------------------------------------------------------------
    def path(self, table: str, part: int) -> Path:
        """The Parquet part of ``table`` for partition number ``part`` (manifest order)."""
        p = self.partitions[part]
        return self.data / "tables" / table / part_name(p.lo, self.manifest.partition_span)

    def part_of(self, table: str, ids: I64) -> I64:
        """Partition number holding each id of ``table`` (-1 where no partition holds it).

        >>> from chainsleuth.store.manifest import Manifest, Partition
        >>> m = Manifest.new("regtest", 10)
        >>> m.partitions = [Partition(0, 9, 9, 0, 12, 0, 12, 2, 0, 5),
        ...                 Partition(10, 19, 19, 12, 10, 12, 10, 9, 5, 0),
        ...                 Partition(20, 29, 29, 22, 10, 22, 10, 9, 5, 3)]
        >>> PartRows(Path("."), m).part_of("addresses", np.array([0, 4, 5, 7, 8, -1])).tolist()
        [0, 0, 2, 2, -1, -1]
        """
        first, count = self._first[table], self._count[table]
        ids = np.asarray(ids, dtype=np.int64)
        if first.size == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        part = np.searchsorted(first, ids, side="right") - 1
        safe = np.maximum(part, 0)
        ok = (part >= 0) & (ids < first[safe] + count[safe])
        return np.where(ok, part, -1).astype(np.int64)

    def first_id(self, table: str, part: int) -> int:
        """The first dense id of ``table`` in partition ``part``."""
        return int(self._first[table][part])

    # -- reading -----------------------------------------------------------------------------
    def _metadata(self, table: str, part: int) -> tuple[pq.FileMetaData, I64]:
        key = (table, part)
        hit = self._meta.get(key)
        if hit is None:
            md = pq.read_metadata(self.path(table, part))
            sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
            hit = (md, np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]))
            self._meta[key] = hit
            while len(self._meta) > _FOOTERS_KEPT:
                self._meta.popitem(last=False)
        else:
            self._meta.move_to_end(key)
        return hit

    def _reader(self, table: str, part: int) -> pq.ParquetFile:
        """An open reader of the part; the last ``_OPEN_READERS`` stay open."""
        key = (table, part)
        pf = self._readers.pop(key, None)
        if pf is None:
            pf = pq.ParquetFile(self.path(table, part), metadata=self._metadata(table, part)[0])
            if len(self._readers) >= _OPEN_READERS:
                self._readers.pop(next(iter(self._readers))).close()
        self._readers[key] = pf  # most recently used last
        return pf

    def close(self) -> None:
        """Close the open part readers."""
        for pf in self._readers.values():
            pf.close()
        self._readers.clear()

    def take(self, table: str, part: int, rows: I64, columns: list[str]) -> pa.Table:
        """Rows at positions ``rows`` (any order, may repeat) of one part, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return _empty(table, columns)
        _, starts = self._metadata(table, part)
        if rows.min() < 0 or rows.max() >= starts[-1]:
            raise DatasetError(f"row {int(rows.max())} beyond {self.path(table, part)}")
        group = np.searchsorted(starts, rows, side="right") - 1
        touched = np.unique(group)
        small = int((starts[touched + 1] - starts[touched]).sum()) <= _PYARROW_ROWS
        uniq = np.unique(rows)
        breaks = np.flatnonzero(np.diff(uniq) != 1) + 1
        if self.con is not None and not small and breaks.size < _SQL_RUNS:
            firsts = uniq[np.concatenate([[0], breaks])].tolist()
            lasts = uniq[np.concatenate([breaks - 1, [uniq.size - 1]])].tolist()
            where = " OR ".join(
                f"file_row_number BETWEEN {a} AND {b}" for a, b in zip(firsts, lasts, strict=True)
            )
            got = self._sql(table, part, [*columns, "file_row_number"], where, True)
            found = numpy_of(got.column("file_row_number"))
            order = np.argsort(found)
            return got.take(_indices(order[np.searchsorted(found[order], rows)])).select(columns)
        pf = self._reader(table, part)
        groups = touched.tolist()
        if len(groups) == 1:
            g = groups[0]
            return pf.read_row_group(g, columns=columns).take(_indices(rows - starts[g]))
        order = np.argsort(group, kind="stable")
        pieces = [
            pf.read_row_group(g, columns=columns).take(
                _indices(rows[order][group[order] == g] - starts[g])
            )
            for g in groups
        ]
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return pa.concat_tables(pieces).take(_indices(back))

    def _sql(
        self, table: str, part: int, columns: list[str], where: str, row_numbers: bool = False
    ) -> pa.Table:
        """``SELECT columns FROM <part> WHERE where`` by DuckDB, which skips row groups by their
        statistics and decodes the other columns only where the filter matched."""
        assert self.con is not None
        path = str(self.path(table, part)).replace("'", "''")
        cols = ", ".join(f'"{c}"' for c in columns)
        opts = ", file_row_number = true" if row_numbers else ""
        query = f"SELECT {cols} FROM read_parquet('{path}'{opts}) WHERE {where}"
        result: pa.Table = self.con.cursor().sql(query).to_arrow_table()
        stored = TABLES[table]
        return result.cast(  # DuckDB's types (string, blob) back to the stored ones
            pa.schema(
                [stored.field(c) if c in stored.names else pa.field(c, pa.int64()) for c in columns]
            )
        )

    def by_id(self, table: str, ids: I64, columns: list[str]) -> pa.Table:
        """Rows of ``txs``/``outputs``/``addresses`` with the given ids, in the order given;
        ids no partition holds are left out. The id column is read and checked."""
        id_col = ID_COLUMNS[table][0]
        ids = np.asarray(ids, dtype=np.int64)
        part = self.part_of(table, ids)
        keep = part >= 0
        ids, part = ids[keep], part[keep]
        cols = columns if id_col in columns else [id_col, *columns]
        pieces: list[pa.Table] = []
        order: list[I64] = []
        for p in np.unique(part).tolist():
            sel = np.flatnonzero(part == p)
            rows = ids[sel] - self._first[table][p]
            t = self.take(table, p, rows, cols)
            got = numpy_of(t.column(id_col))
            if not np.array_equal(got, ids[sel]):
                raise DatasetError(f"{self.path(table, p)} does not hold its ids in order")
            pieces.append(t)
            order.append(sel)
        if not pieces:
            return _empty(table, columns)
        merged = pa.concat_tables(pieces)
        pos = np.concatenate(order)
        back = np.empty_like(pos)
        back[pos] = np.arange(pos.size)
        return merged.take(_indices(back)).select(columns)

    def block(self, height: int, columns: list[str]) -> dict[str, Any] | None:
        """The ``blocks`` row of ``height`` as a dict, timestamps as microseconds since the
        epoch (None beyond the dataset's blocks)."""
        for part, p in enumerate(self.partitions):
            if p.lo <= height <= p.last_height:
                cols = list(dict.fromkeys(["height", *columns]))
                row = as_dicts(self.take("blocks", part, np.array([height - p.lo]), cols))[0]
                if row["height"] != height:
                    raise DatasetError(
                        f"{self.path('blocks', part)} does not hold its heights in order"
                    )
                return row
        return None

    def where_between(
        self, table: str, part: int, column: str, lo: int, hi: int, columns: list[str]
    ) -> pa.Table:
        """Rows of one part whose integer ``column`` lies in ``[lo, hi]``, reading only the row
        groups whose footer min/max statistics overlap that range (by pyarrow when they are
        small, else by DuckDB when there is a connection)."""
        md, starts = self._metadata(table, part)
        idx = md.schema.to_arrow_schema().get_field_index(column)
        groups = []
        for g in range(md.num_row_groups):
            st = md.row_group(g).column(idx).statistics
            if st is None or not st.has_min_max or (st.min <= hi and st.max >= lo):
                groups.append(g)
        if not groups:
            return _empty(table, columns)
        rows = int(sum(starts[g + 1] - starts[g] for g in groups))
        if self.con is not None and rows > _PYARROW_ROWS:
            return self._sql(table, part, columns, f'"{column}" BETWEEN {int(lo)} AND {int(hi)}')
        cols = columns if column in columns else [*columns, column]
        t = self._reader(table, part).read_row_groups(groups, columns=cols)
        values = numpy_of(t.column(column))
        return t.take(_indices(np.flatnonzero((values >= lo) & (values <= hi)))).select(columns)


def as_dicts(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, timestamps as microseconds since the epoch (pyarrow's conversion of
    time-zoned timestamps to ``datetime`` imports pandas: half a second of ``show``'s start)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.int64()))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _empty(table: str, columns: list[str]) -> pa.Table:
    """A zero-row table with the stored types of ``columns``."""
    schema = TABLES[table]
    return pa.Table.from_arrays(
        [pa.nulls(0, schema.field(c).type) for c in columns],
        schema=pa.schema([schema.field(c) for c in columns]),
    )


def _indices(values: I64) -> pa.Array:
    """An int64 numpy array as an Arrow array, zero-copy."""
    arr = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), arr.size, [None, pa.py_buffer(arr)])


_NUMPY_TYPES = {pa.int64(): np.int64, pa.int32(): np.int32, pa.uint32(): np.uint32}


def numpy_of(col: pa.Array | pa.ChunkedArray, null: int = 0) -> NDArray[Any]:
    """An integer column as numpy, nulls replaced by ``null``, read from the Arrow buffers.

    pyarrow's own ``to_numpy``, ``pa.array`` and ``pa.scalar`` import pandas (to check for
    pandas types): half a second of ``show``'s start-up, so the lookup path never calls them.

    >>> numpy_of(pa.chunked_array([_indices(np.array([3, 1])), pa.nulls(1, pa.int64())]), -1)
    array([ 3,  1, -1])
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    dtype = _NUMPY_TYPES[arr.type]
    if n == 0:
        return np.zeros(0, dtype=dtype)
    validity, data = arr.buffers()[:2]
    values = np.frombuffer(data, dtype=dtype)[arr.offset : arr.offset + n] if data else None
    if arr.null_count == 0:
        assert values is not None
        return values
    valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    valid = valid[arr.offset : arr.offset + n].astype(bool)
    if values is None:
        return np.full(n, null, dtype=dtype)
    return np.where(valid, values, np.asarray(null, dtype=dtype))
