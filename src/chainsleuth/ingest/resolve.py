"""Link every input to the output it spends, through the UTXO index, in one numba pass.

Transactions are processed in chain order: a transaction's inputs are resolved (and the spent
entries removed) before its outputs are added, so spends inside the same block work.

>>> import numpy as np
>>> from chainsleuth.store.hashindex import UtxoIndex
>>> u = UtxoIndex(8)
>>> load_utxos(u, np.array([1], np.uint64), np.array([2], np.uint64), np.array([0], np.uint32),
...            np.array([5], np.int64), np.array([50], np.int64), np.array([3], np.int64),
...            np.array([2], np.uint8))
>>> u.count
1
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.store.hashindex import UtxoIndex, utxo_delete, utxo_find, utxo_insert

__all__ = ["load_utxos", "resolve_batch"]

_NULLDATA = 5


@njit(cache=True)
def _load(arrs, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = arrs
    added = 0
    for i in range(k0.shape[0]):
        if utxo_insert(
            keys0,
            keys1,
            vouts,
            out_ids,
            values,
            addr_ids,
            types,
            k0[i],
            k1[i],
            vout[i],
            oid[i],
            value[i],
            aid[i],
            typ[i],
        ):
            added += 1
    return added


def load_utxos(
    index: UtxoIndex,
    k0: np.ndarray,
    k1: np.ndarray,
    vout: np.ndarray,
    out_id: np.ndarray,
    value: np.ndarray,
    addr_id: np.ndarray,
    script_type: np.ndarray,
) -> None:
    """Bulk-insert unspent outputs (used when resuming from a dataset on disk)."""
    index.reserve(int(k0.shape[0]))
    index.count += int(_load(index.arrays, k0, k1, vout, out_id, value, addr_id, script_type))


@njit(cache=True)
def _resolve(arrs, buf, tx, inp, coinbase, tx_k0, tx_k1, out_value, out_type, out_addr, base_out):  # type: ignore[no-untyped-def]
    keys0, keys1, vouts, out_ids, values, addr_ids, types = arrs
    n_in = inp.shape[0]
    in_out_id = np.full(n_in, -1, dtype=np.int64)
    in_value = np.zeros(n_in, dtype=np.int64)
    in_addr = np.full(n_in, -1, dtype=np.int64)
    in_type = np.zeros(n_in, dtype=np.uint8)
    tx_in_value = np.zeros(tx.shape[0], dtype=np.int64)
    delta = 0
    for t in range(tx.shape[0]):
        fi = tx[t, 10]
        ni = tx[t, 8]
        fo = tx[t, 11]
        no = tx[t, 9]
        if not coinbase[t]:
            total = 0
            for i in range(fi, fi + ni):
                p = inp[i, 0]
                k0 = np.uint64(0)
                k1 = np.uint64(0)
                for b in range(8):
                    k0 |= np.uint64(buf[p + b]) << np.uint64(8 * b)
                    k1 |= np.uint64(buf[p + 8 + b]) << np.uint64(8 * b)
                slot = utxo_find(keys0, keys1, vouts, out_ids, k0, k1, inp[i, 1])
                if slot < 0:
                    return i, in_out_id, in_value, in_addr, in_type, tx_in_value, delta
                in_out_id[i] = out_ids[slot]
                in_value[i] = values[slot]
                in_addr[i] = addr_ids[slot]
                in_type[i] = types[slot]
                total += values[slot]
                utxo_delete(keys0, keys1, vouts, out_ids, values, addr_ids, types, slot)
                delta -= 1
            tx_in_value[t] = total
        for o in range(fo, fo + no):
            if out_type[o] == _NULLDATA:
                continue
            if utxo_insert(
                keys0,
                keys1,
                vouts,
                out_ids,
                values,
                addr_ids,
                types,
                tx_k0[t],
                tx_k1[t],
                o - fo,
                base_out + o,
                out_value[o],
                out_addr[o],
                out_type[o],
            ):
                delta += 1
    return -1, in_out_id, in_value, in_addr, in_type, tx_in_value, delta


def resolve_batch(
    index: UtxoIndex,
    buf: np.ndarray,
    tx: np.ndarray,
    inp: np.ndarray,
    coinbase: np.ndarray,
    tx_k0: np.ndarray,
    tx_k1: np.ndarray,
    out_value: np.ndarray,
    out_type: np.ndarray,
    out_addr: np.ndarray,
    base_out_id: int,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Resolve a parsed batch against (and update) the UTXO index.

    Returns ``(failed_input, in_out_id, in_value, in_addr_id, in_type, tx_in_value)``;
    ``failed_input`` is -1 on success, else the batch-local index of an input whose previous
    output is unknown.
    """
    index.reserve(int(out_value.shape[0]))
    failed, in_out_id, in_value, in_addr, in_type, tx_in_value, delta = _resolve(
        index.arrays,
        buf,
        tx,
        inp,
        coinbase,
        tx_k0,
        tx_k1,
        out_value,
        out_type,
        out_addr,
        base_out_id,
    )
    index.count += int(delta)
    return int(failed), in_out_id, in_value, in_addr, in_type, tx_in_value
