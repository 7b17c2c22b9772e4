"""Per-address sums and per-cluster activity of a clustering in one streamed pass over the parts.

:func:`address_sums` reads each partition's outputs and inputs (tx_id, addr_id, value, height)
from its Parquet parts, merges the two by transaction in chain order and, in one numba pass,
adds up per address what it received, sent and how many outputs paid it, and per cluster how
many distinct transactions touched it and their first and last height (a cluster is counted
once per transaction: rows of one transaction are consecutive in the merged stream). It writes
the two files :mod:`chainsleuth.store.clusterstats` otherwise gets from two DuckDB statements
(a 150 M-row aggregate and a 150 M-row join with DISTINCT on the 30 M chain, spilled):
``addresses.parquet`` (addr_id, cluster_id, received, sent, n_outputs) in addr_id order and
``activity.parquet`` (cluster_id, n_txs, first_height, last_height) in cluster_id order, for
clusters seen in a transaction.

It applies to what the clustering engines write: cluster ids are addr_ids (0 ≤ id < n, the
smallest member), one row per addr_id 0..n-1, and a dataset with Parquet parts in chain order;
otherwise it returns False and writes nothing (the caller uses DuckDB).

Arrays (in RAM while they fit ``ram_bytes``, memory-mapped under ``DATASET/_tmp/`` beyond it,
:class:`~chainsleuth.store.sidearrays.SideArrays`): cluster id 8, received 8, sent 8, outputs
4, last transaction seen 8, transactions 4, first and last height 4 + 4 bytes per address:
48 bytes per address; plus one partition's four columns of outputs and inputs (32 bytes per
row, twice while merging).

>>> from chainsleuth.cluster.runs import run_dir
>>> ac = run_dir(ds, "default") / "address_cluster.parquet"
>>> address_sums(ds, ac, tmp / "a.parquet", tmp / "b.parquet", ram_bytes=1 << 30)
True
>>> import pyarrow.parquet as pq
>>> pq.read_table(tmp / "a.parquet").column_names
['addr_id', 'cluster_id', 'received', 'sent', 'n_outputs']
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numba import njit
from numpy.typing import NDArray

from chainsleuth.budget import TMP_DIR
from chainsleuth.store.parts import part_name
from chainsleuth.store.sidearrays import SideArrays

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["ACTIVITY_SCHEMA", "ADDRESSES_SCHEMA", "BYTES_PER_ADDRESS", "address_sums"]

BYTES_PER_ADDRESS = 48
"""RAM (or mapped file) per address while :func:`address_sums` runs."""

ADDRESSES_SCHEMA = pa.schema(
    [
        ("addr_id", pa.int64()),
        ("cluster_id", pa.int64()),
        ("received", pa.int64()),
        ("sent", pa.int64()),
        ("n_outputs", pa.int64()),
    ]
)
ACTIVITY_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("n_txs", pa.int64()),
        ("first_height", pa.int32()),
        ("last_height", pa.int32()),
    ]
)
_COLUMNS = ["tx_id", "addr_id", "value", "height"]
_CHUNK = 1 << 20


def address_sums(
    ds: Dataset,
    address_cluster: Path,
    addresses_out: Path,
    activity_out: Path,
    *,
    ram_bytes: int,
) -> bool:
    """Write ``addresses_out`` and ``activity_out`` (module docstring); False when the run or
    the dataset is not of the form this pass handles (nothing written). IndexError, naming
    the largest, when the chain has an addr_id beyond ``address_cluster``."""
    data = Path(ds.path)
    parts = _part_pairs(data, ds)
    if parts is None:
        return False
    n = pq.ParquetFile(address_cluster).metadata.num_rows
    with SideArrays(
        data / TMP_DIR, planned_bytes=BYTES_PER_ADDRESS * n, ram_bytes=ram_bytes
    ) as side:
        labels = side.full(n, np.int64, -1)
        if not _load_labels(address_cluster, labels):
            return False
        received, sent = side.full(n, np.int64, 0), side.full(n, np.int64, 0)
        n_out, n_txs = side.full(n, np.uint32, 0), side.full(n, np.uint32, 0)
        last_tx = side.full(n, np.int64, -1)
        first_h, last_h = side.full(n, np.int32, -1), side.full(n, np.int32, -1)
        top = -1
        for outputs, inputs in parts:
            o, i = _read(outputs), _read(inputs)
            status = _accumulate(  # type: ignore[call-arg]
                *o, *i, labels, received, sent, n_out, last_tx, n_txs, first_h, last_h
            )
            if status == -2:  # rows not in chain order
                return False
            top = max(top, int(status))
        if top >= n:
            raise IndexError(f"addr_id {top} out of range for {n} addresses")
        _write_addresses(addresses_out, labels, received, sent, n_out)
        _write_activity(activity_out, n_txs, first_h, last_h)
    return True


def _part_pairs(data: Path, ds: Dataset) -> list[tuple[Path, Path]] | None:
    """(outputs part, inputs part) of every partition in chain order; None unless every
    partition has both."""
    manifest = getattr(ds, "manifest", None)
    partitions = getattr(manifest, "partitions", None)
    if manifest is None or not partitions:
        return None
    pairs = []
    for p in partitions:
        name = part_name(p.lo, manifest.partition_span)
        rel = (f"tables/outputs/{name}", f"tables/inputs/{name}")
        if not all(r in manifest.files for r in rel):
            return None
        pairs.append((data / rel[0], data / rel[1]))
    return pairs


def _load_labels(path: Path, labels: NDArray[np.int64]) -> bool:
    """Scatter ``address_cluster`` into ``labels``; False unless every addr_id 0..n-1 appears
    once with a cluster id in 0..n-1 (other runs go through DuckDB, which names the fault)."""
    n = len(labels)
    f = pq.ParquetFile(path)
    for batch in f.iter_batches(columns=["addr_id", "cluster_id"], batch_size=_CHUNK):
        if batch.column(1).null_count or batch.column(0).null_count:
            return False
        addr = np.asarray(batch.column(0).to_numpy(), dtype=np.int64)
        cluster = np.asarray(batch.column(1).to_numpy(), dtype=np.int64)
        if len(addr) and (
            addr.min() < 0 or addr.max() >= n or cluster.min() < 0 or cluster.max() >= n
        ):
            return False
        labels[addr] = cluster
    return n == 0 or int(labels.min()) >= 0


def _read(path: Path) -> tuple[NDArray[Any], ...]:
    """tx_id, addr_id (-1 for none), value (0 for none), height of one part."""
    t = pq.read_table(path, columns=_COLUMNS)
    out = []
    for name, fill, dtype in (
        ("tx_id", -1, np.int64),
        ("addr_id", -1, np.int64),
        ("value", 0, np.int64),
        ("height", -1, np.int32),
    ):
        col = t.column(name)
        if col.null_count:
            col = pc.fill_null(col, fill)
        out.append(np.ascontiguousarray(col.to_numpy(), dtype=dtype))
    return tuple(out)


@njit(cache=True)
def _row(  # type: ignore[no-untyped-def]
    t, a, v, h, paid, labels, received, sent, n_out, last_tx, n_txs, first_h, last_h
):  # pragma: no cover - compiled
    if paid:
        received[a] += v
        n_out[a] += 1
    else:
        sent[a] += v
    c = labels[a]
    if last_tx[c] != t:
        last_tx[c] = t
        n_txs[c] += 1
        if first_h[c] < 0 or h < first_h[c]:
            first_h[c] = h
        if h > last_h[c]:
            last_h[c] = h


@njit(cache=True)
def _accumulate(  # type: ignore[no-untyped-def]
    otx, oaddr, ovalue, oheight, itx, iaddr, ivalue, iheight,
    labels, received, sent, n_out, last_tx, n_txs, first_h, last_h,
):  # fmt: skip  # pragma: no cover - compiled
    """One partition: outputs and inputs merged by tx_id; the largest addr_id beyond the
    labels (or -1), or -2 when a table's rows are not in tx_id order."""
    n = labels.shape[0]
    top = -1
    for k in range(1, otx.shape[0]):
        if otx[k] < otx[k - 1]:
            return -2
    for k in range(1, itx.shape[0]):
        if itx[k] < itx[k - 1]:
            return -2
    i = 0
    j = 0
    while i < otx.shape[0] or j < itx.shape[0]:
        take_out = j >= itx.shape[0] or (i < otx.shape[0] and otx[i] <= itx[j])
        if take_out:
            t, a, v, h = otx[i], oaddr[i], ovalue[i], oheight[i]
            i += 1
        else:
            t, a, v, h = itx[j], iaddr[j], ivalue[j], iheight[j]
            j += 1
        if a < 0:
            continue
        if a >= n:
            if a > top:
                top = a
            continue
        _row(t, a, v, h, take_out, labels, received, sent, n_out, last_tx, n_txs, first_h, last_h)
    return top


