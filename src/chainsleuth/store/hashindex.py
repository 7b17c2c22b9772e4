"""Compact open-addressing hash indexes in numpy arrays, driven by numba kernels.

Two indexes grow with the chain and nothing else does:

* :class:`AddressIndex` maps a 128-bit script key to a dense ``addr_id`` (24 bytes per slot,
  load factor ≤ 0.6, so ~40 bytes per address). The ingest uses the disk-spilling
  :class:`~chainsleuth.store.addrdict.AddressDictionary` instead; this one is its reference.
* :class:`UtxoIndex` maps an unspent output ``(txid[:12], vout)`` to its ``out_id``, value,
  ``addr_id`` and script type in **32 bytes per slot** plus a distance byte, at a load of
  0.8–0.9 (grown by 1.125× per shard): 36.7–41.3 bytes per *unspent* output (see the class
  for the layout, the field bounds, the growth and the saved form).

Both use linear probing; keys are already uniformly distributed (hashes), so the home slot
comes straight from the key's bits.

>>> import numpy as np
>>> idx = AddressIndex(16)
>>> ids, new = idx.assign(np.array([7, 9, 7], np.uint64), np.array([1, 2, 1], np.uint64),
...                       np.array([True, True, True]))
>>> ids.tolist(), new.tolist()
([0, 1, 0], [True, True, False])
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray

from chainsleuth.errors import ChainsleuthError

__all__ = [
    "ADDR_ID_LIMIT",
    "OUT_ID_LIMIT",
    "SLOT_BYTES",
    "SLOT_RAM_BYTES",
    "UTXO_FORMAT",
    "UTXO_GROWTH",
    "UTXO_MAX_LOAD",
    "VALUE_LIMIT",
    "VOUT_LIMIT",
    "AddressIndex",
    "UtxoIndex",
    "utxo_delete",
    "utxo_entry",
    "utxo_find",
    "utxo_insert",
]

_EMPTY = -1
_MAX_LOAD = 0.6
_LOW32 = 0xFFFFFFFF


def _capacity_for(n: int, load: float = _MAX_LOAD) -> int:
    cap = 1024
    while cap * load < n:
        cap *= 2
    return cap


@njit(cache=True)
def _addr_assign(keys0, keys1, vals, k0, k1, want, next_id):  # type: ignore[no-untyped-def]
    mask = keys0.shape[0] - 1
    n = k0.shape[0]
    ids = np.full(n, -1, dtype=np.int64)
    new = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not want[i]:
            continue
        slot = np.int64(k0[i] & np.uint64(mask))
        while True:
            v = vals[slot]
            if v == -1:
                vals[slot] = next_id
                keys0[slot] = k0[i]
                keys1[slot] = k1[i]
                ids[i] = next_id
                new[i] = True
                next_id += 1
                break
            if keys0[slot] == k0[i] and keys1[slot] == k1[i]:
                ids[i] = v
                break
            slot = (slot + 1) & mask
    return ids, new, next_id


@njit(cache=True)
def _addr_rehash(keys0, keys1, vals, new_keys0, new_keys1, new_vals):  # type: ignore[no-untyped-def]
    mask = new_keys0.shape[0] - 1
    for s in range(keys0.shape[0]):
        v = vals[s]
        if v == -1:
            continue
        slot = np.int64(keys0[s] & np.uint64(mask))
        while new_vals[slot] != -1:
            slot = (slot + 1) & mask
        new_vals[slot] = v
        new_keys0[slot] = keys0[s]
        new_keys1[slot] = keys1[s]


class AddressIndex:
    """Script key → dense ``addr_id``; ids are handed out in order of first appearance."""

    def __init__(self, expected: int = 0) -> None:
        cap = _capacity_for(expected)
        self.keys0 = np.zeros(cap, dtype=np.uint64)
        self.keys1 = np.zeros(cap, dtype=np.uint64)
        self.vals = np.full(cap, _EMPTY, dtype=np.int64)
        self.count = 0

    def reserve(self, extra: int) -> None:
        """Grow so that ``extra`` more keys fit under the load limit."""
        need = self.count + extra
        if need <= self.vals.shape[0] * _MAX_LOAD:
            return
        cap = _capacity_for(need)
        k0 = np.zeros(cap, dtype=np.uint64)
        k1 = np.zeros(cap, dtype=np.uint64)
        vals = np.full(cap, _EMPTY, dtype=np.int64)
        _addr_rehash(self.keys0, self.keys1, self.vals, k0, k1, vals)
        self.keys0, self.keys1, self.vals = k0, k1, vals

    def assign(
        self, k0: np.ndarray, k1: np.ndarray, want: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Look up or insert each wanted key; returns (addr_id or -1, is_new)."""
        self.reserve(int(want.sum()))
        ids, new, self.count = _addr_assign(
            self.keys0, self.keys1, self.vals, k0, k1, want, self.count
        )
        return ids, new

    @property
    def nbytes(self) -> int:
        """Bytes held by the table."""
        return int(self.keys0.nbytes + self.keys1.nbytes + self.vals.nbytes)


