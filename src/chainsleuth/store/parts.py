"""Parquet part files: fixed height-range names, atomic writes (temp + rename), checksums.

>>> part_name(1000, 1000)
'h000001000-000001999.parquet'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["TMP_SUFFIX", "PartWriter", "part_name", "sha256_file", "write_table_atomic"]

TMP_SUFFIX = ".tmp"
_ROW_GROUP = 16 * 1024
"""Rows per row group. A point read (``show``, the API) decodes the whole group holding the
row. Measured on the demo through the API (median per request, 256 / 32 / 16 / 8 Ki-row
groups): address profile 61 / 30 / 24 / 22 ms, transaction 58 / 36 / 25 / 19 ms; parts the
same size (34 MB) and scans as fast. Below 16 Ki the footers grow (~1 KiB per group) for
little gain."""
_WRITE_OPTIONS: dict[str, object] = {
    "compression": "zstd",
    "write_statistics": True,
    "store_schema": True,
}
_DICTIONARY_COLUMNS = ("script_type", "height", "time", "version")
"""Columns with few distinct values per row group. Dictionary-encoding only these (not hashes,
scripts or ids, where the encoder tries and falls back) halves the time to write a part and
makes it smaller (measured on a 300k-transaction generated chain: 12.4 s → 6.3 s for the four
big tables, 105 → 97 MiB)."""


_RAW_COLUMNS = ("hash", "prev_hash", "merkle_root", "txid", "wtxid", "script_key")
"""Hashes distinct row to row: stored uncompressed. (``prev_txid`` keeps zstd: inputs spending
one transaction sit side by side, and zstd finds the repeats, 8 % of the inputs part.)"""


_SNAPPY_COLUMNS = ("script",)
"""Output scripts: a template around a hash, little for zstd to find: snappy writes them in half
the time for 4 % more bytes (2 M-transaction chain: 0.58 → 0.29 s, 118.2 → 123.3 MB)."""


_DELTA_COLUMNS = ("tx_id", "out_id", "addr_id", "first_out_id", "first_tx_id", "vin", "vout")
"""Ids in chain order (and positions within a transaction): delta-encoded, a few bits a row
before zstd sees them. With :data:`_STATS_COLUMNS` below, writing the four big tables of a
2 M-transaction chain took ~15 % less CPU and ~4 % less space (``bench/part_write.py``)."""

# Other numbers (amounts, sizes, counts, vouts; integer or floating) are written
# BYTE_STREAM_SPLIT: the bytes of each value spread over 4 or 8 streams, the high (mostly zero)
# bytes side by side, before zstd. On a 2 M-transaction chain against plain + zstd: outputs.value
# 0.197 -> 0.079 s and 17.2 -> 14.3 MB, inputs.value 0.242 -> 0.109 s, txs.size 2.6 -> 2.0 MB,
# inputs.prev_vout 4.2 -> 2.7 MB. DuckDB, pyarrow and Spark 4 read it.

_STATS_COLUMNS = ("tx_id", "out_id", "addr_id", "first_out_id", "first_tx_id", "height",
                  "first_height")  # fmt: skip
"""Integer columns whose row-group min/max are read (``verify``, the row-group pruning of
lookups and windows, the flow graph's sizing); the dictionary columns keep theirs too. Amounts,
sizes and counts have none: nothing prunes on them and computing them cost ~10 % of a write."""


def _options(schema: pa.Schema) -> dict[str, object]:
    """Writer options for ``schema``: dictionary-encode the few-valued columns; hashes
    (``_RAW_COLUMNS``) stored uncompressed, scripts by snappy; ids delta-encoded, other numbers
    byte-stream-split (smaller and ~2x faster to write than plain, before zstd); min/max
    statistics only on the columns something reads them from (:data:`_STATS_COLUMNS`, the
    dictionary columns).

    Random hashes do not compress and their min/max prune nothing; computing both cost more than
    the rest of the column (measured on 2 M 32-byte hashes: 1.03 s → 0.29 s, same size).
    Statistics of scripts and addresses prune nothing either (no order within a part), nor do
    those of amounts, sizes and counts.

    >>> o = _options(pa.schema([("txid", pa.binary(32)), ("tx_id", pa.int64()),
    ...                         ("value", pa.int64())]))
    >>> o["compression"], o["write_statistics"], o["column_encoding"]["value"]
    ({'txid': 'none', 'tx_id': 'zstd', 'value': 'zstd'}, ['tx_id'], 'BYTE_STREAM_SPLIT')
    """
    dictionary = [n for n in schema.names if n in _DICTIONARY_COLUMNS]
    compression = {
        f.name: "none"
        if f.name in _RAW_COLUMNS
        else "snappy"
        if f.name in _SNAPPY_COLUMNS
        else "zstd"
        for f in schema
    }
    statistics = [n for n in schema.names if n in _STATS_COLUMNS or n in dictionary]
    delta = {
        f.name: "DELTA_BINARY_PACKED" if f.name in _DELTA_COLUMNS else "BYTE_STREAM_SPLIT"
        for f in schema
        if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
        and f.name not in dictionary
    }
    return {
        **_WRITE_OPTIONS,
        "use_dictionary": dictionary,
        "compression": compression,
        "write_statistics": statistics,
        "column_encoding": delta,
    }


def _is_bytes(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    )


def part_name(lo: int, span: int) -> str:
    """File name of the partition that starts at height ``lo`` and covers ``span`` heights."""
    return f"h{lo:09d}-{lo + span - 1:09d}.parquet"


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file renamed into place.

    The bytes depend only on the table's content, so re-writing the same rows (a resumed
    ingest) produces an identical file and checksum.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    pq.write_table(table, tmp, row_group_size=_ROW_GROUP, **_options(table.schema))
    _fsync_rename(tmp, path)


def _fsync_rename(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class PartWriter:
    """Streams a part to ``<path>.tmp`` one batch at a time; :meth:`close` renames it into place.

    Rows are buffered until a row group of ``row_group`` rows is full, so memory holds at most
    one row group (plus the batch being added), never the whole part. Row-group boundaries
    depend only on the rows written, so the same rows give the same bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> w = PartWriter(p, pa.schema([("x", pa.int64())]), row_group=2)
    >>> for k in range(3):
    ...     w.write(pa.table({"x": [k, k]}))
    >>> w.close(), pq.ParquetFile(p).metadata.num_row_groups
    (6, 3)
    """

    def __init__(self, path: Path, schema: pa.Schema, row_group: int = _ROW_GROUP) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(path.name + TMP_SUFFIX)
        self.schema = schema
        self.row_group = row_group
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer = pq.ParquetWriter(self.tmp, schema, **_options(schema))

    def write(self, table: pa.Table) -> None:
        """Add rows (in order); full row groups go to disk."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self.row_group:
            merged = pa.concat_tables(self._pending)
            full = (self._pending_rows // self.row_group) * self.row_group
            self._writer.write_table(merged.slice(0, full), row_group_size=self.row_group)
            rest = merged.slice(full)
            self._pending = [rest] if rest.num_rows else []
            self._pending_rows = rest.num_rows

    def close(self) -> int:
        """Write what is buffered, fsync and rename into place; returns the row count."""
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=self.row_group)
            self._pending = []
        self._writer.close()
        _fsync_rename(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        """Drop the temporary file (the part is not written)."""
        self._writer.close()
        self.tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
