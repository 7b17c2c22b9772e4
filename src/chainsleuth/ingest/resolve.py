"""Link every input to the output it spends, through the UTXO index, in one numba pass.

Transactions are processed in chain order: a transaction's inputs are resolved (and the spent
entries removed) before its outputs are added, so spends inside the same block work. Before the
pass the index makes room for the batch's outputs (exact per-shard counts,
:meth:`~chainsleuth.store.hashindex.UtxoIndex.reserve_keys`), so nothing grows inside it.

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

from chainsleuth.errors import ChainsleuthError
from chainsleuth.store.hashindex import (
    ERR_VALUE,
    ERR_VOUT,
    UtxoIndex,
    insert_error,
    utxo_delete,
    utxo_entry,
    utxo_find,
    utxo_insert,
    utxo_prefetch,
)

__all__ = ["BadOutputError", "load_utxos", "resolve_batch"]

_NULLDATA = 5
_AHEAD = 4
"""Transactions ahead whose keys' home slots are prefetched: the kernel's loop is too long for
the CPU to overlap one key's cache misses with the next key's on its own. On the 2 M-transaction
chain `_resolve` took 1.40–1.47 s without, 1.02–1.12 s with (4, 8 and 16 ahead alike)."""


class BadOutputError(ChainsleuthError):
    """An output the UTXO index cannot hold because it breaks a consensus bound (its value
    outside 0..MAX_MONEY, a vout of 2^24 or more): ``output`` is its batch-local row."""

    def __init__(self, output: int, reason: str) -> None:
        super().__init__(reason)
        self.output = output
        self.reason = reason


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
    """Bulk-insert unspent outputs (used when rebuilding from a dataset on disk)."""
    index.insert_many(k0, k1, vout, out_id, value, addr_id, script_type)


@njit(cache=True, nogil=True)
def _resolve(h, buf, tx, inp, coinbase, tx_k0, tx_k1, out_value, out_type, out_addr, base_out):  # type: ignore[no-untyped-def]
    n_in = inp.shape[0]
    in_out_id = np.full(n_in, -1, dtype=np.int64)
    in_value = np.zeros(n_in, dtype=np.int64)
    in_addr = np.full(n_in, -1, dtype=np.int64)
    in_type = np.zeros(n_in, dtype=np.uint8)
    tx_in_value = np.zeros(tx.shape[0], dtype=np.int64)
    n_tx = tx.shape[0]
    for t in range(n_tx):
        ahead = t + _AHEAD
        if ahead < n_tx:  # the home slots of a later transaction's inputs and outputs
            if not coinbase[ahead]:
                for i in range(tx[ahead, 10], tx[ahead, 10] + tx[ahead, 8]):
                    p = inp[i, 0]
                    k0 = np.uint64(0)
                    for b in range(8):
                        k0 |= np.uint64(buf[p + b]) << np.uint64(8 * b)
                    utxo_prefetch(h, k0, inp[i, 1])
            for o in range(tx[ahead, 9]):
                utxo_prefetch(h, tx_k0[ahead], o)
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
                pos = utxo_find(h, k0, k1, inp[i, 1])
                if pos < 0:
                    return i, -1, 0, in_out_id, in_value, in_addr, in_type, tx_in_value
                oid, value, aid, typ = utxo_entry(h, pos)
                in_out_id[i] = oid
                in_value[i] = value
                in_addr[i] = aid
                in_type[i] = typ
                total += value
                utxo_delete(h, pos)
            tx_in_value[t] = total
        for o in range(fo, fo + no):
            if out_type[o] == _NULLDATA:
                continue
            status = utxo_insert(
                h,
                tx_k0[t],
                tx_k1[t],
                o - fo,
                base_out + o,
                out_value[o],
                out_addr[o],
                out_type[o],
            )
            if status < 0:
                return -1, o, status, in_out_id, in_value, in_addr, in_type, tx_in_value
    return -1, -1, 0, in_out_id, in_value, in_addr, in_type, tx_in_value


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
    output is unknown. Raises :class:`BadOutputError` for an output whose value or vout breaks
    a consensus bound, ChainsleuthError past the index's id limits.
    """
    n_out_tx = tx[:, 9]
    out_tx = np.repeat(np.arange(tx.shape[0]), n_out_tx)
    vout = np.arange(out_value.shape[0], dtype=np.int64) - tx[out_tx, 11]
    keep = out_type != _NULLDATA
    index.reserve_keys(
        np.ascontiguousarray(tx_k0[out_tx][keep]), vout[keep].astype(np.uint32, copy=False)
    )
    failed, bad_out, status, in_out_id, in_value, in_addr, in_type, tx_in_value = _resolve(
        index.handle,
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
    if bad_out >= 0:
        if status in (ERR_VALUE, ERR_VOUT):
            raise BadOutputError(int(bad_out), insert_error(status))
        raise ChainsleuthError(f"output {base_out_id + bad_out}: {insert_error(status)}")
    return int(failed), in_out_id, in_value, in_addr, in_type, tx_in_value
