"""Rebuild the in-memory id indexes from the Parquet parts a manifest lists (for resume).

The dataset on disk is the system of record; the indexes are derived from it: the address
dictionary from each address's first output script, the UTXO index from the outputs not spent
by a transaction the manifest covers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainsleuth.chain.script import SCRIPT_TYPE_CODES
from chainsleuth.errors import ChainsleuthError
from chainsleuth.ingest.batch import IndexState
from chainsleuth.ingest.kernels import script_keys
from chainsleuth.ingest.resolve import load_utxos
from chainsleuth.store.manifest import Manifest
from chainsleuth.store.parts import part_name

__all__ = ["binary_column_buffer", "rebuild_state"]


def binary_column_buffer(
    col: pa.ChunkedArray | pa.Array,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary column as (flat uint8 buffer, start offsets, lengths) without Python objects.

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


def rebuild_state(data: Path, manifest: Manifest, state: IndexState) -> None:
    """Fill ``state`` with the indexes as of the end of ``manifest.partitions``."""
    if not manifest.partitions:
        return
    span = manifest.partition_span
    last = manifest.partitions[-1]
    next_tx = last.first_tx_id + last.n_txs
    n_addr = sum(p.n_addresses for p in manifest.partitions)
    state.next_tx_id = next_tx
    state.next_out_id = last.first_out_id + last.n_outputs
    first_out_of_addr = np.empty(n_addr, dtype=np.int64)
    for p in manifest.partitions:
        tbl = pq.read_table(
            data / "tables" / "addresses" / part_name(p.lo, span),
            columns=["addr_id", "first_out_id"],
        )
        ids = tbl.column("addr_id").to_numpy()
        first_out_of_addr[ids] = tbl.column("first_out_id").to_numpy()
    # Address keys come from each address's first output script, in addr_id order.
    scripts_by_addr: list[pa.Array] = []
    utxo_parts: list[tuple[np.ndarray, ...]] = []
    addr_order: list[np.ndarray] = []
    for p in manifest.partitions:
        outs = pq.read_table(data / "tables" / "outputs" / part_name(p.lo, span))
        out_ids = outs.column("out_id").to_numpy()
        wanted = np.isin(out_ids, first_out_of_addr, assume_unique=True)
        if wanted.any():
            sel = outs.filter(pa.array(wanted))
            scripts_by_addr.append(sel.column("script").combine_chunks())
            addr_order.append(sel.column("addr_id").to_numpy())
        spent = outs.column("spent_by_tx")
        live = pc.and_(
            pc.or_(pc.is_null(spent), pc.greater_equal(pc.fill_null(spent, 0), next_tx)),
            pc.not_equal(outs.column("script_type"), "nulldata"),
        )
        live_tbl = outs.filter(live)
        if live_tbl.num_rows == 0:
            continue
        txs = pq.read_table(
            data / "tables" / "txs" / part_name(p.lo, span), columns=["tx_id", "txid"]
        )
        tx_first = int(txs.column("tx_id")[0].as_py())
        txid_flat = np.frombuffer(txs.column("txid").combine_chunks().buffers()[1], dtype=np.uint8)
        txid_flat = txid_flat.reshape(-1, 32)[:, ::-1]  # back to wire order
        words = np.ascontiguousarray(txid_flat).view("<u8").reshape(-1, 4)
        local = live_tbl.column("tx_id").to_numpy() - tx_first
        names = live_tbl.column("script_type").unique().to_pylist()
        codes = np.array([SCRIPT_TYPE_CODES[t] for t in names], dtype=np.uint8)
        type_idx = pc.index_in(live_tbl.column("script_type"), value_set=pa.array(names)).to_numpy()
        utxo_parts.append(
            (
                np.ascontiguousarray(words[local, 0]),
                np.ascontiguousarray(words[local, 1]),
                live_tbl.column("vout").to_numpy().astype(np.uint32),
                live_tbl.column("out_id").to_numpy(),
                live_tbl.column("value").to_numpy(),
                pc.fill_null(live_tbl.column("addr_id"), -1).to_numpy(),
                codes[type_idx].astype(np.uint8),
            )
        )
    if scripts_by_addr:
        ids = np.concatenate(addr_order)
        order = np.argsort(ids)
        buf, offs, lens = binary_column_buffer(
            pa.concat_arrays(scripts_by_addr).take(pa.array(order))
        )
        k0, k1 = script_keys(buf, offs, lens)
        assigned, _ = state.addrs.assign(k0, k1, np.ones(k0.shape[0], dtype=np.bool_))
        if not np.array_equal(assigned, ids[order]):
            raise ChainsleuthError("address dictionary rebuild does not reproduce stored addr_ids")
    for parts in utxo_parts:
        load_utxos(state.utxo, *parts)
