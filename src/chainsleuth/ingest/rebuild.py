"""Rebuild the ingest's index state from the Parquet parts, one partition at a time.

Used only when no saved state matches where a run must continue (a reorg deeper than the last
partition, a run stopped by a bad block, state files lost). The dataset on disk is the system
of record; the indexes are derived from it, partition by partition in chain order:

1. addresses first seen in the partition get their ids again from the stored 128-bit
   ``script_key`` of their first output (checked against the stored ``addr_id``);
2. the partition's outputs (but OP_RETURN) enter the UTXO index, keyed by their txid;
3. the partition's spends leave it again, keyed by the inputs' ``prev_txid``/``prev_vout``
   (only when the entry still holds the spent ``out_id``: a BIP30 duplicate keeps the newer).

Memory: one partition's columns at a time plus the indexes themselves; nothing concatenates a
whole-chain column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numba import njit

from chainsleuth.chain.script import SCRIPT_TYPE_CODES
from chainsleuth.errors import ChainsleuthError
from chainsleuth.ingest.batch import IndexState
from chainsleuth.ingest.resolve import load_utxos
from chainsleuth.store.hashindex import UtxoIndex, utxo_delete, utxo_entry, utxo_find
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name

__all__ = ["binary_column_buffer", "key_words", "rebuild_state"]


def binary_column_buffer(
    col: pa.ChunkedArray | pa.Array,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary column of one part as (flat uint8 buffer, start offsets, lengths).

    >>> buf, offs, lens = binary_column_buffer(pa.array([b"ab", b"c"], pa.binary()))
    >>> bytes(buf[offs[1]:offs[1] + lens[1]])
    b'c'
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    arr = arr.cast(pa.large_binary())
    if arr.null_count:
        arr = pc.fill_null(arr, b"")
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    return data, offsets[:-1].copy(), np.diff(offsets)


def key_words(col: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A fixed-width binary column as an (n, width/8) array of little-endian uint64 words.

    >>> key_words(pa.array([bytes(range(16))], pa.binary(16)), 16)[0, 0] == 0x0706050403020100
    np.True_
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return np.zeros((0, width // 8), dtype="<u8")
    flat = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[
        arr.offset * width : (arr.offset + n) * width
    ]
    return flat.view("<u8").reshape(n, width // 8)


@njit(cache=True)
def _unload(h, k0, k1, vout, oid):  # type: ignore[no-untyped-def]
    for i in range(k0.shape[0]):
        pos = utxo_find(h, k0[i], k1[i], vout[i])
        if pos >= 0 and utxo_entry(h, pos)[0] == oid[i]:
            utxo_delete(h, pos)


def _unload_utxos(index: UtxoIndex, k0: np.ndarray, k1: np.ndarray, vout: np.ndarray,
                  out_id: np.ndarray) -> None:  # fmt: skip
    _unload(index.handle, k0, k1, vout, out_id)


def rebuild_state(data: Path, manifest: Manifest, state: IndexState) -> None:
    """Fill an empty ``state`` with the indexes as of the end of ``manifest.partitions``."""
    if not manifest.partitions:
        return
    span = manifest.partition_span
    last = manifest.partitions[-1]
    state.next_tx_id = last.first_tx_id + last.n_txs
    state.next_out_id = last.first_out_id + last.n_outputs
    for p in manifest.partitions:
        name = part_name(p.lo, span)
        _rebuild_partition(data / "tables", name, state)


def _rebuild_partition(tables: Path, name: str, state: IndexState) -> None:
    addrs = pq.read_table(tables / "addresses" / name, columns=["addr_id", "first_out_id"])
    outs = pq.read_table(
        tables / "outputs" / name,
        columns=["out_id", "tx_id", "vout", "value", "script_type", "addr_id", "script_key"],
    )
    out_ids = outs.column("out_id").to_numpy()
    first_out = int(out_ids[0]) if len(out_ids) else 0
    # 1. address ids, in addr_id order, from the first output's script key
    ids = addrs.column("addr_id").to_numpy()
    order = np.argsort(ids, kind="stable")
    local = addrs.column("first_out_id").to_numpy()[order] - first_out
    words = key_words(outs.column("script_key"), 16)
    if len(local):
        assigned, _ = state.addrs.assign(
            np.ascontiguousarray(words[local, 0]),
            np.ascontiguousarray(words[local, 1]),
            np.ones(len(local), dtype=np.bool_),
        )
        if not np.array_equal(assigned, ids[order]):
            raise ChainsleuthError(f"address rebuild does not reproduce the addr_ids of {name}")
    # 2. outputs into the UTXO index
    live = pc.not_equal(outs.column("script_type"), "nulldata").to_numpy(zero_copy_only=False)
    if live.any():
        txs = pq.read_table(tables / "txs" / name, columns=["tx_id", "txid"])
        tx_first = int(txs.column("tx_id")[0].as_py())
        txid = key_words(txs.column("txid"), 32)
        # txids are stored in display order; the index keys on wire order (reversed bytes)
        wire = np.ascontiguousarray(txid.view(np.uint8).reshape(-1, 32)[:, ::-1]).view("<u8")
        tx_local = outs.column("tx_id").to_numpy()[live] - tx_first
        names = outs.column("script_type").unique().to_pylist()
        codes = np.array([SCRIPT_TYPE_CODES[t] for t in names], dtype=np.uint8)
        type_idx = pc.index_in(outs.column("script_type"), value_set=pa.array(names)).to_numpy()
        load_utxos(
            state.utxo,
            np.ascontiguousarray(wire[tx_local, 0]),
            np.ascontiguousarray(wire[tx_local, 1]),
            outs.column("vout").to_numpy()[live].astype(np.uint32),
            out_ids[live],
            outs.column("value").to_numpy()[live],
            pc.fill_null(outs.column("addr_id"), -1).to_numpy()[live],
            codes[type_idx][live].astype(np.uint8),
        )
    # 3. spends out of it
    ins = pq.read_table(tables / "inputs" / name, columns=["out_id", "prev_txid", "prev_vout"])
    ins = ins.filter(pc.is_valid(ins.column("out_id")))
    if ins.num_rows:
        prev = key_words(ins.column("prev_txid"), 32)
        wire = np.ascontiguousarray(prev.view(np.uint8).reshape(-1, 32)[:, ::-1]).view("<u8")
        _unload_utxos(
            state.utxo,
            np.ascontiguousarray(wire[:, 0]),
            np.ascontiguousarray(wire[:, 1]),
            ins.column("prev_vout").to_numpy().astype(np.uint32),
            ins.column("out_id").to_numpy(),
        )
