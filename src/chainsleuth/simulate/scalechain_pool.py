"""The scale chain generator's pool of spendable outputs: draw by age, spend, append, compact.

The pool is a ``uint64[cap, 8]`` array, 64 bytes (one cache line) per output: txid as four
big-endian 8-byte words (columns 0-3; written out as they stand they are the wire-order txid),
value (4), address id (5), column 6 = vout (bits 0-31) | owner wallet id (bits 32-62) |
:data:`SPENT` (bit 63), column 7 = the height after which it may be spent (bits 0-31; in a spent
entry, a pointer to a later entry, so runs of spent entries are skipped in amortised O(1)) |
the wallet link (bits 32-63: 1 + the index of the same wallet's next newer entry, 0 for none).
Entries are appended in height order and compacted in place, so ``start[h]`` (int64, 8 bytes per
height) is the first entry of height ``h`` or later and a spend can be drawn by age without
searching. Pool indices stay below 2**32.

**Wallets.** ``wtab`` is an open-addressing hash table, ``int64[cap, 2]`` (16 bytes per slot,
``cap`` a power of two at least twice the pool's rows, so at most half full): ``wallet id + 1 |
count << 32`` (0: empty slot; count: the wallet's unspent entries) and ``head | tail << 32``
(1 + its oldest and newest entry on the list, 0: none). Each wallet's entries form a list
oldest-first through the links, so a wallet spends its oldest coins first (an exchange sweeps
its oldest deposits); an entry spent by :func:`spend_coin` stays on the list until a walk
(:func:`take_from_wallet`) passes it, and compaction rebuilds table and lists
(:func:`link_wallets`). Pool plus table: 96 bytes per pool row.

>>> import numpy as np
>>> pool = np.zeros((4, 8), np.uint64)
>>> pool[:, 4] = [10, 20, 30, 40]
>>> pool[:, 6] = [7 << 32, 7 << 32, 8 << 32, 7 << 32]  # owners: wallets 7, 7, 8, 7
>>> pool[:, 7] = [1, 1, 2, 2]
>>> start = np.array([0, 0, 2, 4], np.int64)
>>> wtab = np.zeros((8, 2), np.int64)
>>> link_wallets(pool, 4, wtab)
>>> ins, ctr = np.zeros(4, np.int64), np.array([4, 4], np.int64)
>>> spend_coin(pool, wtab, ctr, 0); spend_coin(pool, wtab, ctr, 1)
>>> int(next_unspent(pool, 0, 4)), int(wallet_size(wtab, 7)), int(wallet_size(wtab, 8))
(2, 1, 1)
>>> take_from_wallet(pool, wtab, ctr, 7, ins, 0, 4), int(ins[0])  # wallet 7's only unspent entry
(1, 3)
>>> n = compact_pool(pool, start, 4, 2, wtab)
>>> int(n), pool[:n, 4].tolist(), start.tolist()
(1, [30], [0, 0, 0, 1])
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.simulate.scalechain_kernels import (
    DUST,
    KERNEL,
    below,
    copy_row,
    mix64,
    uniform,
)

__all__ = [
    "C_LIVE",
    "C_NPOOL",
    "SPENT",
    "commit_block",
    "compact_pool",
    "draw_by_age",
    "link_wallets",
    "next_unspent",
    "spend",
    "spend_coin",
    "take_from_wallet",
    "wallet_of",
    "wallet_size",
]

SPENT = np.uint64(1 << 63)
"""Flag in pool column 6 (vout) of a spent entry."""
# Counter indices shared with scalechain_block (ctr is an int64 array).
C_NPOOL, C_LIVE, C_NCHAINS, C_NOUTS, C_CB_VALUE, C_CB_ADDR = 0, 1, 3, 4, 5, 6
_LOW = np.uint64(0xFFFFFFFF)
_HIGH = np.uint64(0xFFFFFFFF00000000)
_WALLET = np.uint64(0x7FFFFFFF)
_32 = np.uint64(32)


@njit(**KERNEL, inline="always")
def wallet_of(pool, i):  # type: ignore[no-untyped-def]
    """Owner wallet id of pool entry ``i``."""
    return np.int64((pool[i, 6] >> _32) & _WALLET)


@njit(**KERNEL, inline="always")
def _low(pool, i):  # type: ignore[no-untyped-def]
    """Column 7's low half: the height, or in a spent entry the forward pointer."""
    return np.int64(pool[i, 7] & _LOW)


