"""The scale chain generator's pool of spendable outputs: draw by age, spend, append, compact.

The pool is a ``uint64[cap, 8]`` array, 64 bytes (one cache line) per output: txid as four
big-endian 8-byte words (columns 0-3; written out as they stand they are the wire-order txid),
value (4), address id (5), vout with :data:`SPENT` as a flag (6), and the height after which
it may be spent (7; in a spent entry, a pointer to a later entry, so runs of spent entries are
skipped in amortised O(1)). Entries are appended in height order and compacted in place, so
``start[h]`` (int64, 8 bytes per height) is the first entry of height ``h`` or later and a
spend can be drawn by age without searching.

>>> import numpy as np
>>> pool = np.zeros((4, 8), np.uint64)
>>> pool[:, 4] = [10, 20, 30, 40]
>>> pool[:, 7] = [1, 1, 2, 2]
>>> start = np.array([0, 0, 2, 4], np.int64)
>>> spend(pool, 0); spend(pool, 1)
>>> int(_next_unspent(pool, 0, 4))
2
>>> n = compact_pool(pool, start, 4, 2)
>>> int(n), pool[:n, 4].tolist(), start.tolist()
(2, [30, 40], [0, 0, 0, 2])
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.simulate.scalechain_kernels import DUST, KERNEL, below, copy_row, uniform

__all__ = ["C_LIVE", "C_NPOOL", "SPENT", "commit_block", "compact_pool", "draw_by_age", "spend"]

SPENT = np.uint64(1 << 63)
"""Flag in pool column 6 (vout) of a spent entry."""
# Counter indices shared with scalechain_block (ctr is an int64 array).
C_NPOOL, C_LIVE, C_NCHAINS, C_NOUTS, C_CB_VALUE, C_CB_ADDR = 0, 1, 3, 4, 5, 6


@njit(**KERNEL, inline="always")
def _next_unspent(pool, i, n):  # type: ignore[no-untyped-def]
    """First unspent entry at ``i`` or later (``n`` if none): a spent entry's column 7 points
    further on and is shortened to the answer on the way back (path compression)."""
    j = i
    while j < n and pool[j, 6] & SPENT:
        j = np.int64(pool[j, 7])
    while i < j:
        after = np.int64(pool[i, 7])
        pool[i, 7] = j
        i = after
    return j


@njit(**KERNEL, inline="always")
def spend(pool, j):  # type: ignore[no-untyped-def]
    """Mark pool entry ``j`` spent (its height column becomes a forward pointer)."""
    pool[j, 6] |= SPENT
    pool[j, 7] = j + 1


@njit(**KERNEL)
def draw_by_age(pool, start, n_pool, tip, rng, p_recent, recent_mean):  # type: ignore[no-untyped-def]
    """An unspent pool entry drawn by age (not marked spent); -1 if none is left.

    With probability ``p_recent`` the age in blocks is geometric with mean ``recent_mean``,
    else log-uniform up to the whole chain; the entry is drawn among those of that age (and a
    little older), and the next unspent entry from there is taken. When everything younger is
    spent, another age is drawn (four times, then the oldest unspent entry is taken).
    """
    for _ in range(4):
        if uniform(rng) < p_recent:
            age = 1 + int(-np.log(1.0 - uniform(rng)) * (recent_mean - 1.0))
        else:
            age = int(np.exp(uniform(rng) * np.log(tip + 1.0)))
        h = max(tip + 1 - age, 0)
        lo = start[h]
        hi = start[min(h + 1 + age // 8, tip + 1)]
        j = _next_unspent(pool, lo + below(rng, hi - lo) if hi > lo else lo, n_pool)
        if j < n_pool:
            return j
    j = _next_unspent(pool, 0, n_pool)
    return j if j < n_pool else -1


@njit(**KERNEL)
def compact_pool(pool, start, n_pool, tip):  # type: ignore[no-untyped-def]
    """Drop spent entries (order kept) and rebuild ``start[0..tip+1]``; returns the new size."""
    n = 0
    for i in range(n_pool):
        if not pool[i, 6] & SPENT:
            if n != i:
                copy_row(pool, n, pool, i, 8)
            n += 1
    j = 0
    for h in range(tip + 2):
        while j < n and np.int64(pool[j, 7]) < h:
            j += 1
        start[h] = j
    return n


@njit(**KERNEL, inline="always")
def _word(txids, t, c):  # type: ignore[no-untyped-def]
    """Pool column ``c`` (0-3) of txid ``t``: two big-endian uint32 words as one uint64."""
    return (np.uint64(txids[t, 2 * c]) << np.uint64(32)) | np.uint64(txids[t, 2 * c + 1])


@njit(**KERNEL)
def commit_block(height, txids, pending, st):  # type: ignore[no-untyped-def]
    """Append the block's outputs (and the coinbase maturing now) to the pool, with txids.

    ``txids`` is (n_tx, 8) big-endian uint32 words; ``pending`` (100 x 8) holds the coinbase of
    the last 100 blocks until it may be spent. The pool must have room (Python grows it).
    """
    _, ctr, pool, start, chains, chain_tx, outs, _ = st
    n = ctr[C_NPOOL]
    start[height] = n
    matured = (height - 99) % 100  # the coinbase of height - 99 may be spent from height + 1
    if height >= 100 and pending[matured, 4] >= DUST:
        copy_row(pool, n, pending, matured, 8)
        pool[n, 7] = height
        n += 1
    for r in range(ctr[C_NOUTS]):
        t = outs[r, 0]
        for c in range(4):
            pool[n, c] = _word(txids, t, c)
        pool[n, 4], pool[n, 5], pool[n, 6], pool[n, 7] = outs[r, 2], outs[r, 3], outs[r, 1], height
        n += 1
    for ci in range(ctr[C_NCHAINS]):
        if chain_tx[ci] >= 0:
            for c in range(4):
                chains[ci, c] = _word(txids, chain_tx[ci], c)
            chain_tx[ci] = -1
    slot = height % 100
    for c in range(4):
        pending[slot, c] = _word(txids, 0, c)
    pending[slot, 4], pending[slot, 5], pending[slot, 6] = ctr[C_CB_VALUE], ctr[C_CB_ADDR], 0
    ctr[C_LIVE] += n - ctr[C_NPOOL]
    ctr[C_NPOOL] = n
    start[height + 1] = n