# -- the UTXO index: slot layout -------------------------------------------------------------------
#
# One slot is four little-endian uint64 words (32 bytes), one row of a shard's (cap, 4) array:
#
#   w0  txid bytes 0-7 (wire order)
#   w1  txid bytes 8-11 (bits 0-31) | vout (bits 32-55) | script type (bits 56-63)
#   w2  out_id + 1 (bits 0-39; 0 = empty slot) | (addr_id + 1) bits 0-23 (bits 40-63)
#   w3  value in satoshis (bits 0-50) | (addr_id + 1) bits 24-36 (bits 51-63)
#
# The key is w0 and the low 56 bits of w1. addr_id + 1 = 0 means "no address" (addr_id -1).
#
# After a shard's cap slots come cap distance bytes, one per slot: 0 = empty, else 1 + the
# entry's distance from its home slot (255: 254 or more, then computed from the key). A probe
# walks these bytes (64 slots per cache line instead of 2) and reads a slot only where its
# entry has the probe's home; a deletion's backward shift reads a slot only to move it.

SLOT_BYTES = 32
"""Bytes of one entry in the saved form (the slot's four words)."""
SLOT_RAM_BYTES = SLOT_BYTES + 1
"""Bytes of one slot in memory: its four words and its distance byte (see below)."""
VOUT_LIMIT = 1 << 24
"""vouts are below this (consensus allows ~111 k outputs in a 4 MWU block)."""
VALUE_LIMIT = 2_100_000_000_000_000
"""Output values are at most MAX_MONEY (21 M BTC, below 2^51), as Core's CheckTransaction."""
OUT_ID_LIMIT = (1 << 40) - 1
"""out_ids are below this: 1.1 T outputs (mainnet: 3.4 B in 2025)."""
ADDR_ID_LIMIT = (1 << 37) - 1
"""addr_ids are below this: 137 G addresses (mainnet: 1.5-3 B in 2025)."""

UTXO_MAX_LOAD = 0.9
"""A shard grows before an insert would take its load above this."""
UTXO_GROWTH = 1.125
"""A shard grows to this many times its capacity (or what the pending inserts need)."""
SHARD_BITS = 8
"""2^8 = 256 shards, chosen by the top bits of the key's hash; each grows on its own."""
_MIN_SHARD_SLOTS = 64
UTXO_FORMAT = 2
"""Version of the saved form (state/utxo-h*.bin): 32-byte slots, shards in order, each sorted by
out_id. Format 1 was seven columns of 41 bytes per entry, sorted by out_id."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_KEY1_MASK = np.uint64((1 << 56) - 1)
_MASK40 = np.uint64((1 << 40) - 1)
_MASK24 = np.uint64((1 << 24) - 1)
_MASK51 = np.uint64((1 << 51) - 1)
_U32 = np.uint64(_LOW32)

# insert status: 1 added, 0 replaced (duplicate txid, BIP30), negative: refused
INSERT_ADDED = 1
INSERT_REPLACED = 0
ERR_VOUT = -1
ERR_VALUE = -2
ERR_OUT_ID = -3
ERR_ADDR_ID = -4
ERR_FULL = -5
_ERRORS = {
    ERR_VOUT: f"vout not below {VOUT_LIMIT:,}",
    ERR_VALUE: f"output value outside 0..{VALUE_LIMIT:,} satoshis (MAX_MONEY)",
    ERR_OUT_ID: f"out_id not below the UTXO index's 40-bit limit {OUT_ID_LIMIT:,}",
    ERR_ADDR_ID: f"addr_id not below the UTXO index's 37-bit limit {ADDR_ID_LIMIT:,}",
    ERR_FULL: "UTXO index shard full (reserve before inserting)",
}


def insert_error(status: int) -> str:
    """What a negative insert status means.

    >>> insert_error(ERR_VALUE)
    'output value outside 0..2,100,000,000,000,000 satoshis (MAX_MONEY)'
    """
    return _ERRORS[int(status)]


@intrinsic
def _as_ptr(typingctx, addr):  # type: ignore[no-untyped-def]
    """An int64 address as a ``void*`` (for :func:`numba.carray` views of the shards)."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return sig, codegen