@njit(**KERNEL, inline="always")
def _set_low(pool, i, v):  # type: ignore[no-untyped-def]
    pool[i, 7] = (pool[i, 7] & _HIGH) | np.uint64(v)


@njit(**KERNEL, inline="always")
def _link(pool, i):  # type: ignore[no-untyped-def]
    """The same wallet's next newer entry (-1: none)."""
    return np.int64(pool[i, 7] >> _32) - 1


@njit(**KERNEL, inline="always")
def _set_link(pool, i, j):  # type: ignore[no-untyped-def]
    pool[i, 7] = (pool[i, 7] & _LOW) | (np.uint64(j + 1) << _32)


@njit(**KERNEL, inline="always")
def _slot(wtab, w):  # type: ignore[no-untyped-def]
    """Slot of wallet ``w`` in the table: its own, or the empty one where it would go."""
    mask = wtab.shape[0] - 1
    s = np.int64(mix64(np.uint64(w)) & np.uint64(mask))
    while wtab[s, 0] != 0 and wtab[s, 0] & 0xFFFFFFFF != w + 1:
        s = (s + 1) & mask
    return s


@njit(**KERNEL, inline="always")
def _append(pool, wtab, i, w):  # type: ignore[no-untyped-def]
    """Put entry ``i`` (unspent) at the tail of wallet ``w``'s list."""
    s = _slot(wtab, w)
    if wtab[s, 0] == 0:
        wtab[s, 0], wtab[s, 1] = w + 1, 0
    tail = (wtab[s, 1] >> 32) - 1
    _set_link(pool, i, -1)
    if tail >= 0:
        _set_link(pool, tail, i)
        wtab[s, 1] = (wtab[s, 1] & 0xFFFFFFFF) | (i + 1) << 32
    else:
        wtab[s, 1] = (i + 1) | (i + 1) << 32
    wtab[s, 0] += 1 << 32


@njit(**KERNEL)
def wallet_size(wtab, w):  # type: ignore[no-untyped-def]
    """Unspent entries of wallet ``w`` (0 for a wallet not in the table)."""
    return wtab[_slot(wtab, w), 0] >> 32


@njit(**KERNEL)
def spend_coin(pool, wtab, ctr, j):  # type: ignore[no-untyped-def]
    """Spend pool entry ``j`` (unspent) and count it off its wallet (it stays on the list)."""
    spend(pool, j)
    ctr[C_LIVE] -= 1
    wtab[_slot(wtab, wallet_of(pool, j)), 0] -= 1 << 32


@njit(**KERNEL)
def take_from_wallet(pool, wtab, ctr, w, ins, k, n):  # type: ignore[no-untyped-def]
    """Spend wallet ``w``'s oldest unspent entries into ``ins[k:n]``; returns the new ``k``.

    Walks the wallet's list from its head (the oldest entry) and drops every entry it passes
    (spent before, or taken now), so each entry is walked over once.
    """
    s = _slot(wtab, w)
    if wtab[s, 0] >> 32 == 0:
        return k
    cur = (wtab[s, 1] & 0xFFFFFFFF) - 1
    k0 = k
    while cur >= 0 and k < n:
        if not pool[cur, 6] & SPENT:
            ins[k] = cur
            k += 1
            spend(pool, cur)
        cur = _link(pool, cur)
    ctr[C_LIVE] -= k - k0
    wtab[s, 0] -= (k - k0) << 32
    wtab[s, 1] = (cur + 1) | (wtab[s, 1] >> 32 << 32 if cur >= 0 else 0)
    return k


@njit(**KERNEL)
def link_wallets(pool, n_pool, wtab):  # type: ignore[no-untyped-def]
    """Empty ``wtab`` and put the unspent entries of ``pool[:n_pool]`` on their wallets' lists
    (oldest first, as they stand in the pool)."""
    for s in range(wtab.shape[0]):
        wtab[s, 0] = 0
        wtab[s, 1] = 0
    for i in range(n_pool):
        if not pool[i, 6] & SPENT:
            _append(pool, wtab, i, wallet_of(pool, i))


