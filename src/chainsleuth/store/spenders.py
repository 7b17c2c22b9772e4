"""Who spends a range of outputs: the spending transaction of every output of a window.

Streamed stages ask, window by window, which transaction spends each output
``out_lo ≤ out_id < out_hi``. Spends live in the partition of the *spender*, so the answer is
spread over the output's own partition and every later one. Each partition's ``spend`` index
file (``store/lookup.py``: sorted keys ``out_id << bits | spender offset``, 8 B per spend) holds
them as one contiguous run of keys: two binary searches per partition find it, and only that
run is read. A file is mapped for the duration of one call, so its pages do not stay resident.

Datasets written before the index files existed fall back to the ``spends`` table through
DuckDB (a filtered scan, slower but the same answer).

Memory: 8 B per output of the range (the result) plus the keys read from one file at a time.

>>> from chainsleuth.store.manifest import Manifest
>>> m = Manifest.load(ds.path)  # the regtest chain
>>> spender = SpenderRanges(ds.path, m).spenders(0, 5)
>>> spender.tolist() == [ds.lookup.spenders(np.arange(5))[i] for i in range(5)]
True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from chainsleuth.store.lookup import IndexFile, index_file_name
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name

if TYPE_CHECKING:
    import duckdb

__all__ = ["SpenderRanges"]

I64 = NDArray[np.int64]


class SpenderRanges:
    """Spenders of ranges of outputs, read from the ``spend`` index files (see above).

    ``con`` is only used for datasets without index files (the ``spends`` view).
    """

    def __init__(
        self, data: Path | str, manifest: Manifest, con: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        self.data = Path(data)
        self.manifest = manifest
        self.con = con
        names = [part_name(p.lo, manifest.partition_span) for p in manifest.partitions]
        self._files = [index_file_name("spend", n) for n in names]
        self._indexed = all(f in manifest.files for f in self._files)
        self._first_out = np.array([p.first_out_id for p in manifest.partitions], dtype=np.int64)

    @property
    def indexed(self) -> bool:
        """Whether every partition has its ``spend`` index file."""
        return self._indexed

    def spenders(self, out_lo: int, out_hi: int) -> I64:
        """The tx_id spending each output ``out_lo`` … ``out_hi - 1`` (-1: unspent at the tip).

        See the module docstring for an example.
        """
        n = max(out_hi - out_lo, 0)
        result = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return result
        if not self._indexed:
            return self._from_table(out_lo, out_hi, result)
        # outputs are spent in their own partition or later
        first = max(int(np.searchsorted(self._first_out, out_lo, side="right")) - 1, 0)
        for rel in self._files[first:]:
            f = IndexFile.open(self.data / rel, with_extra=False)
            lo_key = np.uint64(out_lo << f.bits)
            hi_key = np.uint64(out_hi << f.bits)
            start = int(np.searchsorted(f.keys, lo_key, side="left"))
            end = int(np.searchsorted(f.keys, hi_key, side="left"))
            if end > start:
                keys = np.array(f.keys[start:end])
                out = (keys >> np.uint64(f.bits)).astype(np.int64) - out_lo
                result[out] = f.base + (keys & np.uint64(f.mask)).astype(np.int64)
            del f
        return result

    def _from_table(self, out_lo: int, out_hi: int, result: I64) -> I64:
        if self.con is None:
            from chainsleuth.errors import DatasetError

            raise DatasetError(
                f"{self.data}: no spend index files and no database to read spends from"
            )
        rows = self.con.execute(
            "SELECT out_id, tx_id FROM spends WHERE out_id >= ? AND out_id < ?",
            [out_lo, out_hi],
        ).fetchnumpy()
        result[np.asarray(rows["out_id"], dtype=np.int64) - out_lo] = rows["tx_id"]
        return result