def _write_addresses(
    path: Path,
    labels: NDArray[np.int64],
    received: NDArray[np.int64],
    sent: NDArray[np.int64],
    n_out: NDArray[np.uint32],
) -> None:
    def chunks() -> Iterator[list[NDArray[Any]]]:
        for lo in range(0, len(labels), _CHUNK):
            hi = min(lo + _CHUNK, len(labels))
            yield [np.arange(lo, hi, dtype=np.int64), labels[lo:hi], received[lo:hi],
                   sent[lo:hi], n_out[lo:hi].astype(np.int64)]  # fmt: skip

    _write(path, ADDRESSES_SCHEMA, chunks())


def _write_activity(
    path: Path,
    n_txs: NDArray[np.uint32],
    first_h: NDArray[np.int32],
    last_h: NDArray[np.int32],
) -> None:
    def chunks() -> Iterator[list[NDArray[Any]]]:
        for lo in range(0, len(n_txs), _CHUNK):
            seen = lo + np.flatnonzero(n_txs[lo : lo + _CHUNK])
            yield [seen.astype(np.int64), n_txs[seen].astype(np.int64), first_h[seen],
                   last_h[seen]]  # fmt: skip

    _write(path, ACTIVITY_SCHEMA, chunks())


def _write(path: Path, schema: pa.Schema, chunks: Iterator[list[NDArray[Any]]]) -> None:
    """Write the column chunks to ``path`` through a ``.tmp`` file renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(tmp, schema) as w:
        for cols in chunks:
            w.write_table(pa.Table.from_arrays([pa.array(c) for c in cols], schema=schema))
    os.replace(tmp, path)