@njit(**KERNEL, inline="always")
def next_unspent(pool, i, n):  # type: ignore[no-untyped-def]
    """First unspent entry at ``i`` or later (``n`` if none): a spent entry's column 7 points
    further on and is shortened to the answer on the way back (path compression)."""
    j = i
    while j < n and pool[j, 6] & SPENT:
        j = _low(pool, j)
    while i < j:
        after = _low(pool, i)
        _set_low(pool, i, j)
        i = after
    return j


@njit(**KERNEL, inline="always")
def spend(pool, j):  # type: ignore[no-untyped-def]
    """Mark pool entry ``j`` spent (its height becomes a forward pointer; the link stays)."""
    pool[j, 6] |= SPENT
    _set_low(pool, j, j + 1)


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
        j = next_unspent(pool, lo + below(rng, hi - lo) if hi > lo else lo, n_pool)
        if j < n_pool:
            return j
    j = next_unspent(pool, 0, n_pool)
    return j if j < n_pool else -1


@njit(**KERNEL)
def compact_pool(pool, start, n_pool, tip, wtab):  # type: ignore[no-untyped-def]
    """Drop spent entries (order kept), rebuild ``start[0..tip+1]`` and the wallet lists in
    ``wtab``; returns the new size."""
    n = 0
    for i in range(n_pool):
        if not pool[i, 6] & SPENT:
            if n != i:
                copy_row(pool, n, pool, i, 8)
            n += 1
    j = 0
    for h in range(tip + 2):
        while j < n and _low(pool, j) < h:
            j += 1
        start[h] = j
    link_wallets(pool, n, wtab)
    return n


@njit(**KERNEL, inline="always")
def _word(txids, t, c):  # type: ignore[no-untyped-def]
    """Pool column ``c`` (0-3) of txid ``t``: two big-endian uint32 words as one uint64."""
    return (np.uint64(txids[t, 2 * c]) << np.uint64(32)) | np.uint64(txids[t, 2 * c + 1])


@njit(**KERNEL)
def commit_block(height, txids, pending, st):  # type: ignore[no-untyped-def]
    """Append the block's outputs (and the coinbase maturing now) to the pool, with txids, and
    put each on its owner wallet's list.

    ``txids`` is (n_tx, 8) big-endian uint32 words; ``pending`` (100 x 8) holds the coinbase of
    the last 100 blocks until it may be spent. The pool must have room (Python grows it).
    """
    ctr, pool, start, chains, chain_tx, outs, wtab = st[1], st[2], st[3], st[4], st[5], st[6], st[8]
    n = ctr[C_NPOOL]
    start[height] = n
    matured = (height - 99) % 100  # the coinbase of height - 99 may be spent from height + 1
    if height >= 100 and pending[matured, 4] >= DUST:
        copy_row(pool, n, pending, matured, 8)
        pool[n, 7] = height
        _append(pool, wtab, n, wallet_of(pool, n))
        n += 1
    for r in range(ctr[C_NOUTS]):
        t = outs[r, 0]
        for c in range(4):
            pool[n, c] = _word(txids, t, c)
        pool[n, 4], pool[n, 5], pool[n, 6], pool[n, 7] = outs[r, 2], outs[r, 3], outs[r, 1], height
        _append(pool, wtab, n, wallet_of(pool, n))
        n += 1
    for ci in range(ctr[C_NCHAINS]):
        if chain_tx[ci] >= 0:
            for c in range(4):
                chains[ci, c] = _word(txids, chain_tx[ci], c)
            chain_tx[ci] = -1
    slot = height % 100
    for c in range(4):
        pending[slot, c] = _word(txids, 0, c)
    pending[slot, 4], pending[slot, 5] = ctr[C_CB_VALUE], ctr[C_CB_ADDR]
    pending[slot, 6] = np.uint64(ctr[C_CB_ADDR]) << _32  # a mining pool's address is its wallet
    ctr[C_LIVE] += n - ctr[C_NPOOL]
    ctr[C_NPOOL] = n
    start[height + 1] = n