@intrinsic
def _prefetch(typingctx, addr):  # type: ignore[no-untyped-def]
    """Ask the CPU to bring the cache line at int64 address ``addr`` in (a hint; no fault)."""
    sig = types.void(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")  # type: ignore[no-untyped-call]
        builder.call(fn, [builder.inttoptr(args[0], i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def utxo_prefetch(h, k0, vout):  # type: ignore[no-untyped-def]
    """Start loading the home slot (and its distance byte) of key ``(k0, vout)``: issued some
    operations ahead of its find or insert, the memory latency overlaps other work."""
    k0 = np.uint64(k0)
    hv = _hash(k0, vout)
    s = _shard_of(hv, h[3])
    cap = h[1][s]
    home = _home(hv, h[3], cap)
    base = h[0][s]
    _prefetch(base + cap * SLOT_BYTES + home)  # type: ignore[call-arg]
    _prefetch(base + home * SLOT_BYTES)


@njit(cache=True)
def _shard_table(h, s):  # type: ignore[no-untyped-def]
    """Shard ``s`` of handle ``h`` as a (cap, 4) uint64 view (no copy, no reference count)."""
    ptrs, caps = h[0], h[1]
    return carray(_as_ptr(ptrs[s]), (caps[s], 4), np.uint64)  # type: ignore[call-arg]


@njit(cache=True)
def _shard_dist(h, s):  # type: ignore[no-untyped-def]
    """The distance bytes of shard ``s`` (cap uint8 after its slots)."""
    ptrs, caps = h[0], h[1]
    return carray(_as_ptr(ptrs[s] + caps[s] * SLOT_BYTES), (caps[s],), np.uint8)  # type: ignore[call-arg]


_FAR = 254
"""Distances from this one on are stored as 255 and computed from the key when needed."""


@njit(cache=True, inline="always")
def _dist_code(disp):  # type: ignore[no-untyped-def]
    return np.uint8(min(disp, _FAR) + 1)


@njit(cache=True)
def _hash(k0, vout):  # type: ignore[no-untyped-def]
    return np.uint64(k0) ^ (np.uint64(vout) * _GOLDEN)


@njit(cache=True)
def _shard_of(hv, bits):  # type: ignore[no-untyped-def]
    return np.int64((hv >> np.uint64(32)) >> np.uint64(32 - bits))


@njit(cache=True)
def _home(hv, bits, cap):  # type: ignore[no-untyped-def]
    """The home slot: the 32 hash bits below the shard bits, scaled to ``cap`` (any size)."""
    y = (hv << np.uint64(bits)) >> np.uint64(32)
    return np.int64((y * np.uint64(cap)) >> np.uint64(32))


@njit(cache=True)
def _key1(k1, vout):  # type: ignore[no-untyped-def]
    return (np.uint64(k1) & _U32) | (np.uint64(vout) << np.uint64(32))


@njit(cache=True)
def _probe(t, d, home, k0, key1):  # type: ignore[no-untyped-def]
    """The slot holding the key, else -(first empty slot) - 1. Only slots whose entry has the
    same home (distance byte = the probe's distance) are compared."""
    cap = t.shape[0]
    slot = home
    i = 0
    while True:
        c = d[slot]
        if c == 0:
            return -slot - 1
        if c == _dist_code(i) and t[slot, 0] == k0 and (t[slot, 1] & _KEY1_MASK) == key1:
            return slot
        slot += 1
        i += 1
        if slot == cap:
            slot = 0


@njit(cache=True)
def utxo_find(h, k0, k1, vout):  # type: ignore[no-untyped-def]
    """Where the unspent output ``(k0, k1 low 32 bits, vout)`` is (a position), else -1."""
    k0 = np.uint64(k0)
    hv = _hash(k0, vout)
    s = _shard_of(hv, h[3])
    t = _shard_table(h, s)
    slot = _probe(t, _shard_dist(h, s), _home(hv, h[3], t.shape[0]), k0, _key1(k1, vout))
    if slot < 0:
        return np.int64(-1)
    return (s << 40) | slot


@njit(cache=True)
def utxo_entry(h, pos):  # type: ignore[no-untyped-def]
    """``(out_id, value, addr_id, script type)`` of the entry at ``pos`` (from utxo_find)."""
    t = _shard_table(h, pos >> 40)
    slot = pos & ((1 << 40) - 1)
    w2 = t[slot, 2]
    w3 = t[slot, 3]
    aid = np.int64((w2 >> np.uint64(40)) | ((w3 >> np.uint64(51)) << np.uint64(24))) - 1
    oid = np.int64(w2 & _MASK40) - 1
    typ = np.uint8(t[slot, 1] >> np.uint64(56))
    return oid, np.int64(w3 & _MASK51), aid, typ


@njit(cache=True)
def _pack(k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    a = np.uint64(aid + 1)
    w1 = _key1(k1, vout) | (np.uint64(typ) << np.uint64(56))
    w2 = np.uint64(oid + 1) | ((a & _MASK24) << np.uint64(40))
    w3 = np.uint64(value) | ((a >> np.uint64(24)) << np.uint64(51))
    return np.uint64(k0), w1, w2, w3


@njit(cache=True)
def _check(vout, oid, value, aid):  # type: ignore[no-untyped-def]
    if vout < 0 or vout >= VOUT_LIMIT:
        return ERR_VOUT
    if value < 0 or value > VALUE_LIMIT:
        return ERR_VALUE
    if oid < 0 or oid >= OUT_ID_LIMIT:
        return ERR_OUT_ID
    if aid < -1 or aid >= ADDR_ID_LIMIT:
        return ERR_ADDR_ID
    return 0


@njit(cache=True)
def _insert_words(h, w0, w1, w2, w3):  # type: ignore[no-untyped-def]
    """Insert a packed slot (replacing an entry of the same key); returns the status."""
    hv = _hash(w0, (w1 >> np.uint64(32)) & _MASK24)
    s = _shard_of(hv, h[3])
    t = _shard_table(h, s)
    d = _shard_dist(h, s)
    counts = h[2]
    cap = t.shape[0]
    if counts[s] >= cap - 1:
        return ERR_FULL  # never probe a table without an empty slot
    home = _home(hv, h[3], cap)
    slot = _probe(t, d, home, w0, w1 & _KEY1_MASK)
    added = slot < 0
    if added:
        slot = -slot - 1
        counts[s] += 1
        d[slot] = _dist_code(slot - home if slot >= home else slot + cap - home)
    t[slot, 0] = w0
    t[slot, 1] = w1
    t[slot, 2] = w2
    t[slot, 3] = w3
    return INSERT_ADDED if added else INSERT_REPLACED


@njit(cache=True)
def utxo_insert(h, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    """Insert an unspent output; a duplicate txid (BIP30) replaces the older output.

    Returns 1 (added), 0 (replaced) or a negative error (a field out of bounds, the shard
    full: nothing is written). The caller reserves room first (:meth:`UtxoIndex.reserve_keys`).
    """
    err = _check(np.int64(vout), np.int64(oid), np.int64(value), np.int64(aid))
    if err != 0:
        return err
    w0, w1, w2, w3 = _pack(k0, k1, vout, oid, value, aid, typ)
    return _insert_words(h, w0, w1, w2, w3)


@njit(cache=True)
def utxo_delete(h, pos):  # type: ignore[no-untyped-def]
    """Remove the entry at ``pos`` with backward-shift deletion (no tombstones)."""
    s = pos >> 40
    t = _shard_table(h, s)
    d = _shard_dist(h, s)
    bits = h[3]
    cap = t.shape[0]
    hole = pos & ((1 << 40) - 1)
    nxt = hole + 1
    if nxt == cap:
        nxt = 0
    while d[nxt] != 0:
        c = np.int64(d[nxt])
        if c == _FAR + 1:
            home = _home(_hash(t[nxt, 0], (t[nxt, 1] >> np.uint64(32)) & _MASK24), bits, cap)
            disp = nxt - home if nxt >= home else nxt + cap - home
        else:
            disp = c - 1
        gap = nxt - hole if nxt > hole else nxt + cap - hole
        # Move the entry back unless its home is in the cyclic range (hole, nxt].
        if disp >= gap:
            for w in range(4):
                t[hole, w] = t[nxt, w]
            d[hole] = _dist_code(disp - gap)
            hole = nxt
        nxt += 1
        if nxt == cap:
            nxt = 0
    for w in range(4):
        t[hole, w] = 0
    d[hole] = 0
    h[2][s] -= 1


@njit(cache=True)
def _rehash(src, dst, dst_dist, bits):  # type: ignore[no-untyped-def]
    """Move every entry of shard table ``src`` into the empty table ``dst`` (and its distance
    bytes ``dst_dist``)."""
    cap = dst.shape[0]
    for i in range(src.shape[0]):
        if src[i, 2] == 0:
            continue
        home = _home(_hash(src[i, 0], (src[i, 1] >> np.uint64(32)) & _MASK24), bits, cap)
        slot = home
        while dst_dist[slot] != 0:
            slot += 1
            if slot == cap:
                slot = 0
        for w in range(4):
            dst[slot, w] = src[i, w]
        dst_dist[slot] = _dist_code(slot - home if slot >= home else slot + cap - home)


@njit(cache=True)
def _shard_counts(k0, vout, bits):  # type: ignore[no-untyped-def]
    out = np.zeros(1 << bits, dtype=np.int64)
    for i in range(k0.shape[0]):
        out[_shard_of(_hash(k0[i], vout[i]), bits)] += 1
    return out


@njit(cache=True)
def _insert_records(h, rec):  # type: ignore[no-untyped-def]
    added = 0
    for i in range(rec.shape[0]):
        status = _insert_words(h, rec[i, 0], rec[i, 1], rec[i, 2], rec[i, 3])
        if status < 0:
            return status, i
        added += status
    return added, -1


@njit(cache=True)
def _insert_columns(h, k0, k1, vout, oid, value, aid, typ):  # type: ignore[no-untyped-def]
    added = 0
    for i in range(k0.shape[0]):
        status = utxo_insert(h, k0[i], k1[i], vout[i], oid[i], value[i], aid[i], typ[i])
        if status < 0:
            return status, i
        added += status
    return added, -1


@njit(cache=True)
def _probe_lengths(t, bits):  # type: ignore[no-untyped-def]
    """(sum of displacements, max displacement, sum over slots of the probes a miss there
    makes) of one shard table."""
    cap = t.shape[0]
    disp_sum = 0
    disp_max = 0
    for i in range(cap):
        if t[i, 2] == 0:
            continue
        home = _home(_hash(t[i, 0], (t[i, 1] >> np.uint64(32)) & _MASK24), bits, cap)
        d = i - home if i >= home else i + cap - home
        disp_sum += d
        disp_max = max(disp_max, d)
    # a miss homed at slot i probes up to the next empty slot: walk the table backwards
    miss_sum = 0
    run = 0
    start = 0
    while start < cap and t[start, 2] != 0:  # begin just after an empty slot
        start += 1
    if start == cap:
        return disp_sum, disp_max, cap * cap
    for j in range(cap):
        i = (start - j) % cap
        run = 0 if t[i, 2] == 0 else run + 1
        miss_sum += run + 1
    return disp_sum, disp_max, miss_sum


def _slot_array(cap: int, spill_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``cap`` zeroed slots, (cap, 4) uint64, and their ``cap`` distance bytes after them (the
    second array of the pair), in a mapping of their own: unmapped when dropped,
    so a shard that grows leaves no hole in the heap (shards of a few MB allocated on the heap
    left ~10 % more RSS than the table held, measured at 20 M entries).

    Anonymous memory, or with ``spill_dir`` a shared mapping of a file there that is unlinked
    at once (nothing to clean up after a crash; the disk space returns when the mapping goes):
    its pages are the kernel's to write back and evict under memory pressure.
    """
    size = cap * SLOT_RAM_BYTES
    if spill_dir is None:
        buf = mmap.mmap(-1, size)
    else:
        spill_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=spill_dir, prefix="utxo-shard-") as f:
            os.ftruncate(f.fileno(), size)
            buf = mmap.mmap(f.fileno(), size)
    slots = np.frombuffer(buf, dtype=np.uint64, count=4 * cap).reshape(cap, 4)
    return slots, np.frombuffer(buf, dtype=np.uint8, count=cap, offset=cap * SLOT_BYTES)


def _shard_capacity(n: int) -> int:
    """Slots for ``n`` entries at the load a shard has right after growing."""
    return max(_MIN_SHARD_SLOTS, int(np.ceil(n * UTXO_GROWTH / UTXO_MAX_LOAD)))


class UtxoIndex:
    """Unspent outputs keyed by ``(txid[:12], vout)`` holding out_id, value, addr_id, type.

    **Key.** A 96-bit txid prefix plus the vout: two unspent outputs collide only if their txids
    share 12 bytes (about 2^-40 for 170 M unspent transactions). A duplicate txid (BIP30)
    replaces the older output, as in Core.

    **Slot: 32 bytes**, four uint64 words: txid bytes 0–7; txid bytes 8–11, vout (24 bits),
    script type (8 bits); out_id + 1 (40 bits, 0 = empty) and addr_id + 1 bits 0–23; value
    (51 bits) and addr_id + 1 bits 24–36; and **a distance byte** per slot, stored after the
    shard's slots: 0 for an empty slot, else 1 + the entry's distance from its home slot
    (255 from 254 on). Bounds, checked on every insert (an ingest past them
    stops with an error naming the field): vout < 2^24, 0 ≤ value ≤ MAX_MONEY (2.1e15 < 2^51),
    out_id < 2^40 − 1 (1.1 T; mainnet 3.4 B), addr_id < 2^37 − 1 (137 G; mainnet 1.5–3 B).

    **Shards.** The table is 256 shards chosen by the top 8 bits of the key's hash; each is a
    linear-probing table of any size (the home slot scales the next 32 hash bits to it),
    with backward-shift deletion (no tombstones, so a UTXO set of stable size never grows the
    table). Before a batch the caller reserves room for the keys it may insert
    (:meth:`reserve_keys`: exact per-shard counts); a shard about to pass load 0.9 grows by
    1.125× into a new array while the old one is alive: the growth spike is one shard,
    1/256 of the table (~30 MB at mainnet's 170 M unspent outputs), not the whole table.
    Load stays in 0.8–0.9 while the set grows (shards never shrink): **36.7–41.3 bytes per
    unspent output** (6.2–7.0 GB for 170 M).
    Linear probing at load 0.9 walks ~5 slots per hit, ~40–50 per miss or insert; the walk
    reads the distance bytes (64 slots a cache line) and opens a slot only where the entry
    there shares the probe's home; a deletion's backward shift moves an entry back when its
    distance reaches the hole. At 10 M entries this made lookups 1.6×, misses 2×, deletions
    1.4× and the ingest's spend-and-insert churn 1.4× as fast as walking the 32-byte slots
    (``bench/utxo.py``, which measures them).

    **Beyond a budget** (``ram_bytes`` and ``spill_dir`` given to the constructor, or
    :meth:`spill_beyond`): shards past ``ram_bytes`` of slots live in shared mappings of
    unlinked files, written back and evicted by the kernel under memory pressure (slower, never
    out of memory); the slots and their bytes are the same. :attr:`anon_nbytes` /
    :attr:`peak_anon_nbytes` are the RAM-resident part, :attr:`spilled_nbytes` the rest.

    **Saved form** (:meth:`records`): the occupied slots shard by shard, each shard sorted by
    out_id, 32 bytes per entry: canonical for a given set of entries, whatever the shard sizes
    or insertion order, so a resumed run saves the same bytes.

    >>> idx = UtxoIndex()
    >>> idx.insert(0x1111, 0x2222, 0, 5, 50_000, -1, 2)
    True
    >>> idx.get(0x1111, 0x2222, 0), idx.get(0x1111, 0x2222, 1), idx.count
    ((5, 50000, -1, 2), None, 1)
    >>> idx.delete(0x1111, 0x2222, 0), idx.count
    (True, 0)
    """

    def __init__(
        self,
        expected: int = 0,
        *,
        shard_bits: int = SHARD_BITS,
        ram_bytes: int | None = None,
        spill_dir: Path | str | None = None,
    ) -> None:
        if not 0 <= shard_bits <= 16:
            raise ValueError(f"shard_bits must be in 0..16, got {shard_bits}")
        k = 1 << shard_bits
        per = expected / k
        cap = _shard_capacity(int(np.ceil(per + 4 * np.sqrt(per))))
        self.shard_bits = shard_bits
        self._spill_dir: Path | None = None
        self._ram_bytes = -1  # no limit
        n_anon = k
        if ram_bytes is not None and spill_dir is not None:  # spilling from the start
            self._spill_dir = Path(spill_dir)
            self._ram_bytes = max(int(ram_bytes), 0)
            n_anon = min(k, self._ram_bytes // (cap * SLOT_RAM_BYTES))
        arrays = [_slot_array(cap, None if s < n_anon else self._spill_dir) for s in range(k)]
        self._shards = [a for a, _ in arrays]
        self._dists = [d for _, d in arrays]
        self._ptrs = np.array([a.ctypes.data for a in self._shards], dtype=np.int64)
        self._caps = np.full(k, cap, dtype=np.int64)
        self._counts = np.zeros(k, dtype=np.int64)
        self._on_file = np.arange(k) >= n_anon
        self._peak = self.nbytes
        self._peak_anon = self._anon_bytes()
        self.grows = 0

    def spill_beyond(self, ram_bytes: int, spill_dir: Path | str) -> None:
        """Hold at most ``ram_bytes`` of slots in anonymous memory: shards beyond it, now and
        whenever one grows, move to file-backed mappings under ``spill_dir`` (see
        :func:`_slot_array`). Entries, lookups and the saved form do not change.

        >>> idx = UtxoIndex(100_000)
        >>> idx.insert(0x1111, 0x2222, 0, 5, 50_000, -1, 2)
        True
        >>> idx.spill_beyond(1 << 20, tmp)
        >>> idx.spilled_nbytes > 0, idx.anon_nbytes <= 1 << 20
        (True, True)
        >>> idx.get(0x1111, 0x2222, 0)
        (5, 50000, -1, 2)
        """
        self._ram_bytes = max(int(ram_bytes), 0)
        self._spill_dir = Path(spill_dir)
        for s in range(len(self._shards)):
            if self._anon_bytes() <= self._ram_bytes:
                break
            if not self._on_file[s]:
                self._move(s, int(self._caps[s]), on_file=True)

    @property
    def spilled_nbytes(self) -> int:
        """Bytes of slots in file-backed mappings (0 unless :meth:`spill_beyond` was used)."""
        return int(self._caps[self._on_file].sum()) * SLOT_RAM_BYTES

    @property
    def anon_nbytes(self) -> int:
        """Bytes of slots in anonymous memory (at most :meth:`spill_beyond`'s limit once set)."""
        return self._anon_bytes()

    @property
    def peak_anon_nbytes(self) -> int:
        """The most bytes held in RAM so far: slots in anonymous memory (a growing shard's old
        and new arrays both when they are anonymous) plus 24 bytes per shard, as
        :attr:`nbytes` counts them; :attr:`peak_nbytes` counts the spilled shards too."""
        return self._peak_anon + 3 * 8 * len(self._shards)

    def _anon_bytes(self) -> int:
        return int(self._caps[~self._on_file].sum()) * SLOT_RAM_BYTES

    def _move(self, s: int, new_cap: int, *, on_file: bool) -> None:
        """Rehash shard ``s`` into a new array of ``new_cap`` slots (anonymous or on file)."""
        new, dist = _slot_array(new_cap, self._spill_dir if on_file else None)
        self._peak = max(self._peak, self.nbytes + new_cap * SLOT_RAM_BYTES)
        if not on_file:
            self._peak_anon = max(self._peak_anon, self._anon_bytes() + new_cap * SLOT_RAM_BYTES)
        _rehash(self._shards[s], new, dist, self.shard_bits)
        self._shards[s] = new
        self._dists[s] = dist
        self._ptrs[s] = new.ctypes.data
        self._caps[s] = new_cap
        self._on_file[s] = on_file

    @property
    def handle(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """What the kernels take: (shard addresses, capacities, counts, shard bits).

        The kernels see each shard through its address (no reference count), so the handle is
        only valid while this index is alive; growing a shard updates the arrays in place.
        Shards grow only in :meth:`reserve_keys` / :meth:`reserve`, never inside a kernel.
        """
        return (self._ptrs, self._caps, self._counts, self.shard_bits)

    @property
    def count(self) -> int:
        """Entries held."""
        return int(self._counts.sum())

    @property
    def capacity(self) -> int:
        """Slots over all shards."""
        return int(self._caps.sum())

    @property
    def nbytes(self) -> int:
        """Bytes held by the table (33 per slot, plus 24 per shard)."""
        return int(self._caps.sum()) * SLOT_RAM_BYTES + 3 * 8 * len(self._shards)

    @property
    def peak_nbytes(self) -> int:
        """The most bytes the table held so far, a growing shard's old and new arrays both."""
        return self._peak

    @property
    def shard_capacities(self) -> np.ndarray:
        """Slots per shard (a copy)."""
        return self._caps.copy()

    def shard(self, s: int) -> np.ndarray:
        """Shard ``s``'s (cap, 4) slot array (for tests and inspection)."""
        return self._shards[s]

    def _grow(self, s: int, need: int) -> None:
        """Give shard ``s`` room for ``need`` entries under the load limit."""
        cap = int(self._caps[s])
        new_cap = max(int(cap * UTXO_GROWTH), int(np.ceil(need / UTXO_MAX_LOAD)) + 1)
        if new_cap >= 1 << 32:
            raise ChainsleuthError(f"UTXO index shard {s} would need {new_cap:,} slots (> 2^32)")
        on_file = self._ram_bytes >= 0 and (
            self._on_file[s]
            or self._anon_bytes() + (new_cap - cap) * SLOT_RAM_BYTES > self._ram_bytes
        )
        self._move(s, new_cap, on_file=bool(on_file))
        self.grows += 1

    def _reserve_counts(self, adds: np.ndarray) -> None:
        need = self._counts + adds
        for s in np.flatnonzero(need > self._caps * UTXO_MAX_LOAD).tolist():
            self._grow(s, int(need[s]))

    def reserve_keys(self, k0: np.ndarray, vout: np.ndarray) -> None:
        """Make room for inserting these keys: each shard grows if its new entries would take
        it past the load limit (exact counts: nothing grows inside a kernel)."""
        if len(k0):
            self._reserve_counts(_shard_counts(k0, vout, self.shard_bits))

    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more entries spread over the shards like hashes are (with a
        margin of 4 standard deviations): pre-sizing, e.g. before loading saved entries."""
        k = len(self._shards)
        per = extra / k
        self._reserve_counts(np.full(k, int(np.ceil(per + 4 * np.sqrt(per))), dtype=np.int64))

    @property
    def saved_format(self) -> dict[str, int]:
        """What the saved form depends on (kept with it: a load checks it)."""
        return {"format": UTXO_FORMAT, "shard_bits": self.shard_bits}

    # -- convenience for single entries (tests, doctests); the ingest uses the kernels --------

    def insert(
        self, k0: int, k1: int, vout: int, out_id: int, value: int, addr_id: int, typ: int
    ) -> bool:
        """Insert one unspent output; whether it was new (False: it replaced a duplicate)."""
        self.reserve_keys(np.array([k0], np.uint64), np.array([vout], np.uint32))
        status = int(
            utxo_insert(
                self.handle,
                np.uint64(k0),
                np.uint64(k1),
                np.uint32(vout),
                np.int64(out_id),
                np.int64(value),
                np.int64(addr_id),
                np.uint8(typ),
            )
        )
        if status < 0:
            raise ChainsleuthError(insert_error(status))
        return status == INSERT_ADDED

    def insert_many(
        self,
        k0: np.ndarray,
        k1: np.ndarray,
        vout: np.ndarray,
        out_id: np.ndarray,
        value: np.ndarray,
        addr_id: np.ndarray,
        script_type: np.ndarray,
    ) -> int:
        """Insert columns of unspent outputs in order (growing first); returns how many were
        new. ChainsleuthError naming the row if a field is out of bounds (rows before it are
        in)."""
        k0 = np.ascontiguousarray(k0, dtype=np.uint64)
        vout = np.ascontiguousarray(vout, dtype=np.uint32)
        self.reserve_keys(k0, vout)
        added, bad = _insert_columns(
            self.handle,
            k0,
            np.ascontiguousarray(k1, dtype=np.uint64),
            vout,
            np.ascontiguousarray(out_id, dtype=np.int64),
            np.ascontiguousarray(value, dtype=np.int64),
            np.ascontiguousarray(addr_id, dtype=np.int64),
            np.ascontiguousarray(script_type, dtype=np.uint8),
        )
        if bad >= 0:
            raise ChainsleuthError(f"UTXO index entry {bad}: {insert_error(added)}")
        return int(added)

    def find(self, k0: int, k1: int, vout: int) -> int:
        """The position of an entry (shard << 40 | slot), else -1."""
        return int(utxo_find(self.handle, np.uint64(k0), np.uint64(k1), np.uint32(vout)))

    def get(self, k0: int, k1: int, vout: int) -> tuple[int, int, int, int] | None:
        """``(out_id, value, addr_id, script type)`` of an unspent output, else None."""
        pos = self.find(k0, k1, vout)
        if pos < 0:
            return None
        oid, value, aid, typ = utxo_entry(self.handle, np.int64(pos))
        return int(oid), int(value), int(aid), int(typ)

    def delete(self, k0: int, k1: int, vout: int) -> bool:
        """Remove an unspent output; whether it was there."""
        pos = self.find(k0, k1, vout)
        if pos < 0:
            return False
        utxo_delete(self.handle, np.int64(pos))
        return True

    # -- saved form ------------------------------------------------------------------------------

    def records(self) -> Iterator[np.ndarray]:
        """The saved form, one (n, 4) uint64 array per shard in shard order, each sorted by
        out_id (one shard's copy in memory at a time)."""
        for t in self._shards:
            live = np.flatnonzero(t[:, 2])
            rec = t[live]
            yield rec[np.argsort(rec[:, 2] & _MASK40, kind="stable")]

    def add_records(self, rec: np.ndarray) -> None:
        """Insert saved slots (as :meth:`records` yields them, any chunking)."""
        rec = np.ascontiguousarray(rec, dtype=np.uint64).reshape(-1, 4)
        if not len(rec):
            return
        vout = (rec[:, 1] >> np.uint64(32)) & _MASK24
        self.reserve_keys(np.ascontiguousarray(rec[:, 0]), vout)
        status, _ = _insert_records(self.handle, rec)
        if status < 0:
            raise ChainsleuthError(insert_error(status))

    @classmethod
    def from_records(
        cls,
        chunks: Iterable[np.ndarray],
        expected: int = 0,
        *,
        shard_bits: int = SHARD_BITS,
        ram_bytes: int | None = None,
        spill_dir: Path | str | None = None,
    ) -> UtxoIndex:
        """An index holding the saved slots of ``chunks`` (pre-sized for ``expected``).

        With ``ram_bytes`` and ``spill_dir`` the index spills (as the constructor's) before
        anything is loaded: the shards beyond the limit are filled on file, not in RAM first.

        >>> src = UtxoIndex()
        >>> src.insert(0x1111, 0x2222, 0, 5, 50_000, -1, 2)
        True
        >>> idx = UtxoIndex.from_records(src.records(), 50_000, ram_bytes=1 << 16, spill_dir=tmp)
        >>> idx.get(0x1111, 0x2222, 0), idx.spilled_nbytes > 0, idx.anon_nbytes <= 1 << 16
        ((5, 50000, -1, 2), True, True)
        """
        index = cls(expected, shard_bits=shard_bits, ram_bytes=ram_bytes, spill_dir=spill_dir)
        for rec in chunks:
            index.add_records(rec)
        return index

    def entries(self) -> tuple[np.ndarray, ...]:
        """All entries as columns sorted by out_id: (txid bytes 0–7 uint64, bytes 8–11 uint32,
        vout uint32, out_id int64, value int64, addr_id int64, script type uint8).

        For tests and inspection (a copy of the whole set); the saved form is :meth:`records`.
        """
        recs = list(self.records())
        rec = np.concatenate(recs) if recs else np.zeros((0, 4), np.uint64)
        rec = rec[np.argsort(rec[:, 2] & _MASK40, kind="stable")]
        w1, w2, w3 = rec[:, 1], rec[:, 2], rec[:, 3]
        aid = ((w2 >> np.uint64(40)) | ((w3 >> np.uint64(51)) << np.uint64(24))).astype(np.int64)
        return (
            rec[:, 0].copy(),
            (w1 & _U32).astype(np.uint32),
            ((w1 >> np.uint64(32)) & _MASK24).astype(np.uint32),
            (w2 & _MASK40).astype(np.int64) - 1,
            (w3 & _MASK51).astype(np.int64),
            aid - 1,
            (w1 >> np.uint64(56)).astype(np.uint8),
        )

    @classmethod
    def from_entries(cls, entries: tuple[np.ndarray, ...]) -> UtxoIndex:
        """An index holding ``entries`` (columns as :meth:`entries` returns them)."""
        index = cls(int(entries[0].shape[0]))
        index.insert_many(*entries)
        return index

    def probe_stats(self) -> dict[str, Any]:
        """Load and linear-probing cost: mean/max probes of a hit, mean probes of a miss (an
        insert), over all shards."""
        disp = mx = miss = 0
        for t in self._shards:
            d, m, u = _probe_lengths(t, self.shard_bits)
            disp, mx, miss = disp + d, max(mx, m), miss + u
        n, cap = self.count, self.capacity
        return {
            "entries": n,
            "slots": cap,
            "load": n / cap,
            "bytes_per_entry": self.nbytes / n if n else float("inf"),
            "hit_probes_mean": 1 + disp / n if n else 0.0,
            "hit_probes_max": 1 + mx,
            "miss_probes_mean": miss / cap,
        }
